/**
 * Runs one argv in its own process group with Bun.spawn: no shell, stdin
 * closed (or a regular file the request names, see stdin-file.ts), output
 * capped per stream (the excess is read and dropped so memory
 * stays bounded and the child never blocks on a full pipe), and a timeout or
 * cancellation that kills the whole group — grandchildren included. The
 * local spawner (local-spawner.ts) uses it directly; the sandbox launcher uses
 * the same code inside its confinement (src/sandbox/run-command.ts).
 */
import { closeSync } from 'node:fs';
import { constants } from 'node:os';
import { noteTransientBytes } from '../util/gc-pressure.ts';
import { settlesWithin } from '../util/settles-within.ts';
import { killGroup, signalGroup } from './group-signal.ts';
import { type OutputProgress, ProgressMeter } from './progress.ts';
import { openStdinFile } from './stdin-file.ts';
import type { FileIdentity } from '../workspace/open.ts';
import { pinWorkingDir } from './working-dir.ts';

export type { OutputProgress } from './progress.ts';

export interface SpawnRequest {
  /** argv[0] already resolved to an executable path. */
  argv: string[];
  cwd: string;
  /** The inode `cwd` must be, as the caller found it through a walk that follows no symlink (working-dir.ts). */
  cwdIdentity?: FileIdentity;
  env: Record<string, string>;
  timeoutMs: number;
  /** Cap per stream, in bytes. */
  maxOutputBytes: number;
  signal?: AbortSignal;
  /**
   * Absolute path of a regular file to give the command as its stdin, opened
   * here without ever opening a FIFO or device found there (stdin-file.ts);
   * when it is not a regular file the command does not start. Default: none.
   */
  stdinFile?: string;
  /**
   * The inode `stdinFile` must be, as the caller found it through a walk of
   * its own that follows no symlink: the path is opened here by name, so a
   * directory on the way swapped for a symlink meanwhile would lead
   * elsewhere. Another inode and the command does not start, told only that
   * the file changed (nothing of what it found).
   */
  stdinIdentity?: FileIdentity;
  /** The most bytes `stdinFile` may hold, as seen on the inode opened; larger and the command does not start. */
  stdinMaxBytes?: number;
  /** Receives the output's progress while the command runs (throttled by ProgressMeter). */
  onProgress?: (progress: OutputProgress) => void;
  /** Data memory (RLIMIT_DATA) this run may use at most, below the configured limit when that is lower; sandboxed runs only. */
  memoryBytes?: number;
  /**
   * Output through socket pairs, which cannot be opened again by path
   * (/proc/self/fd/1, /dev/stdout) as a pipe can, for a program that opens
   * paths a client chose (ripgrep, reading a planted .gitignore). Bun.spawn
   * always gives sockets; the libc start of a root launcher gives pipes
   * unless asked.
   */
  outputSockets?: boolean;
}

export interface SpawnResult {
  stdout: string;
  stderr: string;
  /** Exit status; 128 + n for death by signal n; -1 when not started, timed out or cancelled. */
  exitCode: number;
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  truncated: boolean;
  durationMs: number;
  spawnError: string | null;
}

/** What starting a child takes besides its argv: where, with what environment, and its stdin. */
export interface ChildSpec {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** A pipe, /dev/null ('ignore'), or a descriptor of the caller's, which keeps and closes its own copy. */
  stdin: 'pipe' | 'ignore' | number;
  /** See SpawnRequest.outputSockets. */
  outputSockets?: boolean;
}

/** Input to a child's stdin pipe, as Bun's FileSink takes it. */
export interface InputSink {
  write(data: Uint8Array): number | Promise<number>;
  flush(): number | Promise<number>;
  end(): unknown;
}

/** The part of a started child the runners use: Bun's Subprocess, or a process the launcher started through libc. */
export interface Child {
  readonly pid: number;
  /** The write end of stdin when it is a pipe. */
  readonly stdin?: InputSink | null;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly exited: Promise<number>;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
}

/** Starts a child in a session and process group of its own, stdout and stderr piped; throws when it cannot. */
export type ChildSpawn = (spec: ChildSpec) => Child;

/** Bun.spawn, for a process that forks with no PID namespace pending (the server, an unprivileged launcher). */
export const bunSpawn: ChildSpawn = (spec) =>
  Bun.spawn(spec.argv, {
    cwd: spec.cwd,
    env: spec.env,
    stdin: spec.stdin,
    stdout: 'pipe',
    stderr: 'pipe',
    // Own session and process group: one kill(-pid) reaches every descendant.
    detached: true,
  }) as Child;

/** A started command: its pid (null when it could not start), a cancel handle, and its result. */
export interface RunningCommand {
  pid: number | null;
  cancel(): void;
  result: Promise<SpawnResult>;
}

export interface StartOptions {
  /** Added to the request's environment. */
  extraEnv?: Record<string, string>;
  /** Starts the child (Bun.spawn unless given): a root launcher starts each as the init of a PID namespace of its own. */
  spawn?: ChildSpawn;
  /** Runs right after spawn; a returned message kills the group and becomes the spawn error. */
  afterSpawn?: (pid: number) => string | null;
  /** Runs once the leader has exited and its group was killed. */
  onLeaderExit?: () => void;
  /** `spawn` makes the process the init of a new PID namespace (signal delivery differs, see group-signal.ts). */
  namespaceInit?: boolean;
}

/** Delay between SIGTERM and SIGKILL for a group that ignores TERM. */
export const KILL_GRACE_MS = 1000;

/** The result of a command that never ran. */
export function notStarted(message: string, started = performance.now()): SpawnResult {
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

const decoder = new TextDecoder();

/** Bun's reader (its readMany is missing from the stream types that win the merge here). */
interface ChunkReader {
  readMany(): Promise<{ done: boolean; value: Uint8Array[] }> | { done: boolean; value: Uint8Array[] };
  cancel(): Promise<void>;
  releaseLock(): void;
}

/**
 * How long the pipes may stay open once the leader has exited and its group
 * was killed. Only a process that left the group (and escaped every sweep)
 * can still hold them; the call must not wait for it.
 */
export const DRAIN_GRACE_MS = 2000;

interface Capture {
  done: Promise<{ text: string; truncated: boolean }>;
  /** Stops reading: what arrived is kept, and the result says it was cut. */
  stop(): void;
}

function capture(stream: ReadableStream<Uint8Array>, cap: number, meter: ProgressMeter | null): Capture {
  const reader = stream.getReader() as unknown as ChunkReader;
  let stopped = false;
  return {
    done: drain(reader, cap, () => stopped, meter),
    stop() {
      stopped = true;
      void reader.cancel().catch(() => {});
    },
  };
}

async function drain(reader: ChunkReader, cap: number, stopped: () => boolean, meter: ProgressMeter | null): Promise<{ text: string; truncated: boolean }> {
  const kept: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  try {
    // readMany hands over every chunk already buffered in one step: far fewer
    // promise turns than iterating chunk by chunk when a command floods us.
    for (;;) {
      const { done, value } = await reader.readMany();
      for (const chunk of value) {
        meter?.observe(chunk);
        if (size >= cap) {
          if (chunk.byteLength > 0) truncated = true;
          noteTransientBytes(chunk.byteLength);
          continue;
        }
        const take = Math.min(chunk.byteLength, cap - size);
        // Copy only a partial chunk, so a large buffer is not retained whole.
        kept.push(take === chunk.byteLength ? chunk : chunk.slice(0, take));
        size += take;
        if (take < chunk.byteLength) {
          truncated = true;
          noteTransientBytes(chunk.byteLength);
        }
      }
      if (done) break;
    }
  } catch {
    // The pipe broke as the group was killed; keep what arrived.
  } finally {
    reader.releaseLock();
  }
  return { text: decoder.decode(kept.length === 1 ? kept[0] : Buffer.concat(kept)), truncated: truncated || stopped() };
}

/** Death by signal n reports the shell convention 128 + n. */
export function exitCodeOf(code: number | null, signal: string | number | null): number {
  if (code !== null) return code;
  if (typeof signal === 'number') return 128 + signal;
  const n = signal ? constants.signals[signal as NodeJS.Signals] : undefined;
  return n ? 128 + n : -1;
}

/** Starts one command; the result settles when the leader has exited and both pipes are drained. */
export function startCommand(req: Omit<SpawnRequest, 'signal'>, opts: StartOptions = {}): RunningCommand {
  const { onProgress } = req;
  const started = performance.now();
  let stdin: number | 'ignore' = 'ignore';
  if (req.stdinFile !== undefined) {
    const input = openStdinFile(req.stdinFile, req.stdinMaxBytes, req.stdinIdentity);
    if ('refused' in input) return { pid: null, cancel() {}, result: Promise.resolve(notStarted(input.refused, started)) };
    stdin = input.fd;
  }
  const dir = pinWorkingDir(req.cwd, req.cwdIdentity);
  if ('refused' in dir) {
    if (typeof stdin === 'number') closeSync(stdin);
    return { pid: null, cancel() {}, result: Promise.resolve(notStarted(dir.refused, started)) };
  }
  let proc: Child;
  try {
    proc = (opts.spawn ?? bunSpawn)({ argv: req.argv, cwd: dir.cwd, env: opts.extraEnv ? { ...req.env, ...opts.extraEnv } : req.env, stdin, outputSockets: req.outputSockets === true });
  } catch (err) {
    return { pid: null, cancel() {}, result: Promise.resolve(notStarted(`could not start '${req.argv[0]}': ${(err as Error).message}`, started)) };
  } finally {
    // The child has its own copy of the descriptors.
    if (typeof stdin === 'number') closeSync(stdin);
    dir.close();
  }
  const pid = proc.pid;
  const refusal = opts.afterSpawn?.(pid) ?? null;
  if (refusal !== null) {
    killGroup(pid, 'SIGKILL');
    return { pid, cancel() {}, result: proc.exited.then(() => notStarted(refusal, started)) };
  }

  let reason: 'timeout' | 'cancel' | null = null;
  let escalation: ReturnType<typeof setTimeout> | undefined;
  const terminate = (why: 'timeout' | 'cancel') => {
    if (reason !== null) return;
    // Record why before signalling: Bun reports no kill reason of its own.
    reason = why;
    // A namespace init that leaves TERM at its default would discard it and sit out the grace: it is killed at once.
    signalGroup(pid, 'SIGTERM', opts.namespaceInit === true);
    escalation = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
  };
  const timer = setTimeout(() => terminate('timeout'), req.timeoutMs);

  const result = (async (): Promise<SpawnResult> => {
    const meter = onProgress ? new ProgressMeter(onProgress) : null;
    const out = capture(proc.stdout, req.maxOutputBytes, meter);
    const err = capture(proc.stderr, req.maxOutputBytes, meter);
    await proc.exited;
    clearTimeout(timer);
    // The leader is gone; background children it left must not outlive the
    // call (they would also hold our pipes open).
    killGroup(pid, 'SIGKILL');
    opts.onLeaderExit?.();
    const drained = Promise.all([out.done, err.done]);
    if (!(await settlesWithin(drained, DRAIN_GRACE_MS))) {
      out.stop();
      err.stop();
    }
    const [o, e] = await drained;
    meter?.stop();
    clearTimeout(escalation);
    return {
      stdout: o.text,
      stderr: e.text,
      exitCode: reason !== null ? -1 : exitCodeOf(proc.exitCode, proc.signalCode),
      signal: proc.signalCode == null ? null : String(proc.signalCode),
      timedOut: reason === 'timeout',
      cancelled: reason === 'cancel',
      truncated: o.truncated || e.truncated,
      durationMs: performance.now() - started,
      spawnError: null,
    };
  })();

  return { pid, cancel: () => terminate('cancel'), result };
}
