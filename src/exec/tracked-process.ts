/**
 * One long-running process as the process table tracks it: who started it,
 * its output ring, its status, its lifetime and idle timers, the reads
 * waiting for its output, and how it is ended (TERM to its group, KILL after
 * a grace) or signalled.
 */
import type { LiveHandle, ProcessSignal } from './live.ts';
import type { OutputRing } from './output-ring.ts';
import type { Caller } from './process-caller.ts';
import { KILL_GRACE_MS } from './spawn.ts';
import { settlesWithin } from '../util/settles-within.ts';

export type ProcessStatus = 'running' | 'exited' | 'killed' | 'timed-out';

export interface ProcessState {
  status: ProcessStatus;
  exitCode: number | null;
  signal: string | null;
  runningMs: number;
  /** Why the process ended when it did not exit on its own, else null. */
  reason: string | null;
}

export interface TrackedProcess {
  id: string;
  owner: string;
  command: string;
  arguments: string[];
  terminal: boolean;
  /** Input bytes written so far (bounded for terminals). */
  inputBytes: number;
  startedAt: Date;
  started: number;
  ended: number | null;
  /** Its `process_exit` line is written (at its end, or by recordUnfinished when the server exits first). */
  endRecorded?: true;
  ring: OutputRing;
  handle: LiveHandle;
  status: ProcessStatus;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  /**
   * Set when we ended it: what its status becomes and why. `signalOnly`: a
   * signal that need not end it (SIGINT) was sent; an end asked for meanwhile replaces it.
   */
  ending: { status: 'killed' | 'timed-out'; reason: string; signalOnly?: boolean } | null;
  waiters: Set<() => void>;
  idleMs: number;
  lifetime: ReturnType<typeof setTimeout> | undefined;
  idle: ReturnType<typeof setTimeout> | undefined;
  forget: ReturnType<typeof setTimeout> | undefined;
  exited: Promise<void>;
  caller: Caller;
}

/** How long a kill waits for the process to be gone before answering. */
const KILL_WAIT_MS = KILL_GRACE_MS + 2000;

/** A timer that keeps no process alive. */
export function unref(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  timer.unref?.();
  return timer;
}

export function stateOf(e: TrackedProcess): ProcessState {
  return {
    status: e.status,
    exitCode: e.exitCode,
    signal: e.signal,
    runningMs: Math.round((e.ended ?? performance.now()) - e.started),
    reason: e.reason,
  };
}

/** Restarts the idle clock: a call named the process. */
export function touch(e: TrackedProcess): void {
  if (e.status !== 'running') return;
  clearTimeout(e.idle);
  e.idle = unref(
    setTimeout(() => {
      // A read waiting for its output is a call reading it: an idle limit shorter than waitMs must not end the process under it.
      if (e.waiters.size > 0) touch(e);
      else endProcess(e, 'timed-out', `no call read or wrote it for ${e.idleMs / 1000} s`);
    }, e.idleMs),
  );
}

/** Answers the reads waiting for the process's output (it came, or the process ended). */
export function wake(e: TrackedProcess): void {
  if (e.waiters.size === 0) return;
  const waiters = [...e.waiters];
  e.waiters.clear();
  for (const w of waiters) w();
}

/** Ends a running process: TERM to its group, KILL after a grace. */
export function endProcess(e: TrackedProcess, status: 'killed' | 'timed-out', reason: string, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): void {
  if (e.status !== 'running') return;
  if (e.ending === null || e.ending.signalOnly) e.ending = { status, reason };
  if (signal === 'SIGKILL') e.handle.signal('SIGKILL');
  else e.handle.terminate();
}

/**
 * Signals the process's whole group. SIGTERM (the default) escalates to
 * SIGKILL after a grace; TERM and KILL wait for the end before answering.
 */
export async function killProcess(e: TrackedProcess, signal: ProcessSignal = 'SIGTERM'): Promise<ProcessState> {
  if (e.status !== 'running') return stateOf(e);
  const sent = { status: 'killed' as const, reason: `process_kill sent ${signal}`, signalOnly: true };
  if (signal === 'SIGTERM' || signal === 'SIGKILL') endProcess(e, 'killed', `process_kill sent ${signal}`, signal);
  else {
    e.ending ??= sent;
    e.handle.signal(signal);
  }
  await settlesWithin(e.exited, signal === 'SIGTERM' || signal === 'SIGKILL' ? KILL_WAIT_MS : 1000);
  // A signal the process survived (SIGINT to a REPL) does not make it "killed" later; an end asked for meanwhile
  // (another call's SIGTERM, a limit, shutdown) stays.
  if (e.status === 'running' && e.ending === sent) e.ending = null;
  return stateOf(e);
}
