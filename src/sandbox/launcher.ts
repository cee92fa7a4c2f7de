/**
 * The launcher: `hide __launcher`, a long-lived child of the server, one per
 * client. It confines itself once and then runs that client's commands, so
 * every command inherits the confinement while the server stays free to read
 * its keys and write its audit log. Protocol: newline-delimited JSON on
 * stdin/stdout (protocol.ts); diagnostics go to stderr, a pipe the server
 * logs from.
 *
 * Order of the layers, each before anything it protects:
 *  1. not dumpable — a command (same uid, no capabilities) can then neither
 *     ptrace us, nor read /proc/<us>/{fd,environ,mem}, nor copy our
 *     descriptors with pidfd_getfd (our pipes to the server); and no core
 *     files, for us or any command (a hard limit of 0 they inherit);
 *  2. child subreaper — orphans come to us, not to init;
 *  2b. as root, a /proc of its own PID namespace (private-proc.ts), and a
 *      temp directory that shows only its client's TMPDIR (private-tmp-view.ts);
 *  3. capabilities dropped (root) — all but CAP_SYS_ADMIN for this thread
 *     when a PID namespace per command is possible; nothing for what we exec;
 *  4. Landlock (and no_new_privs) — paths, TCP ports, signal and abstract
 *     socket scope;
 *  5. seccomp last — socket families, ptrace and descriptor theft, set-id
 *     modes, namespaces, stop signals where commands share our PID
 *     namespace (a thread started before it sends ours: unfiltered-thread.ts).
 */
import { realpathSync } from 'node:fs';
import { CAP_SYS_ADMIN, dropCapabilities, hasCapabilities } from './capabilities.ts';
import { restrictSelf, UnreachableGrantError } from './landlock.ts';
import { check, libc, SyscallError } from '../util/libc.ts';
import { becomeSubreaper, procMatchesOwnPids, sendStopSignalsThrough, sweepUntilNoneLeft } from './orphans.ts';
import { PidNamespaces } from './pidns.ts';
import { isolateNetwork } from './namespaces.ts';
import { mountPrivateProc, mountPrivatePts } from './private-proc.ts';
import { readOnlyOutside } from './read-only-mounts.ts';
import { showOnlyOwnTmp } from './private-tmp-view.ts';
import { type ClientMessage, jsonLines, LAUNCHER_CONFIG_ENV, type LauncherConfig, type LayerReport, type WireRunRequest } from './protocol.ts';
import type { LiveHandle } from '../exec/live.ts';
import { notStarted } from '../exec/spawn.ts';
import { LauncherWriter } from './launcher-writer.ts';
import { killGroup, type RunningCommand, runCommand, startLiveCommand } from './run-command.ts';
import { UnfilteredThread, UnfilteredThreadError } from './unfiltered-thread.ts';
import { forbidCoreDumps, lowerOwnLimits } from './rlimits.ts';
import { installSeccomp } from './seccomp.ts';
import { yieldToServer } from './yield-to-server.ts';
import { InflightMap } from '../util/inflight-map.ts';

const PR_SET_DUMPABLE = 4;
/**
 * Longest one sweep may hold the launcher's loop. Below the server's 4 s for
 * a terminate the launcher must carry out: a launcher that took longer would
 * be killed, and what it was sweeping left to the supervisor.
 */
const SWEEP_BLOCK_MS = 2000;
/** How soon after a child's exit the sweep runs: signals of a burst of exits share one. */
const EXIT_SWEEP_MS = 2;

// Every message leaves through one writer, in order; long-lived output is held while a write is on its way.
const writer = new LauncherWriter((text, done) => {
  process.stdout.write(text, () => done());
});

function send(message: unknown, onWritten?: () => void): void {
  writer.send(message, onWritten);
}

/**
 * With the network off no socket of any family is created: Landlock covers
 * only TCP, and MPTCP, SCTP, netlink or a pathname Unix socket would pass it.
 * With ports allowed, sockets are needed and Landlock limits TCP.
 */
function socketsAllowed(rules: LauncherConfig['rules']): boolean {
  if (rules.network === 'all') return true;
  return (rules.network.allowConnectPorts?.length ?? 0) + (rules.network.allowBindPorts?.length ?? 0) > 0;
}

/** Terminal devices, granted only over a devpts instance of the launcher's own. */
const PTY_DEVICES = ['/dev/ptmx', '/dev/pts'];

/**
 * The terminal devices to grant: /dev/ptmx only where it is a node of its own. In a container it is a link to
 * pts/ptmx, which the /dev/pts grant covers; granted by its name, a grant that must lead to itself, it would refuse
 * the launcher.
 */
function ptyDevices(): string[] {
  try {
    return realpathSync('/dev/ptmx') === '/dev/ptmx' ? PTY_DEVICES : ['/dev/pts'];
  } catch {
    return ['/dev/pts'];
  }
}

async function confine(config: LauncherConfig): Promise<{ report: LayerReport; pidns: PidNamespaces | null; unfiltered: UnfilteredThread; terminals: boolean }> {
  // While /proc/self is still ours to write: not dumpable, a process's /proc files belong to root, and Landlock
  // leaves /proc read-only to us too.
  const yieldMissed = yieldToServer(config.nice);
  check(libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), 'prctl(PR_SET_DUMPABLE, 0)');
  forbidCoreDumps();
  // Before any command starts: what one forks before its own limits land inherits these.
  lowerOwnLimits(config.ownLimits);
  becomeSubreaper();
  // Each read-write grant there at the start must be there still, and lead to itself, at every step that uses it: the
  // private temp view, the read-only mounts and Landlock each check the descriptor they use (a command of another
  // server may move a grant between any two of them).
  const presentAtStart = config.rules.presentAtStart ?? [];
  // Each command in a PID and an IPC namespace of its own (root only).
  const probed = hasCapabilities() ? PidNamespaces.openOrWhy({ ipc: true }) : { ns: null, why: null };
  const pidns = probed.ns;
  // With the capabilities for them, none is news the operator must hear: the mounts below need a namespace of our own.
  const namespaceRefused = probed.why ?? (pidns !== null && process.pid !== 1 ? 'the launcher was not started as the first process of a PID namespace of its own' : null);
  // Only inside a PID namespace of our own does a fresh /proc hide the rest.
  let privateProc = false;
  let privateTmp = false;
  let terminals = false;
  let mountRefused: string | null = null;
  let readOnlyMounts = false;
  let readOnlyRefused: string | null = null;
  let tmpViewRefused: string | null = null;
  if (pidns !== null && process.pid === 1) mountRefused = mountPrivateProc();
  // Only once / is private in this thread's mount namespace: a mount before that would reach the host's.
  if (pidns !== null && process.pid === 1 && mountRefused === null) {
    privateProc = true;
    terminals = mountPrivatePts(config.ptys);
    // In the same private mount namespace: other clients' TMPDIRs (and the sockets in them) are not there.
    if (config.tmpDir !== null) {
      // Where each grant must lead: a read-write one to itself, a read-only one where it led at the start.
      const ledTo = { ...config.rules.readOnlyAt, ...Object.fromEntries(presentAtStart.map((path) => [path, path])) };
      const view = showOnlyOwnTmp(config.tmpDir, [...config.rules.readWrite, ...config.rules.readOnly], ledTo, Object.values(config.rules.readOnlyAt ?? {}));
      privateTmp = view.shown;
      tmpViewRefused = view.refused;
    }
    // Last: the mounts above are made too, and read-only along with the rest where they are not granted.
    readOnlyRefused = readOnlyOutside(terminals ? [...config.rules.readWrite, ...ptyDevices()] : config.rules.readWrite, presentAtStart);
    readOnlyMounts = readOnlyRefused === null;
  }
  const networkRefused = pidns !== null && !socketsAllowed(config.rules) ? isolateNetwork() : null;
  const privateNetwork = pidns !== null && !socketsAllowed(config.rules) && networkRefused === null;
  if (config.dropCapabilities) dropCapabilities(pidns ? [CAP_SYS_ADMIN] : []);
  const landlock = restrictSelf({
    ...config.rules,
    readWrite: terminals ? [...config.rules.readWrite, ...ptyDevices()] : config.rules.readWrite,
    fifoDirsOwnMounts: privateTmp,
  });
  // Before the filter: the one thread that may still set another process's limits and send stop signals.
  const unfiltered = await UnfilteredThread.start();
  // No pids are protected: the filter binds this process too, and the
  // runtime signals its own threads (the collector suspends them that way).
  // Commands can signal this launcher only from the client it serves, and
  // with a PID namespace per command they cannot name it at all. Sharing
  // ours, they could stop it, so there stop signals are refused, and our
  // sweep's go through the unfiltered thread.
  const sharedPids = pidns === null;
  installSeccomp({ network: socketsAllowed(config.rules) ? 'on' : 'off', protectedPids: [], allowPidNamespace: !sharedPids, sysvIpc: !sharedPids, refuseStopSignals: sharedPids });
  if (sharedPids) sendStopSignalsThrough((fd) => unfiltered.stop(fd));
  return { report: { ...landlock, pidNamespace: pidns !== null, privateProc, privateTmp, privateNetwork, readOnlyMounts, seccomp: true, nonDumpable: true, namespaceRefused, mountRefused, networkRefused, readOnlyRefused, tmpViewRefused, yieldRefused: yieldMissed.length > 0 ? yieldMissed.join('; ').slice(0, 1000) : null }, pidns, unfiltered, terminals };
}

/**
 * What a launcher short of descriptors or memory is told: no word on what the
 * kernel allows. Not ENOSPC: from unshare it is also how a kernel whose
 * namespaces an administrator turned off (user.max_net_namespaces=0) says no.
 */
const WANT_OF_RESOURCES = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN']);

/**
 * Whether a failure to confine says what the kernel or the container allows
 * (HIDE_SANDBOX=auto then runs commands unconfined): not for a granted path
 * out of reach, which is the configuration's doing, nor for want of resources
 * (descriptors, memory, processes or threads, its unfiltered thread among them).
 */
export function saysWhatKernelAllows(err: unknown): boolean {
  if (err instanceof UnreachableGrantError || err instanceof UnfilteredThreadError) return false;
  // A libc call's error, or node:fs's (reading mountinfo, opening a grant) with its errno's name.
  const code = err instanceof SyscallError ? err.code : (err as NodeJS.ErrnoException | null)?.code;
  return !(typeof code === 'string' && WANT_OF_RESOURCES.has(code));
}

/** Launcher main loop; resolves when the server closes stdin. */
export async function runLauncher(): Promise<void> {
  let config: LauncherConfig;
  let pidns: PidNamespaces | null;
  let unfiltered: UnfilteredThread;
  let terminals: boolean;
  try {
    const raw = process.env[LAUNCHER_CONFIG_ENV];
    if (!raw) throw new Error(`${LAUNCHER_CONFIG_ENV} is not set`);
    config = JSON.parse(raw) as LauncherConfig;
    delete process.env[LAUNCHER_CONFIG_ENV];
    const confined = await confine(config);
    pidns = confined.pidns;
    unfiltered = confined.unfiltered;
    terminals = confined.terminals;
    send({ t: 'ready', report: confined.report });
  } catch (err) {
    send({ t: 'fatal', error: (err as Error).message, kernel: saysWhatKernelAllows(err) });
    process.exitCode = 1;
    return;
  }

  const env: Record<string, string> = config.tmpDir ? { TMPDIR: config.tmpDir } : {};
  const running = new InflightMap<number, RunningCommand>();
  const live = new InflightMap<number, LiveHandle>();
  const leaders = new Set<number>();
  // Writes still waiting for their outcome, by process id and seq: a `cancel-write` withdraws one.
  const writes = new InflightMap<string, AbortController>();

  // Without a PID namespace per command, a process that left its group
  // (setsid, double fork) is re-parented to us, and nothing says which call
  // it came from: every such orphan is killed when any call ends or a child
  // of ours exits, and swept every second while calls run. With namespaces
  // orphans never reach us.
  const sweeps = pidns === null && procMatchesOwnPids();
  let sweepTimer: ReturnType<typeof setTimeout> | undefined;
  let sweepSoon = false;
  const sweep = () => {
    clearTimeout(sweepTimer);
    sweepTimer = undefined;
    sweepSoon = false;
    if (!sweeps) return;
    // The whole forest is stopped before any of it dies (see sweepUntilNoneLeft), which blocks this loop, but it
    // serves only this client, whose commands left what it kills. Past the bound, the client's next messages are
    // read and the sweep goes on.
    if (!sweepUntilNoneLeft({ keep: leaders, limitMs: SWEEP_BLOCK_MS, waitForDying: false })) sweepTimer = setTimeout(sweep, 10);
    else if (running.size + live.size > 0) sweepTimer = setTimeout(sweep, 1000);
  };
  // A child of ours that ended is a zombie, counted against the uid's processes (every client's commands run as
  // that uid) until it is reaped, and one that hops (fork, then the parent exits) hands us its orphan each time:
  // a chain doing that as fast as it can left thousands before the next timed sweep, and every client's forks
  // failed meanwhile. So an exit brings the sweep forward, to reap at once and kill the orphan with its tree.
  if (sweeps) {
    process.on('SIGCHLD', () => {
      if (sweepSoon) return;
      sweepSoon = true;
      clearTimeout(sweepTimer);
      sweepTimer = setTimeout(sweep, EXIT_SWEEP_MS);
    });
  }

  // Runs accepted but not started yet (their `accepted` is on its way), and whether a cancel came for them meanwhile.
  const accepting = new InflightMap<number, boolean>();
  const run = (id: number, wire: WireRunRequest) => {
    let leader: number | null = null;
    const { progress, ...req } = wire;
    const onProgress = progress ? (p: { bytes: number; tail: string }) => send({ t: 'progress', id, bytes: p.bytes, tail: p.tail }) : undefined;
    const command = runCommand({ ...req, onProgress }, env, pidns, unfiltered, () => {
      if (leader !== null) leaders.delete(leader);
      sweep();
    });
    leader = command.pid;
    running.set(id, command);
    if (leader !== null) leaders.add(leader);
    if (sweeps) sweepTimer ??= setTimeout(sweep, 1000);
    void command.result.then((res) => {
      running.delete(id);
      send({ t: 'result', id, res });
    });
  };

  try {
    for await (const message of jsonLines<ClientMessage>(Bun.stdin.stream())) {
      if (message.t === 'run') {
        const { id } = message;
        // The server resends a call to our replacement when we die before saying we took it. So the command
        // starts only once `accepted` is in the pipe: said, and never run, costs the call; run, and unsaid,
        // would run it twice.
        // A turn later still: a write that completes at once calls back at once, and a cancel read in the
        // same chunk as the run is then seen before anything starts.
        accepting.set(id, false);
        send({ t: 'accepted', id }, () =>
          setImmediate(() => {
            const cancelled = accepting.get(id);
            accepting.delete(id);
            if (cancelled) send({ t: 'result', id, res: { ...notStarted('cancelled before start'), cancelled: true } });
            else run(id, message.req);
          }),
        );
      } else if (message.t === 'cancel') {
        if (accepting.has(message.id)) accepting.set(message.id, true);
        else running.get(message.id)?.cancel();
      } else if (message.t === 'start') {
        const { id, req } = message;
        if (live.has(id) || running.has(id)) continue;
        if (req.terminal && !terminals) {
          const error = 'a terminal is not available in this sandbox: it needs a pseudo-terminal instance of its own, which only a server running as root, and allowed to mount, can have; start the process without `terminal`';
          send({ t: 'exit', id, exit: { exitCode: -1, signal: null, durationMs: 0, spawnError: error } });
          continue;
        }
        let limitsError: string | null = null;
        const started = startLiveCommand(req, env, pidns, unfiltered, (chunk, lost) => writer.output(id, chunk, req.pendingBytes, lost), (reason) => {
          limitsError = reason;
        });
        if (!started.ok) {
          send({ t: 'exit', id, exit: { exitCode: -1, signal: null, durationMs: 0, spawnError: started.error } });
          continue;
        }
        const { handle } = started;
        const leader = handle.pid!;
        live.set(id, handle);
        leaders.add(leader);
        send({ t: 'started', id, pid: leader });
        if (sweeps) sweepTimer ??= setTimeout(sweep, 1000);
        void handle.exited.then((exit) => {
          live.delete(id);
          leaders.delete(leader);
          sweep();
          send({ t: 'exit', id, exit: limitsError === null ? exit : { ...exit, spawnError: limitsError } });
        });
      } else if (message.t === 'write') {
        const { id, seq } = message;
        const withdraw = new AbortController();
        writes.set(`${id}:${seq}`, withdraw);
        const outcome = live.get(id)?.write(Buffer.from(message.data, 'base64'), withdraw.signal) ?? Promise.resolve('closed' as const);
        void outcome.then((o) => {
          writes.delete(`${id}:${seq}`);
          send({ t: 'wrote', id, seq, outcome: o });
        });
      } else if (message.t === 'cancel-write') {
        writes.get(`${message.id}:${message.seq}`)?.abort();
      } else if (message.t === 'close-input') {
        live.get(message.id)?.closeInput();
      } else if (message.t === 'signal') {
        live.get(message.id)?.signal(message.signal);
      } else if (message.t === 'terminate') {
        live.get(message.id)?.terminate();
      }
    }
  } catch (err) {
    console.error(`hide launcher: ${(err as Error).message}`);
  } finally {
    // The server is gone or closed us: nothing we started may outlive it.
    for (const pid of leaders) killGroup(pid, 'SIGKILL');
    // No later sweep: this one takes the time it needs.
    if (sweeps) sweepUntilNoneLeft();
  }
  process.exit(0);
}
