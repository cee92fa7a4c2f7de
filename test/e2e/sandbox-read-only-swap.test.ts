/**
 * A read-only grant that lies where commands may write (a tools directory in
 * the workspace, another server's workspace) can be replaced by a link to `/`
 * between the start and a launcher's boot. A launcher granted where the link
 * led: every later command of its client read all the host allows — the keys
 * file, every client's key in it. A launcher now grants a read-only path only
 * where it led when the server started, and refuses to boot otherwise.
 */
import { describe, expect, test } from 'bun:test';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PROC, DEFAULT_READ_ONLY } from '../../src/sandbox/rules.ts';
import { ALICE, BOB, TWO_CLIENT_ATTACKS_SUPPORTED, UNPRIVILEGED, startTwoClientServer } from '../helpers/two-clients.ts';
import { callTool } from '../helpers/server.ts';

const CAROL = 'carol-key-0123456789abcdefghijklmnopqrstu';

describe.skipIf(!TWO_CLIENT_ATTACKS_SUPPORTED).each([
  ['root', undefined],
  ['unprivileged', UNPRIVILEGED],
] as const)('a read-only grant in the workspace swapped for a link to / (%s)', (_who, uid) => {
  test.each(['/', '/usr/share'])("swapped for a link to %s: the next client's launcher refuses to boot; its commands never read the keys file", async (target) => {
    const s = await startTwoClientServer({
      prefix: 'hide-ro-swap-',
      uid,
      moreClients: [['carol', CAROL]],
      prepare: (_dir, ws) => {
        mkdirSync(join(ws, 'tools'));
        writeFileSync(join(ws, 'tools', 'lint.sh'), 'echo lint\n');
        return [join(ws, 'tools'), join(ws, 'tools', 'lint.sh')];
      },
      env: (_dir, ws) => ({ HIDE_SANDBOX_READ_ONLY_PATHS: [...DEFAULT_READ_ONLY, ...DEFAULT_PROC, join(ws, 'tools')].join(',') }),
    });
    try {
      const keysFile = join(s.dir, 'secrets', 'keys.json');
      // Bob's command puts the link in place (his launcher booted before).
      // A link into the system's read-only trees too: a directory of its own at the start, not a link repointed.
      const swap = await callTool(`${s.server.url}/mcp`, 'shell_execute', { command: 'sh', arguments: ['-c', `rm -r tools && ln -s ${target} tools && echo swapped`] }, { 'x-api-key': BOB });
      expect(swap.stdout).toBe('swapped\n');
      // Carol takes the spare launcher, booted before the swap; the next spare boots after it, for Alice.
      await callTool(`${s.server.url}/mcp`, 'shell_execute', { command: 'true' }, { 'x-api-key': CAROL });
      const r = await callTool(`${s.server.url}/mcp`, 'shell_execute', { command: 'cat', arguments: [keysFile] }, { 'x-api-key': ALICE });
      expect(r.stdout ?? '').not.toContain(BOB);
      expect(r.error).toContain(`cannot grant ${join(s.ws, 'tools')}: it now leads to ${target} (`);
    } finally {
      rmSync(join(s.ws, 'tools'), { force: true });
      await s.stop();
    }
  }, 90_000);

  test('one that is such a link already when the server starts is not granted, and the log says so', async () => {
    const s = await startTwoClientServer({
      prefix: 'hide-ro-link-',
      uid,
      prepare: (_dir, ws) => {
        symlinkSync('/', join(ws, 'tools'));
        return [];
      },
      env: (_dir, ws) => ({ HIDE_SANDBOX_READ_ONLY_PATHS: [...DEFAULT_READ_ONLY, ...DEFAULT_PROC, join(ws, 'tools')].join(',') }),
    });
    try {
      const keysFile = join(s.dir, 'secrets', 'keys.json');
      const r = await callTool(`${s.server.url}/mcp`, 'shell_execute', { command: 'cat', arguments: [keysFile] }, { 'x-api-key': ALICE });
      expect(r.stdout ?? '').not.toContain(BOB);
      // Landlock's refusal; as root the private temp view shows no such file at all.
      expect(r.stderr).toMatch(/Permission denied|No such file/);
      expect(s.server.logs()).toContain(`the read-only path ${join(s.ws, 'tools')} lies in ${s.ws}, where commands write, and leads out of it to /: it is not granted`);
    } finally {
      await s.stop();
    }
  }, 90_000);

  test('a system link an administrator repoints within the granted trees (/etc/localtime to another zone) keeps launchers booting; elsewhere it refuses', async () => {
    // Outside the temp directory, which a root launcher's private view hides.
    const sys = mkdtempSync('/var/tmp/hide-ro-repoint-');
    chmodSync(sys, 0o755);
    const zone = join(sys, 'zone');
    symlinkSync('/usr/bin/true', zone);
    const more = ['x1', 'y1', 'x2', 'y2'].map((id) => [id, `${id}-key-0123456789abcdefghijklmnopqrstuvwx`] as const);
    const key = Object.fromEntries(more);
    const s = await startTwoClientServer({
      prefix: 'hide-ro-repoint-',
      uid,
      moreClients: more,
      prepare: () => [],
      env: { HIDE_SANDBOX_READ_ONLY_PATHS: [...DEFAULT_READ_ONLY, ...DEFAULT_PROC, zone].join(',') },
    });
    const url = `${s.server.url}/mcp`;
    const run = (k: string, script: string) => callTool(url, 'shell_execute', { command: 'sh', arguments: ['-c', script] }, { 'x-api-key': k });
    // A launcher booted after a change: the spare taken by a new client was booted before it; the next one after.
    const freshAfterChange = async (burn: string, k: string, script: string) => {
      await run(burn, 'true');
      return run(k, script);
    };
    try {
      expect((await run(ALICE, `readlink -f ${zone}`)).stdout).toBe('/usr/bin/true\n');
      // The administrator's change.
      rmSync(zone);
      symlinkSync('/usr/bin/false', zone);
      const repointed = await freshAfterChange(key.x1!, key.y1!, `readlink -f ${zone} && test -r ${zone} && echo readable`);
      expect(repointed.error ?? null).toBeNull();
      expect(repointed.stdout).toBe('/usr/bin/false\nreadable\n');
      // Out of the granted trees: no launcher grants it.
      rmSync(zone);
      symlinkSync(join(s.dir, 'secrets'), zone);
      const elsewhere = await freshAfterChange(key.x2!, key.y2!, `ls ${zone}`);
      expect(elsewhere.stdout ?? '').toBe('');
      expect(elsewhere.error).toContain(`cannot grant ${zone}: it now leads to ${join(s.dir, 'secrets')}, not to /usr/bin/true`);
    } finally {
      await s.stop();
      rmSync(sys, { recursive: true, force: true });
    }
  }, 90_000);
});
