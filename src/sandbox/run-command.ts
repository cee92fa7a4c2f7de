/**
 * One command inside the launcher: the exec module's process-group runner
 * (src/exec/spawn.ts), started in a PID namespace of its own when the
 * launcher can make one, with per-call resource limits applied to the leader
 * right after it starts, and the caller's hook for sweeping processes that
 * left the group once the leader has exited.
 */
import { type RunningCommand, startCommand } from '../exec/spawn.ts';
import type { PidNamespaces } from './pidns.ts';
import type { SandboxRunRequest } from './protocol.ts';
import { hasLimits, setResourceLimits } from './rlimits.ts';

export { killGroup, type RunningCommand } from '../exec/spawn.ts';

export function runCommand(
  req: Omit<SandboxRunRequest, 'signal'>,
  env: Record<string, string>,
  pidns: PidNamespaces | null,
  onLeaderExit: () => void = () => {},
): RunningCommand {
  const limits = req.limits;
  return startCommand(req, {
    extraEnv: env,
    onLeaderExit,
    forkIn: pidns ? (fork) => pidns.spawnInNew(fork) : undefined,
    // Applied right after spawn: the leader has just exec'd, and anything it
    // forks from here on inherits the limits.
    afterSpawn: (pid) => {
      if (!hasLimits(limits)) return null;
      try {
        setResourceLimits(limits, pid);
        return null;
      } catch (err) {
        return `could not apply resource limits: ${(err as Error).message}`;
      }
    },
  });
}
