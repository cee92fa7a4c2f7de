/**
 * The sandboxed spawner's bookkeeping: one launcher per client, a booted
 * spare, idle launchers closed, and a bound on how many run at once — a new
 * client is refused, never put in another client's sandbox.
 */
import { afterEach, expect, test } from 'bun:test';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ToolLimitError } from '../../src/core/errors.ts';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { PidNamespaces } from '../../src/sandbox/pidns.ts';
import { sandboxRules } from '../../src/sandbox/rules.ts';
import { SandboxSpawner } from '../../src/sandbox/sandbox-spawner.ts';
import { isLive } from '../helpers/procfs.ts';
import { ENV, makeFixture, waitFor } from './helpers.ts';

const supported = process.platform === 'linux' && landlockAbi() > 0;
const fx = makeFixture();
let spawner: SandboxSpawner | null = null;
afterEach(async () => {
  await spawner?.close();
  spawner = null;
});

function make(extra: { idleCloseMs?: number; maxLaunchers?: number } = {}): SandboxSpawner {
  spawner = new SandboxSpawner({ rules: sandboxRules({ workspace: fx.workspace, network: 'off' }), pidNamespaces: PidNamespaces.open(), ...extra });
  return spawner;
}

const run = (s: SandboxSpawner, owner: string, script: string) =>
  s.run({ owner, argv: ['/bin/sh', '-c', script], cwd: fx.workspace, env: ENV, timeoutMs: 10_000, maxOutputBytes: 4096 });

test.skipIf(!supported)('each client gets its own launcher; an idle one is closed', async () => {
  const s = make({ idleCloseMs: 100 });
  await s.start();
  // The launchers are read while both commands wait: once they are done, a slow machine may close them first.
  const go = join(fx.workspace, 'spawner-go');
  rmSync(go, { force: true });
  const wait = `while [ ! -e ${go} ]; do sleep 0.01; done; echo`;
  const calls = Promise.all([run(s, 'a', `${wait} a`), run(s, 'b', `${wait} b`)]);
  expect(await waitFor(() => s.running === 2)).toBe(true);
  const [la, lb] = [s.launcherOf('a')?.pid, s.launcherOf('b')?.pid];
  writeFileSync(go, '');
  const [a, b] = await calls;
  rmSync(go, { force: true });
  expect([a.stdout, b.stdout]).toEqual(['a\n', 'b\n']);
  expect(la !== undefined && lb !== undefined && la !== lb).toBe(true);
  // Only the spare is left once both clients went quiet.
  expect(await waitFor(() => s.launcherOf('a') === null && s.launcherOf('b') === null)).toBe(true);
});

test.skipIf(!supported)('past the bound a new client is refused while every launcher is busy, and served once one is idle', async () => {
  const s = make({ maxLaunchers: 2 });
  await s.start();
  // Both stay busy until told, not for a time: a loaded machine took more than a second to boot the second launcher.
  const go = join(fx.workspace, 'spawner-bound-go');
  rmSync(go, { force: true });
  const wait = `while [ ! -e ${go} ]; do sleep 0.01; done; echo`;
  const busy = Promise.all([run(s, 'a', `${wait} a`), run(s, 'b', `${wait} b`)]);
  expect(await waitFor(() => s.running === 2)).toBe(true);
  const refused = await run(s, 'c', 'echo c').catch((err: unknown) => err);
  writeFileSync(go, '');
  // A typed refusal the server answers as its other limits (429), never a command result.
  expect(refused).toBeInstanceOf(ToolLimitError);
  expect(refused).toMatchObject({ status: 429, data: { reason: 'launchers', max: 2 } });
  expect((refused as Error).message).toContain('HIDE_SANDBOX_MAX_LAUNCHERS');
  expect((await busy).map((r) => r.stdout)).toEqual(['a\n', 'b\n']);
  rmSync(go, { force: true });
  expect((await run(s, 'c', 'echo c')).stdout).toBe('c\n');
});

// A launcher counts a call only once it has booted and sent it: a new client arriving at the bound in that gap
// closed the launcher just handed to another client as if it were idle, and that call failed as "launcher exited".
test.skipIf(!supported)('at the bound, a launcher handed to a call is not closed for a new client before the call reaches it', async () => {
  const s = make({ maxLaunchers: 1 });
  await s.start();
  const [a, b] = await Promise.allSettled([run(s, 'a', 'echo a'), run(s, 'b', 'echo b')]);
  expect(a.status === 'fulfilled' && [a.value.stdout, a.value.spawnError]).toEqual(['a\n', null]);
  expect(b.status === 'rejected' && b.reason).toBeInstanceOf(ToolLimitError);
  expect((await run(s, 'b', 'echo b')).stdout).toBe('b\n');
});

// The spawner sweeps what a dead launcher left re-parented to its process; a process hosting it (a test runner, an
// embedding program) has children of its own, outside any sandbox, that are none of the sweep's business.
test.skipIf(!supported)("the sweep after a launcher dies leaves the host process's own children alone", async () => {
  const s = make();
  await s.start();
  const bystander = Bun.spawn(['sleep', '30']);
  try {
    expect((await run(s, 'a', 'echo a')).stdout).toBe('a\n');
    const dead = s.launcherOf('a')!.pid!;
    process.kill(dead, 'SIGKILL');
    // The exit is seen, and swept, before the launcher is replaced: a call answered by a new one comes after the sweep.
    expect(await waitFor(() => s.launcherOf('a')?.pid !== dead)).toBe(true);
    const again = await run(s, 'a', 'echo again');
    // Read from /proc, not from Bun's record of the child, which learns of a kill only once it has reaped it.
    expect([again.stdout, s.launcherOf('a')?.pid === dead, isLive(`/proc/${bystander.pid}`)]).toEqual(['again\n', false, true]);
  } finally {
    bystander.kill('SIGKILL');
    await bystander.exited;
  }
});

// The launcher opens a command's stdin file itself, inside the client's confinement: a FIFO there is refused unopened.
test.skipIf(!supported)('a stdin file: a regular one reaches the command in its sandbox, a FIFO keeps it from starting', async () => {
  const s = make();
  await s.start();
  writeFileSync(join(fx.workspace, 'stdin.txt'), 'from the file\n');
  Bun.spawnSync(['mkfifo', join(fx.workspace, 'stdin.fifo')]);
  const cat = (name: string) => s.run({ owner: 'a', argv: ['/bin/cat'], cwd: fx.workspace, env: ENV, timeoutMs: 10_000, maxOutputBytes: 4096, stdinFile: join(fx.workspace, name) });
  const [file, fifo] = await Promise.all([cat('stdin.txt'), cat('stdin.fifo')]);
  expect([file.stdout, file.spawnError, fifo.spawnError]).toEqual(['from the file\n', null, 'the input file is a FIFO; only a regular file is given to a command as its input']);
});
