/** Process lifetime under the launcher: caps, timeouts, storms, limits, cancel, restarts. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxLauncher } from '../../src/sandbox/launcher-client.ts';
import { childrenOf, ENV, type Fixture, liveProcesses, makeFixture, makeLauncher, request, sh, uniqueSleep, waitFor } from './helpers.ts';

let fx: Fixture;
let sandbox: SandboxLauncher;

beforeAll(async () => {
  fx = makeFixture();
  sandbox = makeLauncher(fx.workspace);
  await sandbox.start();
});

afterAll(async () => {
  await sandbox.close();
  fx[Symbol.dispose]();
});

describe('output', () => {
  test('is capped per stream and the rest is drained', async () => {
    const res = await sh(sandbox, fx.workspace, 'head -c 200000000 /dev/zero | tr "\\0" y; echo done >&2', { maxOutputBytes: 1000 });
    expect({ out: res.stdout.length, err: res.stderr, truncated: res.truncated, exitCode: res.exitCode }).toEqual({
      out: 1000,
      err: 'done\n',
      truncated: true,
      exitCode: 0,
    });
  });
});

describe('the launcher runtime', () => {
  // A terminal process is forked with a PID namespace pending on the
  // launcher's JS thread, and a thread that thread creates meanwhile is refused
  // by the kernel, which aborts the launcher with every process of its client.
  // The JIT's and the collector's helper threads are the ones the runtime
  // starts from that thread on demand (idle, they exit), and the heap's block
  // warm-up thread: none may exist.
  test('starts no JIT, collector or warm-up thread, however much JavaScript it runs', async () => {
    for (let i = 0; i < 20; i++) {
      const res = await sh(sandbox, fx.workspace, 'seq 1 100000');
      expect(res.stdout.length).toBe(588895);
    }
    const pid = sandbox.pid!;
    const threads = readdirSync(`/proc/${pid}/task`).map((t) => {
      try {
        return readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
      } catch {
        return '';
      }
    });
    expect(threads.filter((name) => /JIT|Heap|Collector|Marking|WarmUp/i.test(name))).toEqual([]);
    expect(threads.length).toBeGreaterThan(1);
  });

  // A thread with a PID namespace pending cannot create threads. Bun.spawn forked
  // from the launcher's JS thread with one pending, and Bun's worker pool,
  // failing there to start a thread, kept none for good: every descriptor it
  // was to close stayed open, two per command, each spawn slower than the last.
  const rootOnly = process.getuid?.() === 0 ? test : test.skip;
  rootOnly('starts commands through libc, and holds no more descriptors after 300 of them', async () => {
    const pid = sandbox.pid!;
    const descriptors = () => readdirSync(`/proc/${pid}/fd`).length;
    await sh(sandbox, fx.workspace, 'true');
    const before = descriptors();
    for (let i = 0; i < 300; i++) expect((await sh(sandbox, fx.workspace, 'true')).exitCode).toBe(0);
    // Bun.spawn gives a command socket pairs for its output; the libc start, pipes (a script writes to /dev/stderr),
    // and socket pairs to a run that asks (ripgrep, which opens paths a client chose).
    const res = await sh(sandbox, fx.workspace, 'echo $$; readlink /proc/self/fd/1 /proc/self/fd/2; echo to-stderr > /dev/stderr');
    expect([res.stdout, res.stderr]).toEqual([expect.stringMatching(/^1\npipe:\[\d+\]\npipe:\[\d+\]\n$/), 'to-stderr\n']);
    const asked = await sh(sandbox, fx.workspace, 'readlink /proc/self/fd/1 /proc/self/fd/2; cat /dev/stdout; echo x > /dev/stderr', { outputSockets: true });
    expect(asked.stdout).toMatch(/^socket:\[\d+\]\nsocket:\[\d+\]\n$/);
    expect(asked.stderr).toContain('No such device or address');
    expect(await waitFor(() => descriptors() <= before + 2)).toBe(true);
  });

  test('keeps its runtime options to itself', async () => {
    const res = await sh(sandbox, fx.workspace, 'env');
    expect(res.stdout).not.toContain('BUN_JSC');
  });
});

describe('process lifetime', () => {
  test('background children die when the leader exits', async () => {
    const marker = uniqueSleep();
    const res = await sh(sandbox, fx.workspace, `sleep ${marker} & echo started`);
    expect(res).toMatchObject({ stdout: 'started\n', exitCode: 0 });
    expect(await waitFor(() => liveProcesses(marker).length === 0)).toBe(true);
  });

  test('a process that leaves the group with setsid dies with its call', async () => {
    const marker = uniqueSleep();
    // The shell ends only once its child has a session of its own, so that the escape is certain to have happened.
    const res = await sh(sandbox, fx.workspace, `setsid sleep ${marker} & p=$!; while [ "$(cut -d' ' -f6 /proc/$p/stat)" = "$(cut -d' ' -f6 /proc/$$/stat)" ]; do sleep 0.01; done; echo started`);
    expect(res).toMatchObject({ stdout: 'started\n', exitCode: 0 });
    expect(await waitFor(() => liveProcesses(marker).length === 0)).toBe(true);
  });

  test('timeout sends TERM, then KILL to a group that ignores TERM', async () => {
    const marker = uniqueSleep();
    const res = await sh(sandbox, fx.workspace, `trap "" TERM; sleep ${marker} & while :; do :; done`, { timeoutMs: 300 });
    expect(res).toMatchObject({ timedOut: true, exitCode: -1, signal: 'SIGKILL', spawnError: null });
    expect(await waitFor(() => liveProcesses(marker).length === 0)).toBe(true);
  });

  test('a bounded storm of 2000 processes ends with its call while others keep answering', async () => {
    const marker = uniqueSleep();
    // Its timeout gives a busy machine time to start the first hundred: each is a fork and an exec in the sandbox.
    let ended: unknown = null;
    const storm = sh(sandbox, fx.workspace, `for i in $(seq 2000); do sleep ${marker} & done; wait`, { timeoutMs: 6000 }).then((r) => {
      ended = r;
      return r;
    });
    // Another call during the storm; a storm that ended before a hundred were running says how.
    expect(await waitFor(() => liveProcesses(marker).length > 100 || ended !== null)).toBe(true);
    expect(ended).toBeNull();
    const other = await sh(sandbox, fx.workspace, 'echo alive');
    expect(other).toMatchObject({ stdout: 'alive\n', exitCode: 0 });
    const res = await storm;
    expect(res.timedOut).toBe(true);
    expect(await waitFor(() => liveProcesses(marker).length === 0)).toBe(true);
    // Killed orphans were re-parented to the launcher: it reaps them all.
    expect(await waitFor(() => childrenOf(sandbox.pid!).length === 0)).toBe(true);
  }, 60_000);

  test('cancel kills the call', async () => {
    const marker = uniqueSleep();
    const flag = join(fx.workspace, `started-${marker}`);
    const abort = new AbortController();
    const pending = sandbox.run(request(['/bin/sh', '-c', `sleep ${marker} & touch ${flag}; wait`], fx.workspace), abort.signal);
    expect(await waitFor(() => existsSync(flag))).toBe(true);
    abort.abort();
    expect(await pending).toMatchObject({ cancelled: true, timedOut: false, exitCode: -1 });
    expect(await waitFor(() => liveProcesses(marker).length === 0)).toBe(true);
  });

  test('a cancel that comes while the launcher is still saying it took the call cancels it', async () => {
    // A process flooding output keeps the launcher's writes queued: its word that it took the call (without
    // which the command does not start) is still on its way when the cancel comes.
    const flood = await sandbox.startLive({ argv: ['/bin/cat', '/dev/zero'], cwd: fx.workspace, env: ENV, terminal: null, pendingBytes: 1 << 20 }, () => {});
    if (!flood.ok) throw new Error(flood.error);
    try {
      await Bun.sleep(100);
      const marker = uniqueSleep();
      const abort = new AbortController();
      const pending = sandbox.run(request(['/bin/sleep', marker], fx.workspace, { timeoutMs: 30_000 }), abort.signal);
      await Bun.sleep(0);
      abort.abort();
      expect(await pending).toMatchObject({ cancelled: true, timedOut: false, exitCode: -1 });
      expect(await waitFor(() => liveProcesses(marker).length === 0)).toBe(true);
    } finally {
      flood.handle.terminate();
      await flood.handle.exited;
    }
  });
});

describe('resource limits', () => {
  // Limits land on the leader right after spawn (see rlimits.ts on the race):
  // these commands first wait until they see their own limit, so the tests
  // check what the limits do, not who wins that race.
  test('a memory hog is stopped by the memory limit', async () => {
    const hog = [
      'import resource',
      'while resource.getrlimit(resource.RLIMIT_DATA)[0] == resource.RLIM_INFINITY: pass',
      'b = bytearray(2 * 1024**3)',
      'print("allocated")',
    ].join('\n');
    const res = await sandbox.run(request(['/usr/bin/python3', '-c', hog], fx.workspace, { limits: { memoryBytes: 256 * 2 ** 20 } }));
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('MemoryError');
    expect(res.exitCode).not.toBe(0);
  });

  test('limits reach the command and its children', async () => {
    const waitOwn = 'until grep -q "^Max open files *64 " /proc/self/limits; do :; done';
    const res = await sh(sandbox, fx.workspace, `${waitOwn}; cat /proc/self/limits`, {
      limits: { cpuSeconds: 7, memoryBytes: 2 ** 30, openFiles: 64, fileSizeBytes: 2 ** 20, processes: 500 },
    });
    const row = (name: string) => res.stdout.split('\n').find((l) => l.startsWith(name))?.slice(26).trim().split(/\s+/).slice(0, 2);
    expect([row('Max cpu time'), row('Max data size'), row('Max open files'), row('Max file size'), row('Max processes')]).toEqual([
      ['7', '8'],
      [String(2 ** 30), String(2 ** 30)],
      ['64', '64'],
      [String(2 ** 20), String(2 ** 20)],
      ['500', '500'],
    ]);
  });

  test('a file beyond the size limit is cut off', async () => {
    const waitOwn = 'until grep -q "^Max file size *1048576 " /proc/self/limits; do :; done';
    const res = await sh(sandbox, fx.workspace, `${waitOwn}; head -c 5000000 /dev/zero > big`, { limits: { fileSizeBytes: 2 ** 20 } });
    expect(res.exitCode).not.toBe(0);
    expect(statSync(join(fx.workspace, 'big')).size).toBe(2 ** 20);
  });

  test('CPU time beyond the limit ends the call', async () => {
    // A wall-clock limit far above the CPU limit: on a busy machine 2 s of CPU can take many seconds.
    const res = await sandbox.run(request(['/bin/sh', '-c', 'while :; do :; done'], fx.workspace, { limits: { cpuSeconds: 1 }, timeoutMs: 60_000 }));
    // A leader that is its PID namespace's init ignores SIGXCPU (no handler), and dies at the hard limit a second later.
    expect(res.timedOut).toBe(false);
    expect(['SIGXCPU', 'SIGKILL']).toContain(res.signal ?? '');
  }, 70_000);
});

describe('launcher restarts', () => {
  test('after being killed, with in-flight calls ended and their processes gone', async () => {
    const marker = uniqueSleep();
    const flag = join(fx.workspace, `inflight-${marker}`);
    const inflight = sh(sandbox, fx.workspace, `sleep ${marker} & touch ${flag}; wait`);
    expect(await waitFor(() => existsSync(flag))).toBe(true);
    const oldPid = sandbox.pid!;
    const restartsBefore = sandbox.restarts;
    process.kill(oldPid, 'SIGKILL');

    const lost = await inflight;
    expect(lost.spawnError).toContain('launcher exited');
    expect(await waitFor(() => liveProcesses(marker).length === 0)).toBe(true);

    const res = await sh(sandbox, fx.workspace, 'echo back');
    expect(res).toMatchObject({ stdout: 'back\n', exitCode: 0 });
    expect(sandbox.restarts).toBe(restartsBefore + 1);
    expect(sandbox.pid).not.toBe(oldPid);
  });

  test('a call sent while the launcher dies is retried on the new one', async () => {
    process.kill(sandbox.pid!, 'SIGKILL');
    const res = await sh(sandbox, fx.workspace, 'echo retried');
    expect(res).toMatchObject({ stdout: 'retried\n', exitCode: 0 });
  });
});
