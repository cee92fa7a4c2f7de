/**
 * A long-lived process: one argv in its own session and process group, with
 * its output handed over as it arrives (stdout and stderr merged in arrival
 * order, or a pseudo-terminal through Bun's own PTY support), input written
 * on request, signals sent to the whole group, and an exit status. Unlike a
 * one-shot command (spawn.ts) it keeps nothing itself: the caller decides
 * what to keep. The local spawner uses it directly, the sandbox launcher
 * inside its confinement.
 */
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { type InputOutcome, PipeInput } from './pipe-input.ts';
import { DRAIN_GRACE_MS, exitCodeOf, KILL_GRACE_MS, killGroup, settledWithin, type StartOptions } from './spawn.ts';

/** Signals a caller may send to a long-lived process's group. */
export const PROCESS_SIGNALS = ['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
export type ProcessSignal = (typeof PROCESS_SIGNALS)[number];

export interface TerminalSize {
  cols: number;
  rows: number;
}

export interface LiveRequest {
  /** argv[0] already resolved to an executable path. */
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** A pseudo-terminal of this size, or pipes when null. */
  terminal: TerminalSize | null;
}

export interface LiveExit {
  /** Exit status; 128 + n for death by signal n; -1 when it never ran. */
  exitCode: number;
  signal: string | null;
  durationMs: number;
  /** Why it never ran, or null. */
  spawnError: string | null;
  /** Set when the process was lost rather than seen to exit (its sandbox launcher died): why. */
  lost?: string;
}

/** A started process as its owner holds it. */
export interface LiveHandle {
  /** The pid as the starter sees it: informational, never a target for signals from elsewhere. */
  readonly pid: number | null;
  /**
   * Hands input to the process; settles once it is queued for the pipe (or the
   * terminal took it), or refused. `signal` withdraws it while it waits for room.
   */
  write(data: Uint8Array, signal?: AbortSignal): Promise<InputOutcome>;
  /** Ends the input: closes stdin (pipes) or sends end-of-file, Ctrl-D (terminal). */
  closeInput(): void;
  /** Sends a signal to the whole group. */
  signal(sig: ProcessSignal): void;
  /** SIGTERM to the group, SIGKILL after a grace if the leader is still alive. */
  terminate(): void;
  /** Settles once the leader has exited, its group was killed and its output drained. */
  readonly exited: Promise<LiveExit>;
}

/** Receives output: `lostBefore` counts bytes produced before `chunk` that were dropped on the way. */
export type OutputSink = (chunk: Uint8Array, lostBefore: number) => void;

export type LiveStart = { ok: true; handle: LiveHandle } | { ok: false; error: string };

/** Bun's reader (its readMany is missing from the stream types that win the merge here). */
interface ChunkReader {
  readMany(): Promise<{ done: boolean; value: Uint8Array[] }> | { done: boolean; value: Uint8Array[] };
  cancel(): Promise<void>;
}

async function pump(stream: ReadableStream<Uint8Array>, sink: OutputSink): Promise<void> {
  const reader = stream.getReader() as unknown as ChunkReader;
  try {
    for (;;) {
      const { done, value } = await reader.readMany();
      for (const chunk of value) if (chunk.byteLength > 0) sink(chunk, 0);
      if (done) break;
    }
  } catch {
    // The pipe broke as the group was killed.
  }
}

/**
 * Whether a signal reaches `pid` when it is the init of a PID namespace: the
 * kernel delivers to an init only the signals it catches (or blocks, to take
 * later); one it leaves at the default action is discarded, so a SIGTERM or
 * SIGINT would do nothing at all. True when it catches, ignores or blocks it
 * (sigwait included), or when its state cannot be read. Ask before sending:
 * afterwards a woken sigwait shows neither the mask nor the wait.
 */
function initTakes(pid: number, sig: ProcessSignal): boolean {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return true;
  }
  const bit = 1n << BigInt(constants.signals[sig] - 1);
  for (const field of ['SigCgt', 'SigIgn', 'SigBlk']) {
    const hex = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1];
    if (hex === undefined || (BigInt(`0x${hex}`) & bit) !== 0n) return true;
  }
  // sigwait unblocks what it waits for while it waits (SigBlk no longer shows it), and the kernel still delivers it.
  try {
    return readFileSync(`/proc/${pid}/wchan`, 'utf8').includes('sigtimedwait');
  } catch {
    return true;
  }
}

/** Control characters that end input on a terminal in canonical mode. */
const CTRL_D = new Uint8Array([4]);

export interface LiveOptions extends Pick<StartOptions, 'extraEnv' | 'forkIn' | 'afterSpawn'> {
  /** `forkIn` makes the process the init of a new PID namespace (signal delivery differs, see initTakes). */
  namespaceInit?: boolean;
}

export function startLive(req: LiveRequest, sink: OutputSink, opts: LiveOptions = {}): LiveStart {
  const started = performance.now();
  const env = opts.extraEnv ? { ...req.env, ...opts.extraEnv } : { ...req.env };
  let terminalClosed: Promise<void> = Promise.resolve();
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    if (req.terminal) {
      let closed: () => void = () => {};
      terminalClosed = new Promise<void>((resolve) => {
        closed = resolve;
      });
      env.TERM = 'xterm-256color';
      const terminal = {
        cols: req.terminal.cols,
        rows: req.terminal.rows,
        data: (_t: unknown, data: Uint8Array) => sink(data, 0),
        exit: () => closed(),
      };
      const fork = () => Bun.spawn(req.argv, { cwd: req.cwd, env, terminal, detached: true });
      proc = opts.forkIn ? opts.forkIn(fork) : fork();
    } else {
      const fork = () => Bun.spawn(req.argv, { cwd: req.cwd, env, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', detached: true });
      proc = opts.forkIn ? opts.forkIn(fork) : fork();
    }
  } catch (err) {
    return { ok: false, error: `could not start '${req.argv[0]}': ${(err as Error).message}` };
  }
  const pid = proc.pid;
  const refusal = opts.afterSpawn?.(pid) ?? null;
  if (refusal !== null) {
    killGroup(pid, 'SIGKILL');
    proc.terminal?.close();
    return { ok: false, error: refusal };
  }
  const pipes = req.terminal ? [] : [pump(proc.stdout as ReadableStream<Uint8Array>, sink), pump(proc.stderr as ReadableStream<Uint8Array>, sink)];
  let escalation: ReturnType<typeof setTimeout> | undefined;
  let leaderGone = false;

  const input = req.terminal ? null : new PipeInput(proc.stdin as import('bun').FileSink);
  /**
   * Sends `sig` to the group. An init that would discard it gets what its default action (ending it) does:
   * SIGKILL, which ends its namespace with it; the rest of the group gets `sig` first.
   */
  const signalGroup = (sig: ProcessSignal) => {
    // Judged before the signal is sent: a look afterwards found an init woken from sigwait running, with no wait
    // channel to show, took it for one that discards the signal and killed it.
    const discarded = opts.namespaceInit === true && sig !== 'SIGKILL' && !initTakes(pid, sig);
    killGroup(pid, sig);
    if (discarded) killGroup(pid, 'SIGKILL');
  };
  const exited = (async (): Promise<LiveExit> => {
    await proc.exited;
    leaderGone = true;
    input?.stop();
    // Background children the leader left must not outlive it.
    killGroup(pid, 'SIGKILL');
    clearTimeout(escalation);
    await settledWithin(Promise.all([...pipes, terminalClosed]), DRAIN_GRACE_MS);
    proc.terminal?.close();
    return { exitCode: exitCodeOf(proc.exitCode, proc.signalCode), signal: proc.signalCode == null ? null : String(proc.signalCode), durationMs: performance.now() - started, spawnError: null };
  })();

  const handle: LiveHandle = {
    pid,
    exited,
    write(data, signal) {
      if (leaderGone) return Promise.resolve('closed');
      // The pipe input answers a withdrawn write itself.
      if (!proc.terminal) return input!.write(data, signal);
      if (signal?.aborted) return Promise.resolve('cancelled');
      // Unbounded: Bun's terminal buffers what the PTY does not take and tells neither how much nor, reliably, when it is gone.
      try {
        proc.terminal.write(data);
      } catch {
        return Promise.resolve('closed');
      }
      return Promise.resolve('taken');
    },
    closeInput() {
      if (leaderGone) return;
      if (proc.terminal) proc.terminal.write(CTRL_D);
      else input!.close();
    },
    signal(sig) {
      if (!leaderGone) signalGroup(sig);
    },
    terminate() {
      if (leaderGone) return;
      signalGroup('SIGTERM');
      clearTimeout(escalation);
      escalation = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
    },
  };
  return { ok: true, handle };
}
