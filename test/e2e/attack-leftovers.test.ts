/**
 * What a hostile command leaves behind once its call is over: core files of
 * its crashes in the workspace every client reads, and a private TMPDIR
 * holding a tree too large to remove quickly, or locked against its own
 * owner (mode 000), which the server must still remove — when the client's
 * launcher is retired after a while without calls and when the server
 * stops — without stalling the other clients or failing. The server runs
 * from source (root) and as the container's unprivileged uid (the compiled
 * binary through setpriv) with HIDE_SANDBOX=required; alice attacks, bob is
 * the other client.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerProcess } from '../helpers/process.ts';
import { LAUNCHER_LIMIT_RESERVE } from '../../src/sandbox/launcher-client.ts';
import { BOMB_PROCESSES, servedOnceThereIsRoom, startForkBomb } from '../helpers/bombs.ts';
import { isLive, livePidsWith, newMarker, procStat } from '../helpers/procfs.ts';
import { callTool, waitFor } from '../helpers/server.ts';
import { ALICE, BOB, COUNT_FILLERS, startTwoClientServer, TWO_CLIENT_ATTACKS_SUPPORTED, type TwoClientServer, UNPRIVILEGED } from '../helpers/two-clients.ts';

/** Top-level directories of the big tree alice leaves, each with FILES_EACH files. */
const BIG_DIRS = 20;
const FILES_EACH = 1000;

/**
 * Leaves in $TMPDIR a tree of BIG_DIRS × FILES_EACH files and `locked/a/b/f`
 * with `locked` at mode 000, and prints $TMPDIR.
 */
const LEAVE_TREE = `
import os
tmp = os.environ['TMPDIR']
for d in range(${BIG_DIRS}):
    os.mkdir(f'{tmp}/big{d}')
    for f in range(${FILES_EACH}):
        os.mknod(f'{tmp}/big{d}/{f}')
os.makedirs(f'{tmp}/locked/a/b')
open(f'{tmp}/locked/a/b/f', 'w').write('left behind')
os.chmod(f'{tmp}/locked', 0)
print(tmp)
`;

/**
 * Raises the core limit to its hard limit (as any command may) and crashes a
 * child that holds a marker in its memory, once in the workspace and once in
 * $TMPDIR; prints the limit it got and how the children ended.
 */
const CRASH = `
import json, os, resource
soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
try:
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
except (ValueError, OSError):
    pass
ends = []
for where in ('.', os.environ['TMPDIR']):
    pid = os.fork()
    if pid == 0:
        os.chdir(where)
        secret = b'bob-secret-in-memory' * 1000
        os.abort()
    ends.append(os.waitpid(pid, 0)[1] & 0x7f)
print(json.dumps({'core': resource.getrlimit(resource.RLIMIT_CORE), 'signals': ends, 'tmp': os.environ['TMPDIR']}))
`;

const isCore = (name: string) => /^core(\.\d+)?$/.test(name);

/**
 * `python3 -c HOP_CHAINS N DEADLINE PAUSE MARKER`: N chains, each in a session of its own, that fork and let the
 * parent exit every PAUSE seconds (0: as fast as they can, a refused fork tried again) until DEADLINE (Unix seconds).
 */
const HOP_CHAINS = [
  'import os, sys, time',
  'deadline, pause = float(sys.argv[2]), float(sys.argv[3])',
  'for i in range(int(sys.argv[1])):',
  '    if os.fork() == 0:',
  '        os.setsid()',
  '        while time.time() < deadline:',
  '            time.sleep(pause)',
  '            try:',
  '                if os.fork():',
  '                    os._exit(0)',
  '            except OSError:',
  '                pass',
  '        os._exit(0)',
  'while time.time() < deadline:',
  '    time.sleep(0.5)',
].join('\n');


/** Live processes anywhere on the host with `marker` as a whole argument. */
const markedBy = (marker: string): number[] => livePidsWith(`\0${marker}\0`);

/** SIGKILL to each of `pids` that is still there (a test's own leftovers, found by their marker). */
function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
}

describe.skipIf(!TWO_CLIENT_ATTACKS_SUPPORTED).each([
  ['as root', undefined],
  [`as uid ${UNPRIVILEGED}`, UNPRIVILEGED],
] as const)('what a hostile command leaves behind %s', (_name, uid) => {
  // A launcher idle for 2 s is retired (60 s by default), so the test need not wait a minute.
  const start = (env: Record<string, string> = {}, as: number | undefined = uid) =>
    startTwoClientServer({ prefix: 'hide-attack-leftovers-', uid: as, prepare: () => [], env: { HIDE_SANDBOX_LAUNCHER_IDLE_SECONDS: '2', ...env } });
  // The bombs fill their uid's process count: unprivileged, a uid no other file's servers use.
  const bomber = uid === undefined ? undefined : COUNT_FILLERS.leftovers;
  const caller = (server: ServerProcess) => (key: string, args: string[]) =>
    callTool(`${server.url}/mcp`, 'shell_execute', { command: 'python3', arguments: args, timeoutSeconds: 120 }, { 'X-API-Key': key });

  let running: TwoClientServer | null = null;
  let call: ReturnType<typeof caller>;
  beforeAll(async () => {
    running = await start();
    call = caller(running.server);
    expect((await call(BOB, ['-c', 'pass'])).exitCode).toBe(0);
  });
  afterAll(async () => {
    await running?.stop();
  });

  // A command's limits land just after it starts: a child it forks before that inherits its launcher's limits. The
  // launcher's process limit was the server's (the machine's, for practical purposes), and early children of hopping
  // chains took the uid to 30,000 processes, near every pid the kernel had; it is now the commands' own plus a reserve.
  // Its open-file limit was the server's too (Bun raises its own to the hard limit): a hundred early children held
  // twenty thousand files each, most of the host's file table. Root ignores the process limit (and, as root, a
  // command's pid is its PID namespace's).
  test.skipIf(uid === undefined)("a launcher holds itself to the commands' process and open-file limits plus reserves, which is all a command's early children inherit", async () => {
    const started = await callTool(`${running!.server.url}/mcp`, 'process_start', { command: 'sleep', arguments: ['30'] }, { 'X-API-Key': ALICE });
    expect(started.error).toBeNull();
    try {
      const launcher = procStat(`/proc/${started.pid}`).ppid;
      const limits = readFileSync(`/proc/${launcher}/limits`, 'utf8').split('\n');
      const row = (name: string) => limits.find((l) => l.startsWith(name))?.slice(26).trim().split(/\s+/).slice(0, 2);
      const [processes, files, signals] = [4096, 4096, 1024].map((n) => String(n + LAUNCHER_LIMIT_RESERVE)) as [string, string, string];
      expect({ processes: row('Max processes'), files: row('Max open files'), signals: row('Max pending signals') }).toEqual({
        processes: [processes, processes],
        files: [files, files],
        signals: [signals, signals],
      });
    } finally {
      await callTool(`${running!.server.url}/mcp`, 'process_kill', { processId: started.processId, signal: 'SIGKILL' }, { 'X-API-Key': ALICE });
    }
  });

  test('a crash writes no core file, in the shared workspace or in TMPDIR, even after the command raised its core limit', async () => {
    const r = await call(ALICE, ['-c', CRASH]);
    const out = JSON.parse(r.stdout);
    // Both children died of SIGABRT, which dumps core wherever the limit allows one.
    expect(out.signals).toEqual([6, 6]);
    expect(out.core).toEqual([0, 0]);
    expect(readdirSync(running!.ws).filter(isCore)).toEqual([]);
    expect(readdirSync(out.tmp).filter(isCore)).toEqual([]);
  });

  test('a big tree with a part locked against its owner, left in TMPDIR, goes when the launcher is retired; the server answers all along', async () => {
    const { server } = running!;
    const r = await call(ALICE, ['-c', LEAVE_TREE]);
    expect(r.exitCode).toBe(0);
    const tmp = r.stdout.trim();
    // The removal runs meanwhile: the directory can go between a look and the listing, which then counts nothing.
    const entries = () => {
      try {
        return readdirSync(tmp).filter((n) => n.startsWith('big')).length;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
        throw err;
      }
    };
    expect(entries()).toBe(BIG_DIRS);
    // Alice's launcher is retired 2 s after her call. Removing the tree takes a while; the server must
    // answer meanwhile: an answer sent after the removal had begun (fewer of the big directories before the request)
    // and before it had ended (some still there after the answer) shows it does not hold the event loop while it removes.
    let answeredDuringRemoval = false;
    await waitFor(
      async () => {
        const before = entries();
        const health = await fetch(`${server.url}/health`);
        expect(health.status).toBe(200);
        const after = entries();
        if (before > 0 && before < BIG_DIRS && after > 0) answeredDuringRemoval = true;
        // The lock beside it goes last.
        return (!existsSync(tmp) && !existsSync(`${tmp}.lock`)) || server.proc.exitCode !== null;
      },
      30_000,
      `alice's private TMPDIR ${tmp} to be removed`,
    );
    expect(server.proc.exitCode).toBeNull();
    expect(answeredDuringRemoval).toBe(true);
    expect(server.logs()).not.toContain('EACCES');
    expect((await call(BOB, ['-c', 'print("still here")'])).stdout).toBe('still here\n');
  }, 60_000);

  test("a second stop signal (exit at once) leaves none of a client's processes running: a call's command, a process and what left its group", async () => {
    const own = await start();
    const m = newMarker();
    const marked = () => livePidsWith(`sleep\0${m}`);
    try {
      const url = `${own.server.url}/mcp`;
      const started = await callTool(url, 'process_start', { command: 'sh', arguments: ['-c', `setsid sleep ${m} & sleep ${m}`] }, { 'X-API-Key': ALICE });
      expect(started.error).toBeNull();
      // A command whose call is still running: its timeout is the launcher's to enforce.
      void callTool(url, 'shell_execute', { command: 'sh', arguments: ['-c', `setsid sleep ${m} & sleep ${m}`], timeoutSeconds: 120 }, { 'X-API-Key': ALICE }).catch(() => {});
      await waitFor(() => marked().length === 4, 5000, "alice's four sleeps");
      own.server.proc.kill('SIGTERM');
      await waitFor(() => own.server.logs().includes('draining'), 5000, 'the drain to start');
      own.server.proc.kill('SIGTERM');
      await own.server.proc.exited;
      await waitFor(() => marked().length === 0, 5000, "alice's processes to be gone once the server has exited");
    } finally {
      await own.stop();
      killAll(marked());
    }
  }, 30_000);

  // Unprivileged only: a launcher learns that its server died from the end of its stdin, and one a command of its
  // own client had stopped (kill -STOP $PPID: same uid, same Landlock domain) would read nothing; when the server
  // then died without a shutdown (a crash, an OOM kill, SIGKILL), the stopped launcher and every process it runs
  // would live on. Its filter refuses its commands stop signals (attack-sandbox tries every call that sends one).
  // As root each launcher is the init of its own PID namespace, which its commands cannot signal.
  if (uid !== undefined) {
    test('a launcher its own command tried to stop, and what it runs, end when the server is killed', async () => {
      const own = await start();
      const m = newMarker();
      const marked = () => livePidsWith(`sleep\0${m}`);
      let launcher: number | null = null;
      try {
        const url = `${own.server.url}/mcp`;
        const started = await callTool(url, 'process_start', { command: 'sh', arguments: ['-c', `setsid sleep ${m} & sleep ${m}`] }, { 'X-API-Key': ALICE });
        expect(started.error).toBeNull();
        launcher = procStat(`/proc/${started.pid}`).ppid;
        const stop = await callTool(url, 'shell_execute', { command: 'sh', arguments: ['-c', 'kill -STOP $PPID'] }, { 'X-API-Key': ALICE });
        expect({ exitCode: stop.exitCode, stderr: stop.stderr, launcher: procStat(`/proc/${launcher}`).state }).toEqual({
          exitCode: 1,
          stderr: expect.stringContaining('Operation not permitted'),
          launcher: expect.not.stringMatching(/^[Tt]$/),
        });
        await waitFor(() => marked().length === 2, 5000, "alice's sleeps");
        // The server itself, not the supervisor above it (which would pass a SIGTERM on): a crash, no shutdown.
        process.kill(own.server.pid, 'SIGKILL');
        await own.server.proc.exited;
        await waitFor(() => marked().length === 0 && !isLive(`/proc/${launcher}`), 5000, 'the launcher and its processes to end');
      } finally {
        await own.stop();
        killAll([...marked(), ...(launcher !== null && isLive(`/proc/${launcher}`) ? [launcher] : [])]);
      }
    }, 30_000);

    // While the launcher lives the sleeps descend from its command and no sweep touches them; once its server is gone
    // it has one last chance, past one sweep's budget (256). Chains that hop (fork, the parent exits) hand it a child
    // after a round has listed its children: it must sweep again until none is left.
    test('more setsid processes than one sweep takes, and chains that hop, end with a launcher whose server was killed', async () => {
      const own = await start();
      const m = newMarker();
      const deadline = Date.now() / 1000 + 20; // the chains end on their own by then, whatever happens
      const marked = () => markedBy(m);
      try {
        const url = `${own.server.url}/mcp`;
        const sleeps = await callTool(url, 'process_start', { command: 'sh', arguments: ['-c', `for i in $(seq 300); do setsid sleep ${m} & done; wait`] }, { 'X-API-Key': ALICE });
        const hops = await callTool(url, 'process_start', { command: 'python3', arguments: ['-c', HOP_CHAINS, '8', String(deadline), '0.02', m] }, { 'X-API-Key': ALICE });
        expect([sleeps.error, hops.error]).toEqual([null, null]);
        // The chains' hops are orphans of the launcher, which kills them as they come; the sleeps wait in their group.
        await waitFor(() => marked().length >= 300, 10_000, "alice's processes");
        await Bun.sleep(300);
        process.kill(own.server.pid, 'SIGKILL');
        await own.server.proc.exited;
        await waitFor(() => marked().length === 0, 8000, 'every one of them to end');
      } finally {
        await own.stop();
        killAll(marked());
      }
    }, 40_000);

    // A command shares its launcher's uid and Landlock domain and may SIGKILL it: commands must be able to kill their
    // own processes, and a thread id, or a /proc directory used as a pidfd, names the launcher past any list of pids.
    // Killed as the server dies (a command can watch the server's /proc status for the pending SIGKILL), the launcher
    // runs no last sweep, and what it ran goes to the nearest living subreaper above it. That is the supervisor, which
    // no command can signal: it kills what it inherits before it exits with the server's status.
    test('a command that kills its own launcher as the server dies leaves nothing running', async () => {
      const own = await start();
      const m = newMarker();
      const marked = () => markedBy(m);
      try {
        const url = `${own.server.url}/mcp`;
        // Kills its launcher (the shell's parent) once the test makes the trigger file in the workspace.
        const script = `setsid sleep ${m} & sleep ${m} & while [ ! -e trigger-$0 ]; do sleep 0.02; done; kill -KILL $PPID; wait`;
        const started = await callTool(url, 'process_start', { command: 'sh', arguments: ['-c', script, m] }, { 'X-API-Key': ALICE });
        expect(started.error).toBeNull();
        const launcher = procStat(`/proc/${started.pid}`).ppid;
        await waitFor(() => marked().length === 3, 5000, "alice's shell and sleeps");
        // Stopped, the server is as good as dead: it does nothing with what it is handed.
        process.kill(own.server.pid, 'SIGSTOP');
        writeFileSync(join(own.ws, `trigger-${m}`), '');
        await waitFor(() => !isLive(`/proc/${launcher}`), 5000, 'the command to kill its launcher');
        // The shell and its sleeps go past the stopped server (under a supervisor no subreaper) to the supervisor,
        // which kills them at its next look or once the server, dying now without a shutdown, is gone.
        process.kill(own.server.pid, 'SIGKILL');
        expect(await own.server.proc.exited).toBe(128 + 9);
        await waitFor(() => marked().length === 0, 2000, 'every one of them to be gone');
      } finally {
        // A server left stopped would never take the stop below.
        if (isLive(`/proc/${own.server.pid}`)) process.kill(own.server.pid, 'SIGCONT');
        await own.stop();
        killAll(marked());
      }
    }, 30_000);

    // A fork bomb that left its call's group fills the uid's process count (RLIMIT_NPROC; every client's commands
    // share it) and keeps it full: a sweep that kills a tree at a time frees places that what still runs takes at
    // once, and the bomb regrew as fast as it was killed. Sweeps stop the whole forest before any of it dies.
    test("a fork bomb that left its group, at the uid's process count, is gone at once and stays gone", async () => {
      const own = await start({ HIDE_SANDBOX_PROCESSES: BOMB_PROCESSES }, bomber);
      const m = newMarker();
      const marked = () => markedBy(m);
      try {
        const url = `${own.server.url}/mcp`;
        // Its own end is 20 s away: gone before that is the sweep's doing.
        const bomb = await startForkBomb(url, ALICE, 20, m);
        expect(bomb.error).toBeNull();
        await waitFor(() => existsSync(join(own.ws, `bomb-${m}`)), 5000, 'the bomb to start');
        // Unchecked, it fills the count within a second; swept, it is gone within a few (a loaded machine's), and
        // nothing of it comes back.
        await waitFor(() => marked().length === 0, 8000, 'the bomb to be gone');
        await Bun.sleep(1000);
        expect(marked().length).toBe(0);
      } finally {
        await own.stop();
        killAll(marked());
      }
    }, 30_000);

    // The same bomb left to a launcher that cannot sweep (stopped here, then killed as a command of its client
    // may): what the launcher ran goes past the server, which is no subreaper under a supervisor, to the supervisor,
    // whose loop serves nobody and may block while it stops the whole forest.
    test('a fork bomb whose launcher was killed is gone at once while the server runs on', async () => {
      const own = await start({ HIDE_SANDBOX_PROCESSES: BOMB_PROCESSES }, bomber);
      const m = newMarker();
      const marked = () => markedBy(m);
      let launcher: number | null = null;
      try {
        const url = `${own.server.url}/mcp`;
        // Its own end is 60 s away: past the growth and the wait for the sweep below.
        const bomb = await startForkBomb(url, ALICE, 60, m);
        expect(bomb.error).toBeNull();
        launcher = procStat(`/proc/${bomb.pid}`).ppid;
        process.kill(launcher, 'SIGSTOP');
        await waitFor(() => marked().length >= 300, 10_000, 'the bomb to grow under its stopped launcher');
        process.kill(launcher, 'SIGKILL');
        // 2.3–2.7 s alone on 2 cores (the supervisor stops the whole forest before any of it dies); past 5 s in a full
        // run beside three other test files.
        await waitFor(() => marked().length === 0, 15_000, 'the bomb to be gone');
        await Bun.sleep(500);
        expect(marked().length).toBe(0);
        await servedOnceThereIsRoom(url, BOB);
      } finally {
        await own.stop();
        killAll([...marked(), ...(launcher !== null && isLive(`/proc/${launcher}`) ? [launcher] : [])]);
      }
    }, 90_000);

    // Each hop leaves its exited parent to the launcher as a zombie, which counts against the uid's processes (bob's
    // RLIMIT_NPROC too: every client's commands run as that uid) until the launcher reaps it, and the hop's child is
    // an orphan the launcher kills. Swept only once a second, four such chains filled the count in a fraction of it;
    // swept at each exit, but with the dead told from the live by /proc reads and reaped only after the looks for the
    // live, sixteen did on a busy machine: each sweep took longer than the chains took to leave more zombies.
    test("chains that hop as fast as they can, left to the launcher, do not use up the uid's processes: bob's forks go on", async () => {
      const own = await start();
      const m = newMarker();
      const deadline = Date.now() / 1000 + 4;
      const marked = () => markedBy(m);
      try {
        const url = `${own.server.url}/mcp`;
        expect((await callTool(url, 'shell_execute', { command: 'true' }, { 'X-API-Key': BOB })).exitCode).toBe(0);
        const hops = await callTool(url, 'process_start', { command: 'python3', arguments: ['-c', HOP_CHAINS, '8', String(deadline), '0', m] }, { 'X-API-Key': ALICE });
        expect(hops.error).toBeNull();
        await Bun.sleep(500);
        // bob forks for as long as the chains run; a fork refused for want of processes makes `true` fail.
        const forks = `import os, time\nrefused = 0\nwhile time.time() < ${deadline}:\n    try:\n        pid = os.fork()\n    except OSError:\n        refused += 1\n        continue\n    if pid == 0:\n        os._exit(0)\n    os.waitpid(pid, 0)\nprint(refused)`;
        const bob = await callTool(url, 'shell_execute', { command: 'python3', arguments: ['-c', forks], timeoutSeconds: 30 }, { 'X-API-Key': BOB });
        expect({ exitCode: bob.exitCode, refused: bob.stdout, error: bob.error }).toEqual({ exitCode: 0, refused: '0\n', error: null });
      } finally {
        await own.stop();
        killAll(marked());
      }
    }, 40_000);
  }

  test('a tree locked against its owner, left in TMPDIR, goes when the server stops, a chain deeper than one walk too; it exits 0', async () => {
    const own = await start();
    // 300 levels, the deepest locked: past what one walk opens up (256), so its lower part must be moved up and walked again.
    const deep = ["deep = f'{tmp}/deep'", 'for i in range(300): deep += "/d"', 'os.makedirs(deep)', "open(f'{deep}/f', 'w').write('left behind')", 'os.chmod(deep, 0)'].join('\n');
    try {
      const r = await caller(own.server)(ALICE, ['-c', LEAVE_TREE.replace(`range(${BIG_DIRS})`, 'range(1)').replace('print(tmp)', `${deep}\nprint(tmp)`)]);
      const tmp = r.stdout.trim();
      expect(existsSync(join(tmp, 'locked'))).toBe(true);
      expect(existsSync(join(tmp, 'deep'))).toBe(true);
      own.server.proc.kill('SIGTERM');
      expect(await own.server.proc.exited).toBe(0);
      expect(existsSync(tmp)).toBe(false);
      expect(existsSync(`${tmp}.lock`)).toBe(false);
    } finally {
      await own.stop();
    }
  });
});
