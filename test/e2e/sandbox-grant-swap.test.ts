/**
 * A read-write grant replaced after the server checked it: with the
 * workspace inside an allowed path, a client's command may rename a
 * directory above the workspace and put a link to anywhere in its place.
 * Every launcher started later grants, binds and mounts by those paths: it
 * must grant nothing that no longer leads to itself, and refuse the calls it
 * was started for, saying why, rather than hand another client a host
 * directory read-write. A directory made again in the same place is fine.
 *
 * The server boots a spare launcher ahead for the next new client, and the
 * one that replaces alice's may finish booting before or after her swap. A
 * third client takes that one; bob then gets the spare booted on carol's
 * call, after the swap, every time.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callTool, waitFor } from '../helpers/server.ts';
import { ALICE, BOB, startTwoClientServer, TWO_CLIENT_ATTACKS_SUPPORTED, type TwoClientServer } from '../helpers/two-clients.ts';

const CAROL = 'carol-key-0123456789abcdefghijklmnopqrst';

describe.skipIf(!TWO_CLIENT_ATTACKS_SUPPORTED)('a grant swapped for a link by another client, root server', () => {
  let running: TwoClientServer;
  let mono: string;
  let closed: string;
  beforeAll(async () => {
    running = await startTwoClientServer({
      prefix: 'hide-grant-swap-',
      uid: undefined,
      prepare: (dir, ws) => {
        mono = join(ws, 'mono');
        mkdirSync(join(mono, 'a', 'proj'), { recursive: true });
        closed = join(dir, 'closed');
        mkdirSync(closed, { mode: 0o700 });
        writeFileSync(join(closed, 'canary'), 'root only\n', { mode: 0o600 });
        return [];
      },
      env: () => ({ HIDE_WORKSPACE: join(mono, 'a', 'proj'), HIDE_ALLOWED_PATHS: mono }),
      moreClients: [['carol', CAROL]],
    });
  }, 60_000);
  afterAll(() => running?.stop());

  test("the next client's launcher grants nothing that moved: its call is refused saying why, and the directory linked in stays out of reach", async () => {
    const url = `${running.server.url}/mcp`;
    const swap = await callTool(url, 'shell_execute', { command: '/bin/sh', arguments: ['-c', `mv a a.real && mkdir a && ln -s ${closed} a/proj && echo swapped`], workingDirectory: mono }, { 'X-API-Key': ALICE });
    expect(swap.stdout).toBe('swapped\n');
    // Takes the spare that may have booted before the swap (it runs there, or is refused, either way harmlessly). In
    // the workspace itself the call would be refused before it took a launcher: the server checks that path first.
    await callTool(url, 'shell_execute', { command: 'true', workingDirectory: mono }, { 'X-API-Key': CAROL });
    const attack = await callTool(url, 'shell_execute', { command: '/bin/sh', arguments: ['-c', `cat ${closed}/canary; chmod 666 ${closed}/canary; echo more >> ${closed}/canary`], workingDirectory: mono }, { 'X-API-Key': BOB });
    expect(attack.stdout ?? '').not.toContain('root only');
    expect(attack.error).toContain(`now leads to ${closed}`);
    expect({ mode: (statSync(join(closed, 'canary')).mode & 0o777).toString(8), text: readFileSync(join(closed, 'canary'), 'utf8') }).toEqual({ mode: '600', text: 'root only\n' });
  });

  test('a workspace made again in its place (a fresh clone) is granted: the path leads to itself again', async () => {
    // The operator puts a real directory back where the link was.
    rmSync(join(mono, 'a'), { recursive: true, force: true });
    mkdirSync(join(mono, 'a', 'proj'), { recursive: true });
    const call = () => callTool(`${running.server.url}/mcp`, 'shell_execute', { command: '/bin/sh', arguments: ['-c', 'pwd -P; echo x > made.txt && echo wrote'] }, { 'X-API-Key': BOB });
    // Calls are refused with the last failed boot's reason until the server tries a launcher again.
    const r = await waitFor(async () => {
      const got = await call();
      if (got.error === null) return got;
      await Bun.sleep(250);
      return null;
    }, 30_000, "bob's launcher booting again");
    expect(r!.stdout).toBe(`${join(mono, 'a', 'proj')}\nwrote\n`);
  }, 60_000);
});
