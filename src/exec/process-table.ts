/**
 * The table of long-lived processes: which processes run and ended, under
 * which handle (process-handles.ts), for which client, within the caps
 * (processes per client and per instance; ended ones kept readable,
 * ended-processes.ts), and their ends: a lifetime and an idle limit
 * (tracked-process.ts), everything killed when the server closes, and every
 * end an audit event (process-caller.ts). Reads and writes are process-io.ts.
 *
 * Plain policy: no HTTP and no MCP here; the process_* tools adapt it.
 */
import type { AuditSink } from '../audit/event.ts';
import { RateLimitError } from '../core/errors.ts';
import type { ProcessSignal } from './live.ts';
import { noteTransientBytes } from '../util/gc-pressure.ts';
import { settlesWithin } from '../util/settles-within.ts';
import { forgetOldestEnded, keptEndedPerClient } from './ended-processes.ts';
import { OutputRing } from './output-ring.ts';
import { type Caller, capRefusalEvent, processExitEvent } from './process-caller.ts';
import { ProcessError } from './process-error.ts';
import { findProcess, newProcessId } from './process-handles.ts';
import { type ReadResult, readOutput, writeInput } from './process-io.ts';
import { checkStart, type StartArgs } from './process-start-check.ts';
import type { CommandRunner } from './runner.ts';
import { endProcess, killProcess, type ProcessState, stateOf, touch, type TrackedProcess, unref, wake } from './tracked-process.ts';

export interface ProcessSettings {
  maxPerClient: number;
  maxTotal: number;
  bufferBytes: number;
  defaultTimeoutSeconds: number;
  maxTimeoutSeconds: number;
  idleTimeoutSeconds: number;
  keepExitedSeconds: number;
  envAllowlist: readonly string[];
  instanceId: string;
}

export interface ListedProcess extends ProcessState {
  processId: string;
  command: string;
  arguments: string[];
  terminal: boolean;
  pid: number | null;
  startedAt: string;
  bytesOut: number;
}

const CANCELLED_START = 'the call was cancelled before the process was handed back; it was stopped';

/** How long closing the table waits for killed processes to report their end. */
export const CLOSE_WAIT_MS = 5000;

export class ProcessTable {
  private readonly entries = new Map<string, TrackedProcess>();
  /** Starts admitted and not yet settled, per client: they count against the caps. */
  private readonly starting = new Map<string, number>();
  private closed = false;
  /** Set when the server begins to stop: reads no longer wait for output. */
  private waitsEnded = false;
  /** Output bytes dropped from rings, all processes (a counter for /metrics). */
  droppedTotal = 0;

  /** Why a caller can no longer reach its processes (a keys-file reload took its access away), once such a rule is set. */
  private unreachable: ((caller: Caller) => string | null) | null = null;

  constructor(
    private readonly settings: ProcessSettings,
    private readonly runner: CommandRunner,
    private readonly audit: AuditSink,
  ) {}

  /** Processes running now. */
  get running(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.status === 'running') n++;
    return n;
  }

  /** Output bytes held in all rings now. */
  get bufferBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.ring.held;
    return n;
  }

  private runningOf(owner: string): number {
    let n = this.starting.get(owner) ?? 0;
    for (const e of this.entries.values()) if (e.owner === owner && e.status === 'running') n++;
    return n;
  }

  private startingTotal(): number {
    let n = 0;
    for (const c of this.starting.values()) n += c;
    return n;
  }

  /**
   * Starts a process for `caller`. Throws RateLimitError at a cap (the
   * refusal is audited) and ProcessError for a start the caller can fix.
   */
  async start(caller: Caller, args: StartArgs, signal?: AbortSignal): Promise<{ processId: string; pid: number | null; startedAt: string }> {
    if (this.closed) throw new ProcessError('the server is shutting down');
    if (signal?.aborted) throw new ProcessError(CANCELLED_START);
    const checked = checkStart(this.settings, args);
    const owner = caller.clientId;
    const refuse = (message: string, limit: string, max: number): never => {
      this.audit.write(capRefusalEvent(caller, message, limit, max));
      // `reason` as every limit's refusal names itself to clients (`rpm`, `launchers`); `limit` kept for earlier clients.
      throw new RateLimitError(message, 5, { reason: limit, limit, max });
    };
    if (this.runningOf(owner) >= this.settings.maxPerClient) {
      refuse(
        `process limit reached: this client already has ${this.settings.maxPerClient} running processes (HIDE_PROCESS_MAX_PER_CLIENT); ` +
          'kill one with process_kill (process_list shows them) or wait for one to end',
        'processes-per-client',
        this.settings.maxPerClient,
      );
    }
    if (this.running + this.startingTotal() >= this.settings.maxTotal) {
      refuse(`process limit reached: this instance already runs ${this.settings.maxTotal} processes for all clients (HIDE_PROCESS_MAX_TOTAL); retry later`, 'processes-total', this.settings.maxTotal);
    }

    this.starting.set(owner, (this.starting.get(owner) ?? 0) + 1);
    const ring = new OutputRing(this.settings.bufferBytes);
    let entry: TrackedProcess | null = null;
    const sink = (chunk: Uint8Array, lostBefore: number) => {
      const before = ring.droppedTotal;
      ring.append(chunk, lostBefore);
      // The chunk was copied into the ring: under a flood these are garbage the collector weighs lazily.
      noteTransientBytes(chunk.byteLength);
      this.droppedTotal += ring.droppedTotal - before;
      if (entry) wake(entry);
    };
    let started: Awaited<ReturnType<CommandRunner['start']>>;
    try {
      started = await this.runner.start(
        {
          owner,
          command: args.command,
          arguments: args.arguments,
          workingDirectory: args.workingDirectory,
          env: checked.env,
          terminal: args.terminal ? args.terminal : null,
        },
        sink,
      );
    } finally {
      const n = (this.starting.get(owner) ?? 1) - 1;
      if (n > 0) this.starting.set(owner, n);
      else this.starting.delete(owner);
    }
    if (!started.ok) throw new ProcessError(started.error);
    const { handle } = started;
    if (this.closed) {
      handle.signal('SIGKILL');
      throw new ProcessError('the server is shutting down');
    }
    // Cancelled while starting: the caller will never learn the handle, so nothing may be left running under it.
    if (signal?.aborted) {
      handle.signal('SIGKILL');
      throw new ProcessError(CANCELLED_START);
    }

    const id = newProcessId(this.settings.instanceId);
    const e: TrackedProcess = {
      id,
      owner,
      command: args.command,
      arguments: [...(args.arguments ?? [])],
      terminal: Boolean(args.terminal),
      inputBytes: 0,
      startedAt: new Date(),
      started: performance.now(),
      ended: null,
      ring,
      handle,
      status: 'running',
      exitCode: null,
      signal: null,
      reason: null,
      ending: null,
      waiters: new Set(),
      idleMs: checked.idleMs,
      lifetime: undefined,
      idle: undefined,
      forget: undefined,
      exited: Promise.resolve(),
      caller,
    };
    entry = e;
    this.entries.set(id, e);
    e.lifetime = unref(setTimeout(() => endProcess(e, 'timed-out', `its lifetime of ${checked.timeoutMs / 1000} s ran out`), checked.timeoutMs));
    // A reload while this start was on its way found no entry to end: the rule is asked again now that there is one.
    const lost = this.unreachable?.(caller) ?? null;
    if (lost !== null) endProcess(e, 'killed', lost, 'SIGKILL');
    touch(e);
    e.exited = handle.exited.then((exit) => {
      e.ended = performance.now();
      e.exitCode = exit.exitCode;
      e.signal = exit.signal;
      if (e.ending) {
        e.status = e.ending.status;
        e.reason = e.ending.reason;
      } else if (exit.lost !== undefined) {
        e.status = 'killed';
        e.reason = exit.lost;
      } else e.status = 'exited';
      clearTimeout(e.lifetime);
      clearTimeout(e.idle);
      wake(e);
      if (e.endRecorded === undefined) this.audit.write(processExitEvent(e, Math.round(exit.durationMs || e.ended - e.started)));
      e.endRecorded = true;
      e.forget = unref(setTimeout(() => this.entries.get(id) === e && this.entries.delete(id), this.settings.keepExitedSeconds * 1000));
      forgetOldestEnded(this.entries, e.owner, keptEndedPerClient(this.settings.maxPerClient), this.settings.maxTotal);
    });
    return { processId: id, pid: handle.pid, startedAt: e.startedAt.toISOString() };
  }

  /**
   * The entry a client may see under `processId`. Another client's handle and
   * a wrong one get the same answer; a handle of another instance says so.
   */
  private find(owner: string, processId: string): TrackedProcess {
    const { instanceId, keepExitedSeconds, maxTotal } = this.settings;
    return findProcess(this.entries, owner, processId, { instanceId, keepExitedSeconds, maxTotal, keptEndedPerClient: keptEndedPerClient(this.settings.maxPerClient) });
  }

  /** Output since `cursor`; with `waitMs`, waits for new output or the end first (woken, never polling). */
  async read(owner: string, processId: string, opts: { cursor?: number; waitMs?: number; maxBytes?: number; signal?: AbortSignal }): Promise<ReadResult> {
    return readOutput(this.find(owner, processId), opts, () => this.waitsEnded);
  }

  /** Sends input; `closeStdin` ends the input afterwards. Returns the input's size (for the audit line). */
  async write(owner: string, processId: string, input: string, closeStdin: boolean, signal?: AbortSignal): Promise<{ bytes: number } & ProcessState> {
    return writeInput(this.find(owner, processId), processId, input, closeStdin, signal);
  }

  list(owner: string): ListedProcess[] {
    const out: ListedProcess[] = [];
    for (const e of this.entries.values()) {
      if (e.owner !== owner) continue;
      touch(e);
      out.push({
        processId: e.id,
        command: e.command,
        arguments: e.arguments,
        terminal: e.terminal,
        pid: e.handle.pid,
        startedAt: e.startedAt.toISOString(),
        bytesOut: e.ring.total,
        ...stateOf(e),
      });
    }
    return out;
  }

  /**
   * Signals the process's whole group. SIGTERM (the default) escalates to
   * SIGKILL after a grace; TERM and KILL wait for the end before answering.
   */
  async kill(owner: string, processId: string, signal: ProcessSignal = 'SIGTERM'): Promise<ProcessState> {
    return killProcess(this.find(owner, processId), signal);
  }

  /**
   * Answers every waiting read now and lets no read wait from here on: the
   * server is draining, and a long poll is no work worth holding the drain for.
   */
  endWaits(): void {
    this.waitsEnded = true;
    for (const e of this.entries.values()) wake(e);
  }

  /**
   * Ends the running processes whose caller can no longer reach them (a
   * keys-file reload took their client's access away): nobody can read or
   * stop them any more, and revoked access must not keep work going.
   * `unreachable` says why for such a caller, and null for the others; it is
   * kept, and asked again of every process started from now on, so a start
   * already on its way when access was taken does not escape it.
   */
  endUnreachable(unreachable: (caller: Caller) => string | null): number {
    this.unreachable = unreachable;
    let n = 0;
    for (const e of this.entries.values()) {
      if (e.status !== 'running') continue;
      const reason = unreachable(e.caller);
      if (reason === null) continue;
      endProcess(e, 'killed', reason, 'SIGKILL');
      n++;
    }
    return n;
  }

  /**
   * Records the end of every process still running, now, as killed: the
   * server is exiting without waiting for them (a second signal), and their
   * own ends would never be written.
   */
  recordUnfinished(): number {
    let n = 0;
    for (const e of this.entries.values()) {
      if (e.status !== 'running' || e.endRecorded !== undefined) continue;
      e.endRecorded = true;
      const reason = e.ending?.reason ?? 'the server exited before it ended';
      this.audit.write(processExitEvent({ ...e, status: 'killed', reason }, Math.round(performance.now() - e.started)));
      n++;
    }
    return n;
  }

  /** Kills every running process now (shutdown, a second signal). */
  killAll(reason = 'the server is shutting down'): void {
    for (const e of this.entries.values()) endProcess(e, 'killed', reason, 'SIGKILL');
  }

  /** Kills everything, waits (bounded) for the ends to be recorded, and refuses new starts. */
  async close(): Promise<void> {
    this.closed = true;
    this.endWaits();
    this.killAll();
    await settlesWithin(Promise.all([...this.entries.values()].map((e) => e.exited)), CLOSE_WAIT_MS);
    for (const e of this.entries.values()) {
      clearTimeout(e.forget);
      wake(e);
    }
  }
}
