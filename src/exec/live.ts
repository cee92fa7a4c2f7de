/**
 * A long-lived process: one argv in its own session and process group, with
 * its output handed over as it arrives (stdout and stderr merged in arrival
 * order, or a pseudo-terminal through Bun's own PTY support), input written
 * on request, signals sent to the whole group, and an exit status. Unlike a
 * one-shot command (spawn.ts) it keeps nothing itself: the caller decides
 * what to keep. The local spawner uses it directly, the sandbox launcher
 * inside its confinement.
 */
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

/**
 * What became of one write: `taken` (queued for the process, in order),
 * `full` (no room within INPUT_WAIT_MS, the process leaving MAX_PENDING_INPUT
 * unread; none of this write was queued), `closed` (its input is closed or
 * it is ending) or `cancelled` (its caller withdrew it before it was queued).
 */
export type InputOutcome = 'taken' | 'full' | 'closed' | 'cancelled';
export const INPUT_OUTCOMES = ['taken', 'full', 'closed', 'cancelled'] as const satisfies readonly InputOutcome[];

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
 * Input a process has not taken from its pipe yet, held at most. Beyond it a
 * write waits (INPUT_WAIT_MS) and is then refused, never silently dropped: a
 * process that never reads its stdin must not make whoever holds its pipe
 * (the server, or its sandbox launcher) grow without bound. Terminal input is
 * not bounded this way (see `write`).
 */
export const MAX_PENDING_INPUT = 1024 * 1024;
/**
 * How long a write waits, at most, for room when the pending input is full,
 * before it is refused. A process that reads slowly (or starts slowly) gets its
 * input late rather than lost; one that never reads gets the writer a clear
 * refusal. Also bounds how long the sandbox launcher may take to answer a write.
 */
export const INPUT_WAIT_MS = 3000;

/** Control characters that end input on a terminal in canonical mode. */
const CTRL_D = new Uint8Array([4]);

export function startLive(req: LiveRequest, sink: OutputSink, opts: Pick<StartOptions, 'extraEnv' | 'forkIn' | 'afterSpawn'> = {}): LiveStart {
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

  const exited = (async (): Promise<LiveExit> => {
    await proc.exited;
    leaderGone = true;
    // Background children the leader left must not outlive it.
    killGroup(pid, 'SIGKILL');
    clearTimeout(escalation);
    await settledWithin(Promise.all([...pipes, terminalClosed]), DRAIN_GRACE_MS);
    proc.terminal?.close();
    return { exitCode: exitCodeOf(proc.exitCode, proc.signalCode), signal: proc.signalCode == null ? null : String(proc.signalCode), durationMs: performance.now() - started, spawnError: null };
  })();

  const stdin = req.terminal ? null : (proc.stdin as import('bun').FileSink);
  let inputOpen = true;
  // Pipe input goes out one chunk at a time: the next is handed over only once the pipe took the last.
  const queued: Uint8Array[] = [];
  let queuedBytes = 0;
  let pumping = false;
  let endAfterQueue = false;
  // Writes waiting for room, in order; each is queued whole or refused whole,
  // at most INPUT_WAIT_MS after it began to wait (the head's deadline rules).
  interface Waiting {
    data: Uint8Array;
    deadline: number;
    settle: (outcome: InputOutcome) => void;
  }
  const waiting: Waiting[] = [];
  let waitTimer: ReturnType<typeof setTimeout> | undefined;
  const refuseWaiting = (outcome: InputOutcome) => {
    clearTimeout(waitTimer);
    waitTimer = undefined;
    // Later writes must not overtake a refused one: they are refused with it.
    for (const w of waiting.splice(0)) w.settle(outcome);
  };
  const admitWaiting = () => {
    while (waiting.length > 0 && queuedBytes + waiting[0]!.data.byteLength <= MAX_PENDING_INPUT) {
      const w = waiting.shift()!;
      queued.push(w.data);
      queuedBytes += w.data.byteLength;
      w.settle('taken');
    }
    clearTimeout(waitTimer);
    waitTimer = waiting.length > 0 ? setTimeout(() => refuseWaiting('full'), Math.max(0, waiting[0]!.deadline - performance.now())) : undefined;
  };
  const endInput = () => {
    inputOpen = false;
    queued.length = 0;
    queuedBytes = 0;
    refuseWaiting('closed');
    try {
      void stdin!.end();
    } catch {
      // Already closed.
    }
  };
  const pumpInput = async () => {
    pumping = true;
    let broken = false;
    try {
      while (queued.length > 0 && inputOpen && !leaderGone) {
        const chunk = queued[0]!;
        const wrote = stdin!.write(chunk);
        await (wrote instanceof Promise ? wrote : stdin!.flush());
        queued.shift();
        queuedBytes -= chunk.byteLength;
        if (waiting.length > 0) admitWaiting();
      }
    } catch {
      // The process closed its input or is gone: later writes are refused as closed.
      broken = true;
    } finally {
      pumping = false;
    }
    if (broken || (endAfterQueue && inputOpen)) endInput();
    else if (leaderGone) refuseWaiting('closed');
  };
  void exited.then(() => refuseWaiting('closed'));
  const handle: LiveHandle = {
    pid,
    exited,
    write(data, signal) {
      if (!inputOpen || leaderGone || endAfterQueue) return Promise.resolve('closed');
      if (signal?.aborted) return Promise.resolve('cancelled');
      if (proc.terminal) {
        // Unbounded: Bun's terminal buffers what the PTY does not take and tells neither how much nor, reliably, when it is gone.
        try {
          proc.terminal.write(data);
        } catch {
          return Promise.resolve('closed');
        }
        return Promise.resolve('taken');
      }
      if (waiting.length === 0 && queuedBytes + data.byteLength <= MAX_PENDING_INPUT) {
        queued.push(data);
        queuedBytes += data.byteLength;
        if (!pumping) void pumpInput();
        return Promise.resolve('taken');
      }
      return new Promise<InputOutcome>((resolve) => {
        // A write its caller gave up on must not reach the process later: a retry would deliver it twice.
        const cancel = () => {
          const at = waiting.indexOf(w);
          if (at < 0) return;
          waiting.splice(at, 1);
          resolve('cancelled');
          // The writes behind it may fit now, and the next head's deadline rules.
          admitWaiting();
        };
        const w: Waiting = {
          data,
          deadline: performance.now() + INPUT_WAIT_MS,
          settle: (outcome) => {
            signal?.removeEventListener('abort', cancel);
            resolve(outcome);
          },
        };
        waiting.push(w);
        signal?.addEventListener('abort', cancel, { once: true });
        waitTimer ??= setTimeout(() => refuseWaiting('full'), INPUT_WAIT_MS);
      });
    },
    closeInput() {
      if (!inputOpen || leaderGone) return;
      if (proc.terminal) {
        proc.terminal.write(CTRL_D);
        return;
      }
      if (pumping) endAfterQueue = true;
      else endInput();
    },
    signal(sig) {
      if (!leaderGone) killGroup(pid, sig);
    },
    terminate() {
      if (leaderGone) return;
      killGroup(pid, 'SIGTERM');
      clearTimeout(escalation);
      escalation = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
    },
  };
  return { ok: true, handle };
}
