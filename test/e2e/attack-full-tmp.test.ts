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
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callTool, waitFor } from '../helpers/server.ts';
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

/**
 * The temp directory is full when the server starts: a client ran it out of
 * inodes in its private TMPDIR and the server was then killed (a crash, an
 * OOM kill, a SIGKILL at deploy), so the directory stayed — or anything else
 * on that filesystem filled it. Under HIDE_SANDBOX=auto, the default, a
 * launcher that cannot get its TMPDIR is no sign that the kernel lacks the
 * sandbox: no command may ever run unconfined for it (reading the server's
 * keys); the server clears what its killed predecessor left, and otherwise
 * refuses calls with the reason until the room is back.
 */
describe.skipIf(!mountable).each([
  ['as root', undefined],
  [`as uid ${UNPRIVILEGED}`, UNPRIVILEGED],
] as const)('a server that starts while its temp directory is full %s', (_name, uid) => {
  const servers: TwoClientServer[] = [];
  const unmounts: (() => void)[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
    for (const u of unmounts) u();
  });

  /** A full-able temp directory (a tmpfs of 64 inodes) and the settings of a server that uses it under `auto`. */
  function smallTmp() {
    const top = tempDir('hide-start-full-tmp-');
    chmodSync(top, 0o755);
    const tmp = join(top, 'tmp');
    mkdirSync(tmp);
    unmounts.push(mountTmpfs(tmp, 64)!);
    return { tmp, env: { TMPDIR: tmp, HIDE_SANDBOX: 'auto' } };
  }
  const start = async (env: Record<string, string>) => {
    const s = await startTwoClientServer({ prefix: 'hide-start-full-tmp-', uid, prepare: () => [], env });
    servers.push(s);
    return s;
  };
  const sh = (s: TwoClientServer, script: string) =>
    callTool(`${s.server.url}/mcp`, 'shell_execute', { command: 'sh', arguments: ['-c', script] }, { 'X-API-Key': ALICE });
  /** Alice's look at her filter and at the server's keys file: the call's result, or null when it was refused for want of a launcher. */
  const probe = async (s: TwoClientServer) => {
    const r = await sh(s, `grep '^Seccomp:' /proc/self/status; cat ${join(s.dir, 'secrets', 'keys.json')}; exit 0`);
    expect(r.stdout ?? '').not.toContain('bob-key');
    if (r.error !== null) {
      expect(r.error).toContain('sandbox unavailable');
      return null;
    }
    expect(r.stdout).toContain('Seccomp:\t2');
    return r;
  };
  const expectSandboxLayers = async (s: TwoClientServer) => {
    const health = (await (await fetch(`${s.server.url}/health`)).json()) as { sandbox: string; sandboxLayers: string[] };
    expect(health.sandbox).toBe('on');
    expect(health.sandboxLayers).toContain('seccomp');
    expect(s.server.logs()).not.toContain('WITHOUT the sandbox');
  };

  test("what a killed server's client left is swept at start, and the sandbox works at once", async () => {
    const { env } = smallTmp();
    const first = await start(env);
    const fill = await sh(first, 'i=0; while touch "$TMPDIR/f$i" 2>/dev/null; do i=$((i+1)); done; echo $i');
    expect(Number(fill.stdout)).toBeGreaterThan(0);
    // Killed: nothing removes alice's TMPDIR, full of her files.
    first.server.proc.kill('SIGKILL');
    await first.server.proc.exited;
    const second = await start(env);
    expect(await probe(second)).not.toBeNull();
    await expectSandboxLayers(second);
  }, 60_000);

  test('with no stale TMPDIR to sweep, calls are refused with the reason until the room is back, then run sandboxed', async () => {
    const { tmp, env } = smallTmp();
    let n = 0;
    while (n < 200) {
      try {
        writeFileSync(join(tmp, `fill${n}`), '');
        n++;
      } catch {
        break;
      }
    }
    const s = await start(env);
    expect(await probe(s)).toBeNull();
    for (let i = 0; i < n; i++) rmSync(join(tmp, `fill${i}`));
    await waitFor(() => probe(s), 15_000, 'a sandboxed call once the room is back');
    await expectSandboxLayers(s);
  }, 60_000);
});
