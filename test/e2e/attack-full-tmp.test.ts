/**
 * One client fills the filesystem that holds every client's private TMPDIR
 * (the server's temp directory): a small tmpfs mounted for the test, with
 * room for a few dozen files, so alice runs it out of inodes with `touch`.
 * The other clients' calls must keep working where they can, fail with a
 * clear error where they cannot, and work again once the room is back —
 * never an internal error, never a launcher broken for good. Root and the
 * container's unprivileged uid, HIDE_SANDBOX=required.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { callTool } from '../helpers/server.ts';
import { tempDir } from '../helpers/temp.ts';
import { ALICE, BOB, startTwoClientServer, TWO_CLIENT_ATTACKS_SUPPORTED, type TwoClientServer, UNPRIVILEGED } from '../helpers/two-clients.ts';

const CAROL = 'carol-key-0123456789abcdefghijklmnopqrst';

/** A tmpfs of `inodes` inodes at `dir`, or null where mounting is refused. */
function mountTmpfs(dir: string, inodes: number): (() => void) | null {
  const mount = Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', `size=8m,nr_inodes=${inodes},mode=1777`, 'hide-full-tmp', dir]);
  if (mount.exitCode !== 0) return null;
  return () => void Bun.spawnSync(['umount', '-l', dir]);
}

const mountable = TWO_CLIENT_ATTACKS_SUPPORTED && (() => {
  const probe = join(tempDir('hide-full-tmp-probe-'), 'm');
  mkdirSync(probe);
  const unmount = mountTmpfs(probe, 16);
  unmount?.();
  return unmount !== null;
})();

describe.skipIf(!mountable).each([
  ['as root', undefined],
  [`as uid ${UNPRIVILEGED}`, UNPRIVILEGED],
] as const)("a client fills the private TMPDIRs' filesystem %s", (_name, uid) => {
  let running: TwoClientServer | null = null;
  let unmount: (() => void) | null = null;
  const sh = (key: string, script: string) =>
    callTool(`${running!.server.url}/mcp`, 'shell_execute', { command: 'sh', arguments: ['-c', script] }, { 'X-API-Key': key });

  beforeAll(async () => {
    const top = tempDir('hide-full-tmp-');
    // The unprivileged server must reach the mount.
    chmodSync(top, 0o755);
    const tmp = join(top, 'tmp');
    mkdirSync(tmp);
    unmount = mountTmpfs(tmp, 64);
    running = await startTwoClientServer({ prefix: 'hide-attack-full-tmp-', uid, prepare: () => [], env: { TMPDIR: tmp }, moreClients: [['carol', CAROL]] });
  });
  afterAll(async () => {
    await running?.stop();
    unmount?.();
  });

  test('the next new client still runs, a later one is told why it cannot, and both work once the room is back', async () => {
    // Alice uses up every inode left, in her own TMPDIR.
    const fill = await sh(ALICE, 'i=0; while touch "$TMPDIR/f$i" 2>/dev/null; do i=$((i+1)); done; echo $i; touch "$TMPDIR/one-more"');
    expect(Number(fill.stdout)).toBeGreaterThan(0);
    expect(fill.stderr).toContain('No space left on device');
    // Bob's first call: he gets the launcher booted ahead for the next new client; that its successor cannot
    // get a TMPDIR is no reason to fail his call.
    const bob = await sh(BOB, 'echo bob');
    expect(bob.error).toBeNull();
    expect(bob.stdout).toBe('bob\n');
    // Carol gets no launcher at all while there is no room: a clear error, not an internal one.
    const carol = await sh(CAROL, 'echo carol');
    expect(carol.isError).toBe(true);
    expect(carol.error).toContain('could not make the private TMPDIR');
    expect(carol.error).toContain('ENOSPC');
    expect(running!.server.logs()).not.toContain('failed unexpectedly');
    // The room comes back: carol's launcher starts on her next call.
    expect((await sh(ALICE, 'rm -f "$TMPDIR"/f* "$TMPDIR/one-more" && echo freed')).stdout).toBe('freed\n');
    const again = await sh(CAROL, 'echo carol');
    expect(again.error).toBeNull();
    expect(again.stdout).toBe('carol\n');
    expect((await sh(BOB, 'echo bob')).stdout).toBe('bob\n');
  });
});
