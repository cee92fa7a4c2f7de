/**
 * Runs one argv in its own process group with Bun.spawn: no shell, stdin
 * closed, output capped per stream (the excess is read and dropped so memory
 * stays bounded and the child never blocks on a full pipe), and a timeout or
 * cancellation that kills the whole group — grandchildren included.
 */
import { constants } from 'node:os';

export interface SpawnRequest {
  /** argv[0] already resolved to an executable path. */
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  /** Cap per stream, in bytes. */
  maxOutputBytes: number;
  signal?: AbortSignal;
}

export interface SpawnResult {
  stdout: string;
  stderr: string;
  /** -1 when the process could not start, timed out or was cancelled. */
  exitCode: number;
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  truncated: boolean;
  durationMs: number;
  spawnError: string | null;
}

/** Delay between SIGTERM and SIGKILL for a group that ignores TERM. */
const KILL_GRACE_MS = 1000;

interface Captured {
  text: string;
  truncated: boolean;
}

async function capture(stream: ReadableStream<Uint8Array>, cap: number): Promise<Captured> {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let truncated = false;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (kept >= cap) {
        truncated = true;
        continue;
      }
      if (kept + value.byteLength > cap) {
        chunks.push(value.subarray(0, cap - kept));
        kept = cap;
        truncated = true;
      } else {
        chunks.push(value);
        kept += value.byteLength;
      }
    }
  } catch {
    /* the pipe closed under us (group killed); keep what we have */
  }
  const text = chunks.length === 1 ? new TextDecoder().decode(chunks[0]) : new TextDecoder().decode(Buffer.concat(chunks));
  return { text, truncated };
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    /* group already gone */
  }
}

/** Live process groups, so a shutdown can kill every one of them. */
export const liveGroups = new Set<number>();

export async function spawnCommand(req: SpawnRequest): Promise<SpawnResult> {
  const started = performance.now();
  let proc: ReturnType<typeof Bun.spawn<'ignore', 'pipe', 'pipe'>>;
  try {
    proc = Bun.spawn(req.argv, {
      cwd: req.cwd,
      env: req.env,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      // Own session and process group: one kill reaches every descendant.
      detached: true,
    });
  } catch (err) {
    return {
      stdout: '',
      stderr: '',
      exitCode: -1,
      signal: null,
      timedOut: false,
      cancelled: false,
      truncated: false,
      durationMs: performance.now() - started,
      spawnError: `could not start '${req.argv[0]}': ${(err as Error).message}`,
    };
  }
  const pid = proc.pid;
  liveGroups.add(pid);

  let reason: 'timeout' | 'cancel' | null = null;
  let escalation: ReturnType<typeof setTimeout> | undefined;
  const terminate = (why: 'timeout' | 'cancel') => {
    if (reason) return;
    reason = why;
    killGroup(pid, 'SIGTERM');
    escalation = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
  };
  const timer = setTimeout(() => terminate('timeout'), req.timeoutMs);
  const onAbort = () => terminate('cancel');
  if (req.signal?.aborted) onAbort();
  else req.signal?.addEventListener('abort', onAbort, { once: true });

  const out = capture(proc.stdout, req.maxOutputBytes);
  const err = capture(proc.stderr, req.maxOutputBytes);
  await proc.exited;
  clearTimeout(timer);
  req.signal?.removeEventListener('abort', onAbort);
  // The leader is gone; background children it left must not outlive the call
  // (they would also hold our pipes open).
  killGroup(pid, 'SIGKILL');
  const [o, e] = await Promise.all([out, err]);
  if (escalation) clearTimeout(escalation);
  liveGroups.delete(pid);

  const stopped = reason !== null;
  return {
    stdout: o.text,
    stderr: e.text,
    exitCode: stopped ? -1 : exitCodeOf(proc.exitCode, proc.signalCode),
    signal: proc.signalCode == null ? null : String(proc.signalCode),
    timedOut: reason === 'timeout',
    cancelled: reason === 'cancel',
    truncated: o.truncated || e.truncated,
    durationMs: performance.now() - started,
    spawnError: null,
  };
}

/** A signal death reports the shell convention 128 + signal number. */
function exitCodeOf(code: number | null, signal: string | number | null): number {
  if (code !== null) return code;
  if (typeof signal === 'number') return 128 + signal;
  const n = signal ? constants.signals[signal as NodeJS.Signals] : undefined;
  return n ? 128 + n : -1;
}

/** Kills every live process group (shutdown). */
export function killAllGroups(): void {
  for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
}
