/**
 * One command inside the launcher: spawn in its own process group with stdin
 * closed, per-call resource limits on the leader, output capped per stream
 * (the excess drained and dropped), timeout or cancel → TERM the group then
 * KILL after a grace period, and the group killed once the leader exits so
 * no background descendant outlives the call.
 */
import { constants } from 'node:os';
import type { SandboxRunRequest, SandboxRunResult } from './protocol.ts';
import { hasLimits, setResourceLimits } from './rlimits.ts';

/** Delay between SIGTERM and SIGKILL for a group that ignores TERM. */
export const KILL_GRACE_MS = 1000;

export function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // ESRCH: the group is already gone.
  }
}

async function capture(stream: ReadableStream<Uint8Array>, cap: number): Promise<{ text: string; truncated: boolean }> {
  const kept: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  try {
    for await (const chunk of stream) {
      if (size >= cap) {
        if (chunk.byteLength > 0) truncated = true;
        continue;
      }
      const take = Math.min(chunk.byteLength, cap - size);
      // Copy the kept part so a large chunk's buffer is not retained whole.
      kept.push(take === chunk.byteLength ? chunk : chunk.slice(0, take));
      size += take;
      if (take < chunk.byteLength) truncated = true;
    }
  } catch {
    // The pipe broke as the group was killed; keep what arrived.
  }
  return { text: new TextDecoder().decode(Buffer.concat(kept)), truncated };
}

function failed(message: string, started: number): SandboxRunResult {
  return {
    stdout: '',
    stderr: '',
    exitCode: -1,
    signal: null,
    timedOut: false,
    cancelled: false,
    truncated: false,
    durationMs: performance.now() - started,
    spawnError: message,
  };
}

/** A running call: its pid once spawned, a cancel handle, and the result. */
export interface RunningCommand {
  pid: number | null;
  cancel(): void;
  result: Promise<SandboxRunResult>;
}

/**
 * Starts one command. `onLeaderExit` runs once the leader has exited and its
 * group was killed: the launcher then sweeps processes that left the group,
 * which may still hold the output pipes open.
 */
export function runCommand(
  req: Omit<SandboxRunRequest, 'signal'>,
  extraEnv: Record<string, string> = {},
  onLeaderExit: () => void = () => {},
): RunningCommand {
  const started = performance.now();
  let proc: ReturnType<typeof Bun.spawn<'ignore', 'pipe', 'pipe'>>;
  try {
    proc = Bun.spawn(req.argv, {
      cwd: req.cwd,
      env: { ...req.env, ...extraEnv },
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      // New session and process group: one kill(-pid) reaches every descendant.
      detached: true,
    });
  } catch (err) {
    return { pid: null, cancel() {}, result: Promise.resolve(failed(`could not start '${req.argv[0]}': ${(err as Error).message}`, started)) };
  }
  const pid = proc.pid;

  if (hasLimits(req.limits)) {
    // Applied right after spawn: the leader has just exec'd, and anything it
    // forks from here on inherits the limits.
    try {
      setResourceLimits(req.limits, pid);
    } catch (err) {
      killGroup(pid, 'SIGKILL');
      const message = `could not apply resource limits: ${(err as Error).message}`;
      return { pid, cancel() {}, result: proc.exited.then(() => failed(message, started)) };
    }
  }

  let reason: 'timeout' | 'cancel' | null = null;
  let escalation: ReturnType<typeof setTimeout> | undefined;
  const terminate = (why: 'timeout' | 'cancel') => {
    if (reason !== null) return;
    reason = why;
    killGroup(pid, 'SIGTERM');
    escalation = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
  };
  const timer = setTimeout(() => terminate('timeout'), req.timeoutMs);

  const result = (async (): Promise<SandboxRunResult> => {
    const out = capture(proc.stdout, req.maxOutputBytes);
    const err = capture(proc.stderr, req.maxOutputBytes);
    await proc.exited;
    clearTimeout(timer);
    // Background children of the leader would outlive the call and hold our
    // pipes open: the call ends with its whole group.
    killGroup(pid, 'SIGKILL');
    onLeaderExit();
    const [o, e] = await Promise.all([out, err]);
    clearTimeout(escalation);
    return {
      stdout: o.text,
      stderr: e.text,
      exitCode: reason !== null ? -1 : exitCodeOf(proc.exitCode, proc.signalCode),
      signal: proc.signalCode === null ? null : String(proc.signalCode),
      timedOut: reason === 'timeout',
      cancelled: reason === 'cancel',
      truncated: o.truncated || e.truncated,
      durationMs: performance.now() - started,
      spawnError: null,
    };
  })();

  return { pid, cancel: () => terminate('cancel'), result };
}

/** Death by signal n reports the shell convention 128 + n. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | number | null): number {
  if (code !== null) return code;
  if (typeof signal === 'number') return 128 + signal;
  const n = signal ? constants.signals[signal] : undefined;
  return n ? 128 + n : -1;
}
