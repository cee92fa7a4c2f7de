/**
 * A sandboxed command attacks what the earlier passes (isolation, sandbox,
 * attack-process) leave untried: System V memory that outlives its call,
 * signals asked of the kernel through F_SETOWN/F_SETSIG instead of kill(),
 * other processes' namespace files and /proc knobs, and memory past the
 * per-command limit, and what one client plants in the shared workspace for
 * the other. The server runs from source (root) and as the
 * container's unprivileged uid (the compiled binary through setpriv) with
 * HIDE_SANDBOX=required and two clients: alice attacks, bob is the victim.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { getPriority } from 'node:os';
import { copyFileSync, existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerProcess } from '../helpers/process.ts';
import { hostEntries, isLive, newMarker, procStat } from '../helpers/procfs.ts';
import { callTool, waitFor } from '../helpers/server.ts';
import { ALICE, BOB, startTwoClientServer, TWO_CLIENT_ATTACKS_SUPPORTED, type TwoClientServer, UNPRIVILEGED } from '../helpers/two-clients.ts';

const MEMORY_LIMIT = 64 * 1024 * 1024;

const link = (path: string): string | null => {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
};

/** Threads anywhere on the host that live in the namespace `ns` (as readlink shows it: `ipc:[N]`). */
const threadsIn = (ns: string) => hostEntries((dir) => link(`${dir}/ns/ipc`) === ns, true);
/** Processes anywhere on the host holding a descriptor of the namespace `ns`. */
const holdersOf = (ns: string) => hostEntries((dir) => readdirSync(`${dir}/fd`).some((fd) => link(`${dir}/fd/${fd}`) === ns));

/** Counts the System V objects in /proc/sysvipc of the IPC namespace it is handed (a descriptor's path), from inside it. */
const COUNT_SYSV = `
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.setns(os.open(sys.argv[1], os.O_RDONLY), 0x08000000) != 0:
    raise OSError(ctypes.get_errno(), 'setns')
print(json.dumps({k: len(open(f'/proc/sysvipc/{k}').read().splitlines()) - 1 for k in ('shm', 'msg', 'sem')}))
`;

/** The System V objects in the IPC namespace `ns`, entered through a descriptor another process holds of it (as root). */
function sysvObjectsIn(ns: string): Record<string, number> {
  for (const dir of holdersOf(ns)) {
    const fd = readdirSync(`${dir}/fd`).find((n) => link(`${dir}/fd/${n}`) === ns);
    if (fd === undefined) continue;
    const run = Bun.spawnSync(['python3', '-c', COUNT_SYSV, `${dir}/fd/${fd}`]);
    if (run.exitCode === 0) return JSON.parse(run.stdout.toString());
  }
  throw new Error(`nobody holds ${ns}`);
}
const sumOf = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

describe.skipIf(!TWO_CLIENT_ATTACKS_SUPPORTED).each([
  ['as root', undefined],
  [`as uid ${UNPRIVILEGED}`, UNPRIVILEGED],
] as const)('a hostile command %s', (_name, uid) => {
  let server: ServerProcess;
  let ws: string;
  const call = (key: string, tool: string, args: Record<string, unknown>) => callTool(`${server.url}/mcp`, tool, args, { 'X-API-Key': key });
  const attack = async (key: string, ...args: string[]) => {
    const r = await call(key, 'shell_execute', { command: 'python3', arguments: ['attack-sandbox.py', ...args] });
    if (!r.stdout) throw new Error(`attack ${args[0]} printed nothing: ${JSON.stringify(r)}`);
    return JSON.parse(r.stdout);
  };
  /** Starts bob's `sleep <m>` and returns its host pid and the pending call. */
  const bobSleeping = async () => {
    const m = newMarker();
    const pending = call(BOB, 'shell_execute', { command: 'sleep', arguments: [m], timeoutSeconds: 20 });
    const dir = await waitFor(() => hostEntries((d) => readFileSync(`${d}/cmdline`, 'utf8').endsWith(`sleep\0${m}\0`))[0], 5000, "bob's command");
    const pid = Number(dir!.split('/')[2]);
    return {
      pid,
      // The server (and, unprivileged, its supervisor), bob's launcher and his command. Not alice's own launcher: she may signal it (it ends only her calls).
      targets: [...new Set([server.pid, server.proc.pid]), procStat(`/proc/${pid}`).ppid, pid],
      done: async () => {
        process.kill(pid, 'SIGKILL');
        await pending;
      },
    };
  };

  let running: TwoClientServer | null = null;
  beforeAll(async () => {
    running = await startTwoClientServer({
      prefix: 'hide-attack-sandbox-',
      uid,
      prepare: (_dir, workspace) => {
        copyFileSync(join(import.meta.dir, 'fixtures', 'attack-sandbox.py'), join(workspace, 'attack-sandbox.py'));
        return [join(workspace, 'attack-sandbox.py')];
      },
      env: { HIDE_SANDBOX_MEMORY_BYTES: String(MEMORY_LIMIT), HIDE_RATE_LIMIT_CONCURRENT: '4' },
    });
    ({ server, ws } = running);
    expect((await call(ALICE, 'shell_execute', { command: 'true' })).exitCode).toBe(0);
    expect((await call(BOB, 'shell_execute', { command: 'true' })).exitCode).toBe(0);
  });

  afterAll(async () => {
    await running?.stop();
  });

  test("a command cannot take a lease on a file it owns, which would hold every other client's open of it (and the launcher starting a program through it) until the lease breaks", async () => {
    // Bob's file, written through the server: owned by the server's uid, as every client's command is.
    expect((await call(BOB, 'write_file', { path: 'leased.txt', content: 'shared' })).error).toBeNull();
    expect(await attack(ALICE, 'lease', 'leased.txt')).toEqual({ fcntl: 'Operation not permitted', 'high word': 'Operation not permitted' });
  });

  // Landlock looks at ioctl only on device files. On btrfs a snapshot made through a read-only descriptor planted a
  // package in a read-only grant the server's user owned, which the next client's command ran; fscrypt's ioctls made
  // kernel keys, charged to the user and outliving the server, past the refusal of the keyring calls.
  test('filesystem ioctls through a read-only descriptor, inode flags and project ids, whiteouts and pidfd info are refused, the high word making no difference; a reflink copy is not', async () => {
    const refused = 'Operation not permitted';
    expect(await attack(ALICE, 'ioctls', '/usr')).toEqual({
      'btrfs subvolume': refused,
      'btrfs snapshot in the grant': refused,
      'btrfs snapshot, high word': refused,
      'fscrypt add key': refused,
      'fscrypt set policy': refused,
      'enable verity': refused,
      'pidfd info': refused,
      'pidfd info, high word': refused,
      'inode flags': refused,
      'project id': refused,
      'project id by path': refused,
      whiteout: refused,
      ficlone: 'not refused',
    });
  });

  test.if(uid === undefined)('a System V segment left behind goes with its call: the launcher does not stay in the IPC namespace it made for the command', async () => {
    const out = await attack(ALICE, 'shm', '32');
    expect(out.shm).toBeNumber();
    // Once the call has answered, nothing may be left in the command's IPC namespace: no thread of its launcher either.
    // A loaded machine (a full CI run beside it) took more than 5 s to see the last of them go.
    await waitFor(() => threadsIn(out.ipc).length === 0 && holdersOf(out.ipc).length === 0, 15_000, `the namespace ${out.ipc} to be empty: ${threadsIn(out.ipc)}`);
  });

  /** Runs the `shm` attack as a call, or as a process with a terminal (started another way in the launcher), and returns what it printed. */
  const leaveIpcObjects = async (how: 'call' | 'terminal') => {
    const args = ['shm', '32', 'pinned'];
    if (how === 'call') return attack(ALICE, ...args);
    const p = await call(ALICE, 'process_start', { command: 'python3', arguments: ['attack-sandbox.py', ...args], terminal: { cols: 200, rows: 24 } });
    let output = '';
    let cursor: number | undefined;
    for (;;) {
      const r = await call(ALICE, 'process_read', { processId: p.processId, cursor, waitMs: 5000 });
      output += r.output;
      cursor = r.cursor;
      if (r.status !== 'running') break;
    }
    return JSON.parse(output.trim().split('\n').at(-1)!);
  };

  // A command's IPC namespace can be held open by a sibling of the same client (same uid, same Landlock domain,
  // dumpable: /proc/<pid>/ns/ipc), for as long as the client keeps one process alive, so the namespace outlives its
  // call; a segment left there would keep its memory with it, charged to no process and bounded by no limit. The
  // launcher empties the namespace once the command is gone. Root only: unprivileged, System V IPC is refused. The
  // command lingers until the pinner, polling /proc every 50 ms, holds its namespace (up to 20 s); the pinner is
  // killed either way.
  if (uid === undefined) {
    test.each(['call', 'terminal'] as const)("a sibling holding the command's IPC namespace keeps nothing of what the command left there (%s)", async (how) => {
      const pinner = await call(ALICE, 'process_start', { command: 'python3', arguments: ['attack-sandbox.py', 'pin', '20'] });
      try {
        await waitFor(async () => (await call(ALICE, 'process_read', { processId: pinner.processId })).output.includes('pinning'), 5000, 'the pinner');
        const out = await leaveIpcObjects(how);
        expect(out).toEqual({ shm: expect.any(Number), msg: expect.any(Number), sem: expect.any(Number), ipc: expect.stringMatching(/^ipc:\[\d+\]$/) });
        // Still held by the pinner (the kernel keeps a namespace someone holds), and empty.
        expect(holdersOf(out.ipc).length).toBeGreaterThan(0);
        await waitFor(() => sumOf(sysvObjectsIn(out.ipc)) === 0, 5000, `the namespace ${out.ipc} to hold no System V object: ${JSON.stringify(sysvObjectsIn(out.ipc))}`);
        expect(holdersOf(out.ipc).length).toBeGreaterThan(0);
      } finally {
        await call(ALICE, 'process_kill', { processId: pinner.processId, signal: 'SIGKILL' });
      }
      // Once the pinner is gone too (its namespace emptied in turn), the launcher still starts commands.
      await waitFor(async () => (await call(ALICE, 'process_read', { processId: pinner.processId })).status !== 'running', 5000, 'the pinner to end');
      expect(await call(ALICE, 'shell_execute', { command: 'true' })).toMatchObject({ exitCode: 0, error: null });
    }, 30_000);
  }

  test("SIGIO aimed by F_SETOWN/F_SETSIG at the server, bob's launcher and bob's command stops none of them", async () => {
    const bob = await bobSleeping();
    const { targets } = bob;
    const out = await attack(ALICE, 'sigio', ...targets.map(String));
    // Unprivileged the pids name them and the owner is set; Landlock's signal scope stops the delivery.
    // As root the pids name nothing in the command's PID namespace.
    const stopped = targets.map((p) => [p, procStat(`/proc/${p}`).state]).filter(([, s]) => s === 'T');
    // Resumed before judging, so that a failure does not leave the server stopped for the tests after this one.
    for (const p of targets) process.kill(p, 'SIGCONT');
    expect([Object.keys(out).length, stopped]).toEqual([targets.length * 2, []]);
    await bob.done();
  });

  // The plain way: kill(2) by pid and by group. Unprivileged, the pids name them and the uid is the same, so only
  // Landlock's signal scope (and seccomp's protected pids, for the launchers) stands in the way.
  test("SIGSTOP by kill() at the server, bob's launcher and bob's command stops none of them", async () => {
    const bob = await bobSleeping();
    const { targets } = bob;
    let answered = false;
    const pending = call(ALICE, 'shell_execute', { command: 'sh', arguments: ['-c', targets.map((p) => `kill -STOP ${p} -${p}`).join('; ')] }).finally(() => {
      answered = true;
    });
    const stoppedNow = () => targets.map((p) => [p, procStat(`/proc/${p}`).state]).filter(([, s]) => s === 'T');
    // A stopped server never answers: judge once the call is answered or something stopped, whichever comes first.
    await waitFor(() => answered || stoppedNow().length > 0, 10_000, 'the call to end or a target to stop');
    const stopped = stoppedNow();
    // Resumed before judging, so that a failure does not leave the server stopped for the tests after this one.
    for (const p of targets) process.kill(p, 'SIGCONT');
    const r = await pending;
    expect([r.exitCode === 0, stopped]).toEqual([false, []]);
    await bob.done();
  });

  // Her own launcher: unprivileged it shares her PID namespace, same uid, same Landlock domain, and a stopped
  // launcher would neither run her next calls nor end her processes when the server dies. As root it is outside.
  test('a command cannot stop its own launcher, by any call that sends a signal', async () => {
    const out = await attack(ALICE, 'stop-launcher');
    if (uid === undefined) {
      expect(out).toEqual({ parent: 'outside our PID namespace' });
      return;
    }
    const refused = 'Operation not permitted';
    expect(out).toEqual({
      'kill STOP': refused,
      'kill TSTP': refused,
      'kill TTIN': refused,
      'kill TTOU': refused,
      "kill a thread's id": refused,
      'kill its group': refused,
      'kill -1': refused,
      tkill: refused,
      tgkill: refused,
      rt_sigqueueinfo: refused,
      rt_tgsigqueueinfo: refused,
      pidfd_open: 'ok',
      pidfd_send_signal: refused,
      'pidfd_send_signal /proc': refused,
      F_SETSIG: refused,
      'launcher stopped at the end': false,
    });
    expect((await call(ALICE, 'shell_execute', { command: 'echo', arguments: ['still served'] })).stdout).toBe('still served\n');
  });

  test("the server's, bob's launcher's and bob's command's namespaces, root, cwd and /proc knobs are out of reach", async () => {
    const bob = await bobSleeping();
    const { targets } = bob;
    const out = await attack(ALICE, 'procfs', ...targets.map(String));
    expect(out).toEqual({ opened: [] });
    await bob.done();
  });

  // The server sweeps what a dead launcher leaves re-parented to it: it stops each orphan, lists its children,
  // and signals them in turn. A listed child can exit and be reaped by the kernel (its parent ignores SIGCHLD)
  // before its turn comes, and its pid — 32 768 of them by default — go to another client's process, which the
  // server, unconfined, would stop and kill. The test stands in for that client: it hands the freed pid to a
  // `sleep` of the server's uid the moment it is free. Whoever else takes the pid first (the restarted
  // launcher's threads often do) gets the signal instead, so the attack runs a few times.
  test.if(uid !== undefined)("a pid freed while the server sweeps a dead launcher's orphans is not signalled once another process has it", async () => {
    const outcomes: string[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const m = newMarker();
      const pidFile = join(ws, `reuse-${m}.pid`);
      const goFile = join(ws, `reuse-${m}.go`);
      const attacking = call(ALICE, 'shell_execute', { command: 'python3', arguments: ['attack-sandbox.py', 'reuse', '50', '500', pidFile, goFile], timeoutSeconds: 20 });
      const freed = Number(await waitFor(() => (existsSync(pidFile) ? readFileSync(pidFile, 'utf8') : undefined), 10_000, 'the pid to free'));
      const claim = Bun.spawn(['python3', join(import.meta.dir, 'fixtures', 'claim-pid.py'), String(freed), String(uid), '30'], { stdout: 'pipe' });
      const reader = claim.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = '';
      const line = async () => {
        while (!buffered.includes('\n')) {
          const { done, value } = await reader.read();
          if (done) break;
          buffered += value;
        }
        const [first, ...rest] = buffered.split('\n');
        buffered = rest.join('\n');
        return first!.trim();
      };
      expect(await line()).toBe('ready');
      writeFileSync(goFile, '');
      const victim = Number(await line());
      try {
        await attacking;
        // The sweep is over once nothing of alice's tree is left.
        await waitFor(() => hostEntries((d) => readFileSync(`${d}/cmdline`, 'utf8').includes(pidFile)).length === 0, 10_000, "alice's tree to be swept");
        // Neither stopped (T) nor killed: sleeping, or running for a moment on a busy machine (R).
        outcomes.push(`${victim === freed ? 'got' : 'missed'} the pid: ${isLive(`/proc/${victim}`) ? procStat(`/proc/${victim}`).state : 'killed'}`);
      } finally {
        process.kill(victim, 'SIGKILL');
      }
    }
    expect(outcomes.filter((o) => !/: [SR]$/.test(o))).toEqual([]);
  }, 60_000);

  // Landlock refuses opening a queue only after mq_open has made it: unprivileged, in the IPC namespace clients
  // share, where it outlived the call and used up the uid's RLIMIT_MSGQUEUE in about ten calls (then EMFILE for
  // every process of that uid). The seccomp filter refuses the mq_* calls before anything is made.
  test("none of the host's shared pools is reached: AIO events, another family's socket code, fanotify groups, reserved huge pages, locked memory, the kernel's direct map", async () => {
    const refused = 'Operation not permitted';
    expect(await attack(ALICE, 'host-pools')).toEqual({
      io_setup: refused,
      'socketpair inet': refused,
      'socketpair vsock': refused,
      'socketpair packet': refused,
      fanotify_init: refused,
      'mmap hugetlb': refused,
      'shm lock': refused,
      memfd_secret: refused,
      'socket filter': refused,
    });
  });

  // Pending signals and POSIX timers are one count per user, checked against the caller's own limit: with the
  // server's (96,367 here), one command's timers took the whole count, and every process of the user, as root every
  // root process of the host, got EAGAIN from timer_create and sigqueue. A command stops at its own limit.
  test("POSIX timers stop at the command's pending-signal limit, far below the server's", async () => {
    const r = await attack(ALICE, 'timers');
    expect(r.limit).toEqual(['1024', '1024']);
    expect(r.then).toBe('Resource temporarily unavailable');
    expect(r.made).toBeLessThanOrEqual(1024);
  });

  // The out-of-memory killer chose by resident size alone, and the server is the largest process there is: a command
  // filling a memory limit with memory charged to no process (an unmapped memfd) got the server killed, and with it
  // every client's processes. Commands are its first choice now, and run below the server's priority, for good.
  test("a command is the out-of-memory killer's first choice and runs below the server's priority, and can undo neither", async () => {
    const r = await attack(ALICE, 'give-way');
    expect({ oom: r.oom_score_adj, nice: r.nice, after: r.after }).toEqual({ oom: '1000', nice: 10, after: ['1000', 10] });
    const undone = Object.entries(r).filter(([k, v]) => (k.startsWith('lower') || k.startsWith('renice') || k === 'RLIMIT_NICE') && (v === 'lowered' || v === 'raised'));
    expect(undone).toEqual([]);
    expect(r['renice self']).toBe('Permission denied');
    // Nor a real-time policy, which runs before any nice value: whatever RLIMIT_RTPRIO the server was given, 0.
    expect({ rtprio: r.RLIMIT_RTPRIO, fifo: r.SCHED_FIFO }).toEqual({ rtprio: [0, 0], fifo: 'Operation not permitted' });
    // Nor I/O before the server's (best-effort 4 at nice 0): lower is allowed.
    expect([r['ioprio best-effort 0'], r['ioprio best-effort 4'], r['ioprio idle'], r['ioprio best-effort 7']]).toEqual(['Operation not permitted', 'Operation not permitted', 'set', 'set']);
    // The server itself is left as it was started.
    expect({ oom: readFileSync(`/proc/${server.pid}/oom_score_adj`, 'utf8').trim(), nice: getPriority(server.pid) }).toEqual({ oom: '0', nice: 0 });
  });

  test('POSIX message queues, which clients would share, are neither created nor opened', async () => {
    const name = `/hide-${newMarker()}`;
    expect(await attack(ALICE, 'mqueue', name)).toEqual({ mq_open: 'Operation not permitted' });
    expect(await attack(BOB, 'mqueue', name)).toEqual({ mq_open: 'Operation not permitted' });
    // Nothing was left in the host's IPC namespace (the unprivileged server's, shared by its commands).
    const probe = `import ctypes, os\nrt = ctypes.CDLL("librt.so.1", use_errno=True)\nq = rt.mq_open(${JSON.stringify(name)}.encode(), os.O_RDONLY)\nprint("exists" if q >= 0 else os.strerror(ctypes.get_errno()))`;
    expect(Bun.spawnSync(['python3', '-c', probe]).stdout.toString().trim()).toBe('No such file or directory');
  });

  // OPEN: inotify instances are counted per user (fs.inotify.max_user_instances, 128 by default), and every
  // client's commands run as the server's uid (root included: the limit binds it too, and so everything else
  // of that uid on the host), so one client's process holding them all leaves the other's file watchers
  // (`tail -f`, a test runner's or bundler's watch mode) with EMFILE for as long as it lives. Seccomp cannot
  // count them and refusing inotify outright breaks those tools; the fix is a user namespace per client (each
  // with its own count) or a uid per client. docs/sandbox.md says so.
  // Runs as a known failure; the hoarder is killed whatever the outcome.
  test.failing("(open) one client holding every inotify instance leaves the other client's watchers working", async () => {
    const hoarder = await call(ALICE, 'process_start', { command: 'python3', arguments: ['attack-sandbox.py', 'inotify', 'hold'] });
    try {
      await waitFor(async () => (await call(ALICE, 'process_read', { processId: hoarder.processId })).output.includes('instances'), 5000, 'the hoarder');
      // Every try of bob's must get one. The count is the uid's, and a root server's is shared with every other
      // process of root on the host, which may let one go just then: the hoarder takes those too, but not at once.
      const tries: number[] = [];
      for (let i = 0; i < 3; i++) tries.push(JSON.parse((await call(BOB, 'shell_execute', { command: 'python3', arguments: ['attack-sandbox.py', 'inotify', 'once'] })).stdout).instances);
      expect(tries.every((instances) => instances > 0)).toBe(true);
    } finally {
      await call(ALICE, 'process_kill', { processId: hoarder.processId, signal: 'SIGKILL' });
    }
  });

  // OPEN: every client reads and writes the one workspace, so a file alice
  // plants there runs as bob when his command uses it: here git's
  // core.fsmonitor in the repository's config (hooks, a Makefile, package.json
  // scripts or a program in a PATH directory inside the workspace do the
  // same). It then runs in bob's launcher, with bob's private TMPDIR and
  // beside his other commands (same Landlock domain: their environ and
  // memory). Not a small fix: a workspace per client (a server per client
  // today) is the boundary; docs/sandbox.md says so.
  // Runs as a known failure: it turns red once the hole is closed, and its `.failing` goes then.
  test.failing("(open) what alice plants in the shared workspace does not run as bob with bob's TMPDIR", async () => {
    const repo = `repo-${newMarker()}`;
    await call(BOB, 'shell_execute', { command: 'sh', arguments: ['-c', `git init -q ${repo} && echo BOB-SECRET > "$TMPDIR/token"`] });
    const hook = `sh -c 'cat "$TMPDIR/token" > ../leak.txt 2>&1'`;
    expect((await call(ALICE, 'shell_execute', { command: 'git', arguments: ['config', 'core.fsmonitor', hook], workingDirectory: repo })).exitCode).toBe(0);
    await call(BOB, 'shell_execute', { command: 'git', arguments: ['status', '--short'], workingDirectory: repo });
    const leaked = await call(ALICE, 'shell_execute', { command: 'cat', arguments: ['leak.txt'] });
    expect(leaked.stdout).not.toContain('BOB-SECRET');
  });

  // OPEN: HIDE_SANDBOX_MEMORY_BYTES is RLIMIT_DATA, which counts private
  // writable mappings only: shared ones (memfd, MAP_SHARED|MAP_ANONYMOUS,
  // System V segments, files in a tmpfs TMPDIR) pass it. RLIMIT_AS would
  // count them but breaks runtimes that reserve address space (Bun, Go,
  // the JVM); the real bound is a memory cgroup per launcher (root) or the
  // container's memory limit. docs/sandbox.md says so.
  // Runs as a known failure: it maps 2 × 96 MiB of shared memory, freed when the command exits.
  test.failing('(open) shared mappings are held to the memory limit like private ones', async () => {
    const out = await attack(ALICE, 'shared', String((MEMORY_LIMIT * 1.5) / (1 << 20)));
    expect(out).toEqual({ limit: MEMORY_LIMIT, private: 'MemoryError', shared: 'MemoryError' });
  });
});
