/**
 * Isolation of commands from the launcher, the server and each other, tried
 * as an attacker would with nothing but `shell_execute` and a Python script
 * in the workspace. The server runs from source as a separate process with
 * HIDE_SANDBOX=required — once as root, once as the container's unprivileged
 * uid (through setpriv) — with two clients, alice (the attacker) and bob.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DEFAULT_PROC, DEFAULT_READ_ONLY } from '../../src/sandbox/rules.ts';
import type { ServerProcess } from '../helpers/process.ts';
import { childrenOf, hostEntries, isLive, livePidsWith, newMarker, procStat } from '../helpers/procfs.ts';
import { callTool, toolCallsInFlight, waitFor } from '../helpers/server.ts';
import { ALICE, BOB, startTwoClientServer, TWO_CLIENT_ATTACKS_SUPPORTED, type TwoClientServer, UNPRIVILEGED } from '../helpers/two-clients.ts';


/** Pids of live processes whose command line (arguments joined by NUL) contains `marker`. */
const pidsOf = livePidsWith;

/** True while any live thread of any process has `marker` in its command line. */
function ghostAlive(marker: string): boolean {
  return hostEntries((dir) => isLive(dir) && readFileSync(`${dir}/cmdline`, 'utf8').includes(marker), true).length > 0;
}

/** Pids of `sleep <m>` processes, or null while there are none (for waitFor). */
function sleepers(m: string): number[] | null {
  const pids = pidsOf(`sleep\0${m}`);
  return pids.length > 0 ? pids : null;
}

const parentOf = (pid: number) => procStat(`/proc/${pid}`).ppid;
const alive = (pid: number) => isLive(`/proc/${pid}`);

describe.skipIf(!TWO_CLIENT_ATTACKS_SUPPORTED).each([
  ['as root', undefined],
  [`as uid ${UNPRIVILEGED}`, UNPRIVILEGED],
] as const)('isolation %s', (_name, uid) => {
  let server: ServerProcess;
  let dir: string;
  let ws: string;
  let outsideSecret: string;
  let outsideSocket: ReturnType<typeof Bun.listen> | null = null;
  const call = (key: string, command: string, args: string[] = [], extra: Record<string, unknown> = {}) =>
    callTool(`${server.url}/mcp`, 'shell_execute', { command, arguments: args, ...extra }, { 'X-API-Key': key });
  const attack = async (key: string, ...args: string[]) => {
    const r = await call(key, 'python3', ['attack.py', ...args]);
    if (!r.stdout) throw new Error(`attack ${args[0]} printed nothing: ${JSON.stringify(r)}`);
    return { raw: r, out: JSON.parse(r.stdout) };
  };
  /**
   * Alice's forging attack. As root her command is in a PID namespace and
   * cannot name any launcher; unprivileged it can stop or kill her own
   * launcher (same client, same Landlock domain), which ends this very call —
   * what it managed to write is saved in forge.json first.
   */
  const forge = async (...args: string[]) => {
    const r = await call(ALICE, 'python3', ['attack.py', 'forge', ...args]);
    if (uid === undefined) expect(r.exitCode).toBe(0);
    else expect([0, -1]).toContain(r.exitCode);
    return r;
  };
  /** The server's launcher processes (one per client that called, plus a spare). */
  const launchers = () =>
    childrenOf(server.pid).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('__launcher');
      } catch {
        return false;
      }
    });

  /** The server and, unprivileged, the supervisor above it (src/sandbox/supervisor.ts). */
  const servers = () => [...new Set([server.pid, server.proc.pid])];

  /** The launcher a command runs under: its nearest ancestor that is one. */
  const launcherOf = (pid: number): number => {
    const all = launchers();
    for (let p = pid; p > 1; p = parentOf(p)) if (all.includes(p)) return p;
    throw new Error(`no launcher above ${pid}`);
  };

  let running: TwoClientServer | null = null;
  beforeAll(async () => {
    running = await startTwoClientServer({
      prefix: 'hide-isolation-',
      uid,
      prepare: (top, workspace) => {
        mkdirSync(join(top, 'rg-bin'), { mode: 0o755 });
        outsideSecret = join(top, 'outside-secret.txt');
        writeFileSync(outsideSecret, 'TOP-SECRET outside\n');
        symlinkSync(outsideSecret, join(workspace, 'leak.txt'));
        copyFileSync(join(import.meta.dir, 'fixtures', 'attack.py'), join(workspace, 'attack.py'));
        // A ripgrep that reports what it could read and follows symlinks (-L), to
        // see from the inside whether ripgrep runs sandboxed; SLOWSEARCH makes it hang.
        // Outside the workspace, where no client can write (search_files never runs a
        // program from there), and readable by commands as a system path is.
        writeFileSync(
          join(top, 'rg-bin', 'rg'),
          `#!/bin/sh\ncase "$*" in *SLOWSEARCH*) exec sleep 31.4159;; esac\ncat ${outsideSecret} > "$PWD/.rg-probe" 2>&1\nexec /usr/bin/rg -L "$@"\n`,
          { mode: 0o755 },
        );
        outsideSocket = Bun.listen({ unix: join(top, 'outside.sock'), socket: { data() {} } });
        chmodSync(join(top, 'outside.sock'), 0o777);
        return [join(workspace, 'attack.py')];
      },
      path: (workspace) => `${join(dirname(workspace), 'rg-bin')}:/usr/bin:/bin`,
      env: (top) => ({ HIDE_RATE_LIMIT_CONCURRENT: '2', HIDE_SANDBOX_READ_ONLY_PATHS: [...DEFAULT_READ_ONLY, ...DEFAULT_PROC, join(top, 'rg-bin')].join(',') }),
    });
    ({ server, dir, ws } = running);
    // Both clients have a launcher before the attacks start.
    expect((await call(ALICE, 'true')).exitCode).toBe(0);
    expect((await call(BOB, 'true')).exitCode).toBe(0);
  });

  afterAll(async () => {
    await running?.stop();
    outsideSocket?.stop(true);
  });

  test('/health reports every layer in force', async () => {
    const body = (await (await fetch(`${server.url}/health`)).json()) as { sandboxLayers: string[] };
    const expected = [
      'landlock-fs',
      'landlock-net',
      'landlock-scope',
      'seccomp',
      ...(uid === undefined ? ['pid-namespace', 'private-proc', 'private-tmp', 'private-network', 'read-only-mounts'] : []),
      'non-dumpable',
      'launcher-per-client',
    ];
    expect(body.sandboxLayers).toEqual(expected);
  });

  test("copying the server's and the launchers' descriptors with pidfd_getfd gets nothing", async () => {
    const targets = [...servers(), ...launchers()];
    const { out } = await attack(ALICE, 'steal', ...targets.map(String));
    const copied = Object.values(out as Record<string, { copied: number[] }>).flatMap((t) => t.copied);
    expect(copied).toEqual([]);
  });

  test('forged launcher messages naming an outside process group leave it alive and the server serving', async () => {
    await using victim = Bun.spawn(['setsid', 'sleep', '1000'], { stdout: 'ignore', stderr: 'ignore' });
    await waitFor(() => alive(victim.pid) && parentOf(victim.pid) === process.pid);
    const targets = [...servers(), ...launchers()];
    const raw = await forge(String(victim.pid), ...targets.map(String));
    expect(JSON.parse(readFileSync(join(ws, 'forge.json'), 'utf8'))).toEqual({ wrote: [] });
    expect(raw.stdout).not.toContain('FORGED');
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await call(BOB, 'echo', ['bob-ok'])).stdout).toBe('bob-ok\n');
    expect((await call(ALICE, 'echo', ['alice-ok'])).stdout).toBe('alice-ok\n');
    // The server has since cleaned up after alice's call and served two more.
    expect(alive(victim.pid)).toBe(true);
    victim.kill('SIGKILL');
  });

  test("a forged result for another client's running call leaves its real output intact", async () => {
    const m = newMarker();
    const bob = call(BOB, 'sh', ['-c', `sleep ${m} & wait; echo REAL-BOB`], { timeoutSeconds: 20 });
    await waitFor(() => pidsOf(`sleep\0${m}`).length > 0, 5000, "bob's command");
    await forge('1', ...servers().map(String), ...launchers().map(String));
    expect(JSON.parse(readFileSync(join(ws, 'forge.json'), 'utf8'))).toEqual({ wrote: [] });
    for (const pid of pidsOf(`sleep\0${m}`)) process.kill(pid, 'SIGKILL');
    const result = await bob;
    expect({ stdout: result.stdout, exitCode: result.exitCode }).toEqual({ stdout: 'REAL-BOB\n', exitCode: 0 });
  });

  test("/proc of the server, the launchers and another client's command reveals nothing", async () => {
    const m = newMarker();
    const bob = call(BOB, 'sleep', [m], { timeoutSeconds: 20 });
    const [bobPid] = (await waitFor(() => sleepers(m), 5000, "bob's command")) as number[];
    const { out } = await attack(ALICE, 'snoop', ...servers().map(String), String(bobPid), ...launchers().map(String));
    expect(out.read).toEqual([]);
    process.kill(bobPid!, 'SIGKILL');
    await bob;
  });

  test.if(uid === undefined)("as root, another client's command lines are not even listed in /proc", async () => {
    const m = newMarker();
    const bob = call(BOB, 'sleep', [m], { timeoutSeconds: 20 });
    const [bobPid] = (await waitFor(() => sleepers(m), 5000, "bob's command")) as number[];
    const r = await call(ALICE, 'sh', ['-c', `cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'`]);
    expect(r.stdout).not.toContain(m);
    // Her own launcher (the namespace's init) is all she sees of hide.
    expect(r.stdout.split('__launcher').length - 1).toBe(1);
    process.kill(bobPid!, 'SIGKILL');
    await bob;
  });

  test.if(uid === undefined)("as root, another client's private TMPDIR does not exist in a command's temp directory, its own and the workspace do", async () => {
    const bobTmp = (await call(BOB, 'sh', ['-c', 'echo "$TMPDIR"'])).stdout.trim();
    const aliceTmp = (await call(ALICE, 'sh', ['-c', 'echo "$TMPDIR"'])).stdout.trim();
    expect([bobTmp, aliceTmp].map((p) => existsSync(p))).toEqual([true, true]);
    // stat needs no Landlock right: only the mount namespace decides what a path names.
    const probe = (p: string) => `test -e ${p} && echo ${p}: there || echo ${p}: missing`;
    const r = await call(ALICE, 'sh', ['-c', [bobTmp, `${bobTmp}.lock`, `${aliceTmp}.lock`, aliceTmp, ws].map(probe).join('; ')]);
    expect(r.stdout.trim().split('\n')).toEqual([`${bobTmp}: missing`, `${bobTmp}.lock: missing`, `${aliceTmp}.lock: missing`, `${aliceTmp}: there`, `${ws}: there`]);
  });

  test('with the network off no socket of any family is created; socketpair works; an outside Unix socket is unreachable', async () => {
    const { out } = await attack(ALICE, 'net', join(dir, 'outside.sock'));
    const denied = 'Operation not permitted';
    expect(out).toEqual({
      tcp: denied,
      mptcp: denied,
      sctp: denied,
      udp: denied,
      netlink: denied,
      packet: denied,
      unix: denied,
      inet6: denied,
      socketpair: 'works',
      dgram: denied,
    });
  });

  test('setsid, a forged environment and a double fork: nothing of the call survives it', async () => {
    const m = newMarker();
    const { out } = await attack(ALICE, 'escape', m);
    expect(out).toEqual({ started: true });
    await waitFor(() => pidsOf(`sleep\0${m}`).length === 0, 5000, 'the escaped sleep to die');
  });

  test('two processes that replace each other when killed do not outlive the call, nor hold it open', async () => {
    const m = newMarker();
    const { out } = await attack(ALICE, 'pair', m);
    expect(out).toEqual({ started: true });
    await waitFor(() => pidsOf(`pair\0${m}`).length === 0, 10_000, 'the pair to die');
  }, 20_000);

  test('a process whose main thread exited (it looks like a zombie) does not outlive the call', async () => {
    const m = newMarker();
    const { raw, out } = await attack(ALICE, 'ghost', m);
    expect(out, JSON.stringify(raw)).toEqual({ started: true });
    await waitFor(() => existsSync(join(ws, `ghost-${m}.pid`)), 5000, 'the ghost to start');
    // Found by a live thread's own command line: the main thread, gone, shows none.
    await waitFor(() => !ghostAlive(`ghost\0${m}`), 5000, 'the ghost to die');
  }, 20_000);

  test.if(uid !== undefined)("unprivileged: a killed launcher's 200 escaped processes are swept by the server, which keeps serving", async () => {
    const m = newMarker();
    const r = await call(ALICE, 'sh', ['-c', `for i in $(seq 200); do setsid sleep ${m} & done; sleep 0.3; kill -9 $PPID`], { timeoutSeconds: 20 });
    expect(r.error).toContain('launcher exited');
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    await waitFor(() => pidsOf(`sleep\0${m}`).length === 0, 10_000, 'the escaped processes to die');
    expect((await call(BOB, 'echo', ['bob-ok'])).stdout).toBe('bob-ok\n');
  }, 30_000);

  test('clone(CLONE_PARENT) is refused: a command cannot make siblings of itself under its launcher', async () => {
    const { out } = await attack(ALICE, 'clone_parent');
    expect(out).toEqual({ clone_parent: 'Operation not permitted' });
  });

  test.if(uid === undefined)('as root with the network off, /proc/net shows no socket of the host (nor the server port)', async () => {
    // Inet sockets, named Unix sockets (the call's own pipes are unnamed socketpairs), interfaces.
    const script = "for f in tcp tcp6 udp udp6; do tail -n +2 /proc/net/$f; done | grep -c . ; tail -n +2 /proc/net/unix | awk 'NF > 7' | grep -c . ; tail -n +3 /proc/net/dev | cut -d: -f1";
    const r = await call(ALICE, 'sh', ['-c', script]);
    expect(r.stdout.trim().split(/\s+/)).toEqual(['0', '0', 'lo']);
  });

  test("the limits, priority and CPU placement of the server, the launchers and another client's command stay untouched", async () => {
    const m = newMarker();
    const bob = call(BOB, 'sleep', [m], { timeoutSeconds: 20 });
    const [bobPid] = (await waitFor(() => sleepers(m), 5000, "bob's command")) as number[];
    const { out } = await attack(ALICE, 'limits', ...servers().map(String), String(bobPid), ...launchers().map(String));
    expect(out).toEqual({ done: [], own: ['ok'] });
    for (const pid of servers()) expect(readFileSync(`/proc/${pid}/limits`, 'utf8')).not.toMatch(/^Max open files\s+3\s/m);
    process.kill(bobPid!, 'SIGKILL');
    await bob;
  });

  test("System V shared memory is not shared with another client's commands", async () => {
    const key = String(4000 + Math.floor(Math.random() * 100000));
    const created = JSON.parse((await call(BOB, 'python3', ['attack.py', 'ipc', 'create', key])).stdout);
    const read = JSON.parse((await call(ALICE, 'python3', ['attack.py', 'ipc', 'read', key])).stdout);
    // As root each command has an IPC namespace of its own; unprivileged, System V IPC is refused.
    if (uid === undefined) expect({ created, read }).toEqual({ created: { create: 'ok' }, read: { read: 'No such file or directory' } });
    else expect({ created, read }).toEqual({ created: { create: 'Operation not permitted' }, read: { read: 'Operation not permitted' } });
  });

  test('a stopped launcher fails the pending call at its deadline and frees its slot', async () => {
    const m = newMarker();
    const pending = call(ALICE, 'sleep', [m], { timeoutSeconds: 1 });
    // A start takes more than 5 s on a machine loaded past 20 (a launcher to boot first).
    const [sleeper] = (await waitFor(() => sleepers(m), 15_000, 'the command')) as number[];
    const launcher = launcherOf(sleeper!);
    process.kill(launcher, 'SIGSTOP');
    const result = await pending;
    expect(result.isError).toBe(true);
    expect(result.error).toContain('sandbox launcher did not finish the command');
    await waitFor(() => pidsOf(`sleep\0${m}`).length === 0, 5000, 'the command to die with its launcher');
    // Concurrency 2 per client: both slots must be free again.
    const [a, b] = await Promise.all([call(ALICE, 'echo', ['one']), call(ALICE, 'echo', ['two'])]);
    expect([a.stdout, b.stdout]).toEqual(['one\n', 'two\n']);
  }, 40_000);

  test('a killed launcher fails its call at once, takes its commands along, and the next call works', async () => {
    const m = newMarker();
    const pending = call(ALICE, 'sh', ['-c', `setsid sleep ${m} & sleep ${m}`], { timeoutSeconds: 20 });
    await waitFor(() => pidsOf(`sleep\0${m}`).length === 2, 5000, 'the commands');
    const launcher = launcherOf(pidsOf(`sleep\0${m}`)[0]!);
    process.kill(launcher, 'SIGKILL');
    const result = await pending;
    expect(result.isError).toBe(true);
    expect(result.error).toContain('launcher exited');
    await waitFor(() => pidsOf(`sleep\0${m}`).length === 0, 5000, 'the commands to die');
    const back = await call(ALICE, 'echo', ['back']);
    expect(back.stdout, JSON.stringify(back)).toBe('back\n');
  });

  test.if(uid !== undefined)('a command that kills its launcher as it starts is not run a second time, even while the launcher is busy writing output', async () => {
    // A process of the same client floods output, so the launcher's writes to the server queue behind it: the
    // command is under way well before the launcher could report it. Run again on the replacement, it would say so.
    for (let i = 0; i < 2; i++) {
      const flood = await callTool(`${server.url}/mcp`, 'process_start', { command: 'cat', arguments: ['/dev/zero'], timeoutSeconds: 30 }, { 'X-API-Key': ALICE });
      const read = await callTool(`${server.url}/mcp`, 'process_read', { processId: flood.processId, waitMs: 1000, maxBytes: 1 }, { 'X-API-Key': ALICE });
      expect(read.output).toBe('\0');
    }
    const runs = `runs-${newMarker()}`;
    const r = await call(ALICE, 'sh', ['-c', `echo ran >> ${runs}; kill -9 $PPID`], { timeoutSeconds: 10 });
    expect(r.error).toContain('launcher exited');
    expect(readFileSync(join(ws, runs), 'utf8')).toBe('ran\n');
    expect((await call(ALICE, 'echo', ['back'])).stdout).toBe('back\n');
  }, 20_000);

  test.if(uid !== undefined)('a call resent to a new launcher keeps its first deadline: with its time spent waiting it is not started at all', async () => {
    // While A runs its launcher is stopped (from outside: its commands may not), so B waits in its queue; it is
    // killed once B's timeout (1 s) is long spent. B, never taken, is resent to the replacement, where its clock
    // must not start again.
    const m = newMarker();
    const ma = newMarker();
    const a = call(ALICE, 'sleep', [ma], { timeoutSeconds: 30 });
    const [sleeper] = (await waitFor(() => sleepers(ma), 5000, "A's command")) as number[];
    const launcher = launcherOf(sleeper!);
    process.kill(launcher, 'SIGSTOP');
    const pending = call(ALICE, 'sh', ['-c', `touch b-ran-${m}; sleep ${m}`], { timeoutSeconds: 1 });
    // Counted in flight, B is on its way to the stopped launcher.
    await waitFor(async () => (await toolCallsInFlight(server.url)) === 2, 5000, 'B in flight');
    await Bun.sleep(2500);
    process.kill(launcher, 'SIGKILL');
    const b = await pending;
    expect({ timedOut: b.timedOut, error: b.error, ran: existsSync(join(ws, `b-ran-${m}`)) }).toEqual({ timedOut: true, error: "command timed out after 1 s: the call's time ran out before the command could start", ran: false });
    expect((await a).error).toContain('launcher exited');
    expect((await call(ALICE, 'echo', ['back'])).stdout).toBe('back\n');
  }, 20_000);

  test.if(uid !== undefined)('a call cancelled while its launcher was stopped does not start when the launcher goes on', async () => {
    const m = newMarker();
    const ma = newMarker();
    const a = call(ALICE, 'sleep', [ma], { timeoutSeconds: 20 });
    const [sleeper] = (await waitFor(() => sleepers(ma), 5000, "A's command")) as number[];
    const launcher = launcherOf(sleeper!);
    process.kill(launcher, 'SIGSTOP');
    // B's run and, once its client hangs up, its cancel wait in the stopped launcher's input, one behind the other.
    const hangUp = new AbortController();
    const b = fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'X-API-Key': ALICE },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'sh', arguments: ['-c', `touch b-ran-${m}; sleep ${m}`] } } }),
      signal: hangUp.signal,
    }).catch(() => 'hung up');
    await waitFor(async () => (await toolCallsInFlight(server.url)) === 2, 5000, 'B in flight');
    await Bun.sleep(100);
    hangUp.abort();
    expect(await b).toBe('hung up');
    await Bun.sleep(200);
    process.kill(launcher, 'SIGCONT');
    process.kill(sleeper!, 'SIGTERM');
    expect((await a).exitCode).toBe(143);
    // Taken after B's run and cancel: by its answer B's fate is settled.
    expect((await call(ALICE, 'echo', ['after'])).stdout).toBe('after\n');
    expect({ ran: existsSync(join(ws, `b-ran-${m}`)), running: pidsOf(`sleep\0${m}`) }).toEqual({ ran: false, running: [] });
    // Whether its command had started and been killed at once, only the server knows: it says so in B's audit line.
    const bLine = (await waitFor(
      () =>
        readFileSync(join(dir, 'secrets', 'audit.jsonl'), 'utf8')
          .split('\n')
          .filter((l) => l.includes(`b-ran-${m}`))
          .map((l) => JSON.parse(l) as { event_type: string; error?: string })
          .find((l) => l.event_type === 'tool_call') ?? null,
      5000,
      "B's audit line",
    )) as { error?: string };
    expect(bLine.error).toBe('command cancelled: the client went away: cancelled before start');
  }, 20_000);

  test('set-id bits cannot be set; secrets of the system stay unreadable', async () => {
    const r = await call(ALICE, 'sh', ['-c', 'cp /bin/true suid && chmod 4755 suid; chmod 2755 suid; cat /etc/shadow']);
    expect(r.exitCode).not.toBe(0);
    expect(statSync(join(ws, 'suid')).mode & 0o6000).toBe(0);
    expect(r.stderr).toContain('/etc/shadow: Permission denied');
  });

  test('ripgrep runs sandboxed: a symlink it follows cannot reach outside the workspace', async () => {
    const r = await callTool(`${server.url}/mcp`, 'search_files', { pattern: 'TOP-SECRET' }, { 'X-API-Key': ALICE });
    expect({ matches: r.matches, engine: r.engine }).toEqual({ matches: [], engine: 'ripgrep' });
    // Landlock refuses it; as root the file, beside the workspace in the temp directory, is not even there.
    expect(readFileSync(join(ws, '.rg-probe'), 'utf8')).toContain(uid === undefined ? 'No such file or directory' : 'Permission denied');
  });

  test('shutdown kills a long search', async () => {
    const search = callTool(`${server.url}/mcp`, 'search_files', { pattern: 'SLOWSEARCH' }, { 'X-API-Key': ALICE }).catch(() => null);
    await waitFor(() => pidsOf('sleep\x0031.4159').length > 0, 5000, 'the search');
    await server.stop();
    await search;
    await waitFor(() => pidsOf('sleep\x0031.4159').length === 0, 5000, 'the search to die');
  }, 20_000);
});
