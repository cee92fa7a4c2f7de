/**
 * One command inside the launcher: the exec module's process-group runner
 * (src/exec/spawn.ts), started in a PID namespace of its own when the
 * launcher can make one, with per-call resource limits applied to the leader
 * right after it starts (by the unfiltered thread), and the caller's hook for
 * sweeping processes that left the group once the leader has exited.
 *
 * Known gap of the after-spawn approach (Bun.spawn has no pre-exec hook): a
 * leader that forks within microseconds of its exec, before the limits land,
 * gives those early children the launcher's limits (for processes, the
 * commands' own plus a reserve: LAUNCHER_PROCESS_RESERVE). They are still in
 * the call's process group (and, as root, its PID namespace) and die with it.
 */
import { type LiveStart, type OutputSink, startLive } from '../exec/live.ts';
import { type ChildSpawn, notStarted, type RunningCommand, startCommand } from '../exec/spawn.ts';
import type { UnfilteredThread } from './unfiltered-thread.ts';
import { NativeProcess } from './native-process.ts';
import type { PidNamespaces } from './pidns.ts';
import type { SandboxRunRequest, SandboxStartRequest } from './protocol.ts';
import { hasLimits } from './rlimits.ts';

export { killGroup } from '../exec/group-signal.ts';
export type { RunningCommand } from '../exec/spawn.ts';

/**
 * Each child the init of a PID namespace of its own, started through libc
 * (native-process.ts): Bun.spawn would fork with the namespace pending on
 * this thread while the runtime runs.
 */
function spawnIn(pidns: PidNamespaces): ChildSpawn {
  return (spec) => NativeProcess.spawn(pidns, spec);
}

export function runCommand(
  req: Omit<SandboxRunRequest, 'signal'>,
  env: Record<string, string>,
  pidns: PidNamespaces | null,
  unfiltered: UnfilteredThread | null,
  onLeaderExit: () => void = () => {},
): RunningCommand {
  const limits = req.limits;
  const command = startCommand(req, {
    extraEnv: env,
    onLeaderExit,
    spawn: pidns ? spawnIn(pidns) : undefined,
    namespaceInit: pidns !== null,
  });
  if (command.pid === null || !hasLimits(limits)) return command;
  if (unfiltered === null) {
    command.cancel();
    return { ...command, result: command.result.then((r) => ({ ...notStarted('resource limits are configured but cannot be applied'), durationMs: r.durationMs })) };
  }
  const applied = unfiltered.apply(command.pid, limits);
  return {
    ...command,
    result: applied.then(async (error) => {
      if (error === null) return command.result;
      command.cancel();
      const r = await command.result;
      return { ...notStarted(`could not apply resource limits: ${error}`), durationMs: r.durationMs };
    }),
  };
}

/**
 * A long-lived process inside the launcher: the exec module's live start, in
 * a PID namespace of its own when the launcher can make one, with the same
 * per-call limits as a command. `limitsFailed` receives the reason when the
 * limits could not be applied (the group is killed then).
 */
export function startLiveCommand(
  req: SandboxStartRequest,
  env: Record<string, string>,
  pidns: PidNamespaces | null,
  unfiltered: UnfilteredThread | null,
  sink: OutputSink,
  limitsFailed: (reason: string) => void,
): LiveStart {
  const { limits, pendingBytes: _p, ...live } = req;
  if (hasLimits(limits) && unfiltered === null) return { ok: false, error: 'resource limits are configured but cannot be applied' };
  const started = startLive(live, sink, {
    extraEnv: env,
    spawn: pidns ? spawnIn(pidns) : undefined,
    forkTerminal: pidns ? (fork) => pidns.spawnInNew(fork) : undefined,
    namespaceInit: pidns !== null,
  });
  if (!started.ok || !hasLimits(limits)) return started;
  void unfiltered!.apply(started.handle.pid!, limits).then((error) => {
    if (error === null) return;
    limitsFailed(`could not apply resource limits: ${error}`);
    started.handle.signal('SIGKILL');
  });
  return started;
}
