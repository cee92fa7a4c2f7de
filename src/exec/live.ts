/**
 * A long-lived process: one argv in its own session and process group, with
 * its output handed over as it arrives (stdout and stderr merged in arrival
 * order, or a pseudo-terminal through Bun's own PTY support), input written
 * on request, signals sent to the whole group, and an exit status. Unlike a
 * one-shot command (spawn.ts) it keeps nothing itself: the caller decides
 * what to keep. The local spawner uses it directly, the sandbox launcher
 * inside its confinement.
 */
import { initTakes, killGroup, signalGroup } from './group-signal.ts';
import { type InputOutcome, PipeInput } from './pipe-input.ts';
import { bunSpawn, type Child, DRAIN_GRACE_MS, exitCodeOf, KILL_GRACE_MS, type StartOptions } from './spawn.ts';
import type { FileIdentity } from '../workspace/open.ts';
import { pinWorkingDir } from './working-dir.ts';
import { settlesWithin } from '../util/settles-within.ts';

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
  /** The inode `cwd` must be, as the caller found it through a walk that follows no symlink (working-dir.ts). */
  cwdIdentity?: FileIdentity;
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

/** Control characters that end input on a terminal in canonical mode. */
const CTRL_D = new Uint8Array([4]);

/** c_lflag's ISIG: the terminal turns the interrupt and quit characters into signals. */
const ISIG = 0x1;
/** The interrupt and quit characters as a terminal has them by default (Ctrl-C, Ctrl-\\), and the signals they send. */
const INTERRUPTS: ReadonlyArray<[number, NodeJS.Signals]> = [
  [0x03, 'SIGINT'],
  [0x1c, 'SIGQUIT'],
];

/**
 * The signal typing `data` on a terminal sends that its process group's leader, a PID namespace's init, would
 * discard, or null. The kernel drops a signal an init leaves at its default action: Ctrl-C to a `cat`, a `tail -f`
 * or a dev server started as the init of its namespace did nothing at all, where elsewhere it ends them. Its default
 * action (ending the process) is then done by hand. Not when the terminal sends no signals (raw mode: the program
 * reads Ctrl-C as a key) or the init takes the signal itself.
 */
function discardedInterrupt(pid: number, data: Uint8Array, localFlags: number): NodeJS.Signals | null {
  if ((localFlags & ISIG) === 0) return null;
  for (const [char, sig] of INTERRUPTS) if (data.includes(char) && !initTakes(pid, sig)) return sig;
  return null;
}

export interface LiveOptions extends Pick<StartOptions, 'extraEnv' | 'spawn' | 'afterSpawn' | 'namespaceInit'> {
  /**
   * Wraps the synchronous Bun.spawn of a terminal process: a root launcher
   * makes the child the init of a fresh PID namespace here, and empties its
   * IPC namespace once it has exited.
   */
  forkTerminal?: <T extends { readonly pid: number; readonly exited: Promise<unknown> }>(fork: () => T) => T;
}

/** A started child, with Bun's terminal when it has one. */
type LiveChild = Child & { readonly terminal?: { write(data: Uint8Array): unknown; close(): void; readonly localFlags: number } };

export function startLive(req: LiveRequest, sink: OutputSink, opts: LiveOptions = {}): LiveStart {
  const started = performance.now();
  const env = opts.extraEnv ? { ...req.env, ...opts.extraEnv } : { ...req.env };
  let terminalClosed: Promise<void> = Promise.resolve();
  let proc: LiveChild;
  const dir = pinWorkingDir(req.cwd, req.cwdIdentity);
  if ('refused' in dir) return { ok: false, error: dir.refused };
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
      const fork = () => Bun.spawn(req.argv, { cwd: dir.cwd, env, terminal, detached: true }) as unknown as LiveChild;
      proc = opts.forkTerminal ? opts.forkTerminal(fork) : fork();
    } else {
      proc = (opts.spawn ?? bunSpawn)({ argv: req.argv, cwd: dir.cwd, env, stdin: 'pipe' });
    }
  } catch (err) {
    return { ok: false, error: `could not start '${req.argv[0]}': ${(err as Error).message}` };
  } finally {
    // The child has its own copy.
    dir.close();
  }
  const pid = proc.pid;
  const refusal = opts.afterSpawn?.(pid) ?? null;
  if (refusal !== null) {
    killGroup(pid, 'SIGKILL');
    proc.terminal?.close();
    return { ok: false, error: refusal };
  }
  const pipes = req.terminal ? [] : [pump(proc.stdout, sink), pump(proc.stderr, sink)];
  let escalation: ReturnType<typeof setTimeout> | undefined;
  let leaderGone = false;

  const input = req.terminal ? null : new PipeInput(proc.stdin!);
  const namespaceInit = opts.namespaceInit === true;
  const exited = (async (): Promise<LiveExit> => {
    await proc.exited;
    leaderGone = true;
    input?.stop();
    // Background children the leader left must not outlive it.
    killGroup(pid, 'SIGKILL');
    clearTimeout(escalation);
    await settlesWithin(Promise.all([...pipes, terminalClosed]), DRAIN_GRACE_MS);
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
      // Judged before the write, as signalGroup judges: afterwards a woken sigwait shows neither its mask nor its wait.
      const discarded = namespaceInit ? discardedInterrupt(pid, data, proc.terminal.localFlags) : null;
      // Unbounded: Bun's terminal buffers what the PTY does not take and tells neither how much nor, reliably, when it is gone.
      try {
        proc.terminal.write(data);
      } catch {
        return Promise.resolve('closed');
      }
      if (discarded !== null) killGroup(pid, 'SIGKILL');
      return Promise.resolve('taken');
    },
    closeInput() {
      if (leaderGone) return;
      if (proc.terminal) proc.terminal.write(CTRL_D);
      else input!.close();
    },
    signal(sig) {
      if (!leaderGone) signalGroup(pid, sig, namespaceInit);
    },
    terminate() {
      if (leaderGone) return;
      signalGroup(pid, 'SIGTERM', namespaceInit);
      clearTimeout(escalation);
      escalation = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
    },
  };
  return { ok: true, handle };
}
