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
 *     descriptors with pidfd_getfd (our pipes to the server);
 *  2. child subreaper — orphans come to us, not to init;
 *  2b. as root, a /proc of its own PID namespace (private-proc.ts);
 *  3. capabilities dropped (root) — all but CAP_SYS_ADMIN for this thread
 *     when a PID namespace per command is possible; nothing for what we exec;
 *  4. Landlock (and no_new_privs) — paths, TCP ports, signal and abstract
 *     socket scope;
 *  5. seccomp last — socket families, ptrace and descriptor theft, set-id
 *     modes, namespaces, signals aimed at us.
 */
import { CAP_SYS_ADMIN, dropCapabilities, hasCapabilities } from './capabilities.ts';
import { restrictSelf } from './landlock.ts';
import { check, libc } from './libc.ts';
import { becomeSubreaper, procMatchesOwnPids, sweepOrphans } from './orphans.ts';
import { PidNamespaces } from './pidns.ts';
import { isolateNetwork } from './namespaces.ts';
import { mountPrivateProc } from './private-proc.ts';
import { type ClientMessage, jsonLines, LAUNCHER_CONFIG_ENV, type LauncherConfig, type LayerReport } from './protocol.ts';
import { killGroup, type RunningCommand, runCommand } from './run-command.ts';
import { LimitsThread } from './limits-thread.ts';
import { installSeccomp } from './seccomp.ts';

const PR_SET_DUMPABLE = 4;

function send(message: unknown): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
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

async function confine(config: LauncherConfig): Promise<{ report: LayerReport; pidns: PidNamespaces | null; limitsThread: LimitsThread }> {
  check(libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), 'prctl(PR_SET_DUMPABLE, 0)');
  becomeSubreaper();
  // Each command in a PID and an IPC namespace of its own (root only).
  const pidns = hasCapabilities() ? PidNamespaces.open({ ipc: true }) : null;
  // Only inside a PID namespace of our own does a fresh /proc hide the rest.
  let privateProc = false;
  if (pidns !== null && process.pid === 1) {
    mountPrivateProc();
    privateProc = true;
  }
  const privateNetwork = pidns !== null && !socketsAllowed(config.rules);
  if (privateNetwork) isolateNetwork();
  if (config.dropCapabilities) dropCapabilities(pidns ? [CAP_SYS_ADMIN] : []);
  const landlock = restrictSelf(config.rules);
  // Before the filter: the one thread that may still set another process's limits.
  const limitsThread = await LimitsThread.start();
  // No pids are protected: the filter binds this process too, and the
  // runtime signals its own threads (the collector suspends them that way).
  // Commands can signal this launcher only from the client it serves, and
  // with a PID namespace per command they cannot name it at all.
  installSeccomp({ network: socketsAllowed(config.rules) ? 'on' : 'off', protectedPids: [], allowPidNamespace: pidns !== null, sysvIpc: pidns !== null });
  return { report: { ...landlock, pidNamespace: pidns !== null, privateProc, privateNetwork, seccomp: true, nonDumpable: true }, pidns, limitsThread };
}

/** Launcher main loop; resolves when the server closes stdin. */
export async function runLauncher(): Promise<void> {
  let config: LauncherConfig;
  let pidns: PidNamespaces | null;
  let limitsThread: LimitsThread;
  try {
    const raw = process.env[LAUNCHER_CONFIG_ENV];
    if (!raw) throw new Error(`${LAUNCHER_CONFIG_ENV} is not set`);
    config = JSON.parse(raw) as LauncherConfig;
    delete process.env[LAUNCHER_CONFIG_ENV];
    const confined = await confine(config);
    pidns = confined.pidns;
    limitsThread = confined.limitsThread;
    send({ t: 'ready', report: confined.report });
  } catch (err) {
    send({ t: 'fatal', error: (err as Error).message });
    process.exitCode = 1;
    return;
  }

  const env: Record<string, string> = config.tmpDir ? { TMPDIR: config.tmpDir } : {};
  const running = new Map<number, RunningCommand>();
  const leaders = new Set<number>();

  // Without a PID namespace per command, a process that left its group
  // (setsid, double fork) is re-parented to us, and nothing says which call
  // it came from: every such orphan is killed when any call ends, and swept
  // every second while calls run. With namespaces orphans never reach us.
  const sweeps = pidns === null && procMatchesOwnPids();
  let sweepTimer: ReturnType<typeof setTimeout> | undefined;
  const sweep = () => {
    clearTimeout(sweepTimer);
    sweepTimer = undefined;
    if (!sweeps) return;
    const killed = sweepOrphans(leaders);
    if (killed > 0) sweepTimer = setTimeout(sweep, 10);
    else if (running.size > 0) sweepTimer = setTimeout(sweep, 1000);
  };

  try {
    for await (const message of jsonLines<ClientMessage>(Bun.stdin.stream())) {
      if (message.t === 'run') {
        const { id } = message;
        let leader: number | null = null;
        const command = runCommand(message.req, env, pidns, limitsThread, () => {
          if (leader !== null) leaders.delete(leader);
          sweep();
        });
        leader = command.pid;
        running.set(id, command);
        if (leader !== null) {
          leaders.add(leader);
          send({ t: 'started', id });
        }
        if (sweeps) sweepTimer ??= setTimeout(sweep, 1000);
        void command.result.then((res) => {
          running.delete(id);
          send({ t: 'result', id, res });
        });
      } else if (message.t === 'cancel') {
        running.get(message.id)?.cancel();
      }
    }
  } catch (err) {
    console.error(`hide launcher: ${(err as Error).message}`);
  } finally {
    // The server is gone or closed us: nothing we started may outlive it.
    for (const pid of leaders) killGroup(pid, 'SIGKILL');
    if (sweeps) sweepOrphans(new Set());
  }
  process.exit(0);
}
