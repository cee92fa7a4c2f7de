/**
 * A read-write grant that a command can rename (an allowed path inside the
 * workspace; another server's workspace holding this one's) may be away for
 * just the instant a launcher of another client boots. That launcher came up
 * without the grant, said nothing, and its client's calls could not write
 * there until it was retired. A launcher now refuses to boot when a grant that
 * existed at the start is gone, the call says why, and the next call, with
 * the path back, boots one that has it.
 */
import { describe, expect, test } from 'bun:test';
import { mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { ALICE, BOB, TWO_CLIENT_ATTACKS_SUPPORTED, UNPRIVILEGED, startTwoClientServer } from '../helpers/two-clients.ts';
import { callTool } from '../helpers/server.ts';

const CAROL = 'carol-key-0123456789abcdefghijklmnopqrstu';

describe.skipIf(!TWO_CLIENT_ATTACKS_SUPPORTED).each([
  ['root', undefined],
  ['unprivileged', UNPRIVILEGED],
] as const)('an allowed path renamed away while a launcher boots (%s)', (_who, uid) => {
  test('the launcher refuses to boot, saying so; with the path back the next one grants it', async () => {
    const s = await startTwoClientServer({
      prefix: 'hide-grant-gone-',
      uid,
      moreClients: [['carol', CAROL]],
      prepare: (_dir, ws) => {
        mkdirSync(join(ws, 'shared'));
        return [join(ws, 'shared')];
      },
      env: (_dir, ws) => ({ HIDE_ALLOWED_PATHS: join(ws, 'shared') }),
    });
    const url = `${s.server.url}/mcp`;
    const shared = join(s.ws, 'shared');
    try {
      // Bob's launcher boots first, with the grant.
      const first = await callTool(url, 'shell_execute', { command: 'sh', arguments: ['-c', `echo bob > ${shared}/bob && echo wrote`] }, { 'x-api-key': BOB });
      expect(first.stdout).toBe('wrote\n');
      // The path taken away as a command of another server whose workspace holds it would (as root, this server's
      // own commands cannot: each grant is a mount point in their launcher's view, which rename refuses).
      renameSync(shared, `${shared}.away`);
      // Carol takes the spare launcher, booted before (when Bob took the first); the next spare boots now, for Alice.
      await callTool(url, 'shell_execute', { command: 'true' }, { 'x-api-key': CAROL });
      const refused = await callTool(url, 'shell_execute', { command: 'echo', arguments: ['ran'] }, { 'x-api-key': ALICE });
      expect(refused.stdout ?? '').toBe('');
      expect(refused.error).toContain(`cannot grant ${shared}: it is gone`);
      // The operator hears of it too, once, however many calls are refused.
      await callTool(url, 'shell_execute', { command: 'echo', arguments: ['ran'] }, { 'x-api-key': ALICE });
      const said = s.server.logs().split('\n').filter((line) => line.includes(`a sandbox launcher did not start: cannot grant ${shared}: it is gone`));
      expect(said).toHaveLength(1);
      renameSync(`${shared}.away`, shared);
      const wrote = await callTool(url, 'shell_execute', { command: 'sh', arguments: ['-c', `echo ok > ${shared}/alice && cat ${shared}/alice`] }, { 'x-api-key': ALICE });
      expect(wrote.stdout).toBe('ok\n');
      expect(wrote.exitCode).toBe(0);
    } finally {
      await s.stop();
    }
  }, 90_000);
});
