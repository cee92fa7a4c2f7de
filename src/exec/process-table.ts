/**
 * Long-lived processes and their handles: who started each one, its output
 * ring, its timers and its end. A handle is an unguessable token that also
 * names this instance; it is bound to the client that started the process,
 * and another client's handle gets the very answer a wrong one gets. Bounds:
 * processes per client and per instance, a lifetime and an idle limit, an
 * output ring per process, an ended process kept readable for a while, and
 * everything killed when the server closes. Every end is an audit event.
 *
 * Plain policy: no HTTP and no MCP here; the process_* tools adapt it.
 */
import type { AuditEvent, AuditSink } from '../audit/event.ts';
import { RateLimitError } from '../core/errors.ts';
import type { LiveHandle, ProcessSignal, TerminalSize } from './live.ts';
import { INPUT_WAIT_MS, MAX_PENDING_INPUT } from './pipe-input.ts';
import { noteTransientBytes } from '../util/gc-pressure.ts';
import { randomBytes } from '../util/random.ts';
import { sha256Hex } from '../util/sha256.ts';
import { OutputRing } from './output-ring.ts';
import type { CommandRunner } from './runner.ts';
import { KILL_GRACE_MS } from './spawn.ts';

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

/** Who is asking, as the audit log records it. */
export interface Caller {
  clientId: string;
  clientIp: string | null;
  apiKeyHash: string | null;
  user: string | null;
  correlationId: string;
  /** A caller signed in with an OAuth token: its lines carry this, as every line of such a caller does. */
  oauth?: AuditEvent['oauth'];
}

/** The `oauth` field of a line about `caller`: also what tells the refusal throttle a token caller is signed in. */
function oauthOf(caller: Caller): Pick<AuditEvent, 'oauth'> {
  return caller.oauth ? { oauth: caller.oauth } : {};
}

export type ProcessStatus = 'running' | 'exited' | 'killed' | 'timed-out';

export interface StartArgs {
  command: string;
  arguments?: readonly string[];
  workingDirectory?: string;
  terminal?: TerminalSize | false;
  env?: Record<string, string>;
  timeoutSeconds?: number;
  idleTimeoutSeconds?: number;
}

export interface ProcessState {
  status: ProcessStatus;
  exitCode: number | null;
  signal: string | null;
  runningMs: number;
  /** Why the process ended when it did not exit on its own, else null. */
  reason: string | null;
}

export interface ReadResult extends ProcessState {
  output: string;
  cursor: number;
  dropped: number;
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

/** A refusal an agent can act on (not found, bad env, exited): becomes an isError result. */
export class ProcessError extends Error {}

const CANCELLED_START = 'the call was cancelled before the process was handed back; it was stopped';

/** Longest a read may wait for output. */
export const MAX_WAIT_MS = 30_000;
/** Default and largest amount one read returns. */
export const DEFAULT_READ_BYTES = 64 * 1024;
export const MAX_READ_BYTES = 1024 * 1024;
/** Largest input one write carries. */
export const MAX_WRITE_BYTES = 64 * 1024;
/**
 * Input a terminal process may take over its whole life. A pipe's unread
 * input is bounded where it waits (live.ts); a terminal's cannot be — Bun
 * keeps what the PTY does not take and does not say how much — so a process
 * that never reads its terminal would make its holder (the sandbox launcher,
 * or the server) grow with every write. Interactive input stays far below this.
 */
export const MAX_TERMINAL_INPUT_BYTES = 16 * 1024 * 1024;
/** How long a kill waits for the process to be gone before answering. */
const KILL_WAIT_MS = KILL_GRACE_MS + 2000;
/** How long closing the table waits for killed processes to report their end. */
const CLOSE_WAIT_MS = 5000;

/** Names a process may never get from its caller, whatever the allow list says: they steer the loader or the policy. */
const FORBIDDEN_ENV = /^(PATH|HOME|TMPDIR|LD_.*|DYLD_.*)$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

interface Entry {
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
  ring: OutputRing;
  handle: LiveHandle;
  status: ProcessStatus;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  /** Set when we ended it: what its status becomes and why. */
  ending: { status: 'killed' | 'timed-out'; reason: string } | null;
  waiters: Set<() => void>;
  idleMs: number;
  lifetime: ReturnType<typeof setTimeout> | undefined;
  idle: ReturnType<typeof setTimeout> | undefined;
  forget: ReturnType<typeof setTimeout> | undefined;
  exited: Promise<void>;
  caller: Caller;
}

const decoder = new TextDecoder();

/** Ended processes kept readable per client, per running process it may have (HIDE_PROCESS_MAX_PER_CLIENT). */
export const KEPT_ENDED_PER_RUNNING = 4;

function unref(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  timer.unref?.();
  return timer;
}

export class ProcessTable {
  private readonly entries = new Map<string, Entry>();
  /** Starts admitted and not yet settled, per client: they count against the caps. */
  private readonly starting = new Map<string, number>();
  private closed = false;
  /** Set when the server begins to stop: reads no longer wait for output. */
  private waitsEnded = false;
  /** Output bytes dropped from rings, all processes (a counter for /metrics). */
  droppedTotal = 0;

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

  /** The checks a start needs before anything runs: env names and values, timeouts. */
  private checkStart(args: StartArgs): { env: Record<string, string> | undefined; timeoutMs: number; idleMs: number } {
    let env: Record<string, string> | undefined;
    if (args.env && Object.keys(args.env).length > 0) {
      env = {};
      for (const [name, value] of Object.entries(args.env)) {
        if (!ENV_NAME.test(name)) throw new ProcessError(`env name '${name.slice(0, 64)}' is not a valid variable name`);
        if (FORBIDDEN_ENV.test(name)) throw new ProcessError(`env ${name} cannot be set: the server owns it`);
        if (!this.settings.envAllowlist.includes(name)) {
          throw new ProcessError(`env ${name} is not on the allow list (HIDE_PROCESS_ENV_ALLOWLIST: ${this.settings.envAllowlist.join(', ') || 'empty'})`);
        }
        if (value.includes('\0')) throw new ProcessError(`env ${name} contains a NUL byte`);
        env[name] = value;
      }
    }
    const timeout = args.timeoutSeconds ?? Math.min(this.settings.defaultTimeoutSeconds, this.settings.maxTimeoutSeconds);
    if (timeout > this.settings.maxTimeoutSeconds) throw new ProcessError(`timeoutSeconds must be at most ${this.settings.maxTimeoutSeconds}`);
    const idle = args.idleTimeoutSeconds ?? this.settings.idleTimeoutSeconds;
    if (idle > this.settings.idleTimeoutSeconds) throw new ProcessError(`idleTimeoutSeconds must be at most ${this.settings.idleTimeoutSeconds}`);
    return { env, timeoutMs: timeout * 1000, idleMs: idle * 1000 };
  }

  /**
   * Starts a process for `caller`. Throws RateLimitError at a cap (the
   * refusal is audited) and ProcessError for a start the caller can fix.
   */
  async start(caller: Caller, args: StartArgs, signal?: AbortSignal): Promise<{ processId: string; pid: number | null; startedAt: string }> {
    if (this.closed) throw new ProcessError('the server is shutting down');
    if (signal?.aborted) throw new ProcessError(CANCELLED_START);
    const checked = this.checkStart(args);
    const owner = caller.clientId;
    const refuse = (message: string, limit: string, max: number): never => {
      this.audit.write({
        event_type: 'rate_limit_exceeded',
        correlation_id: caller.correlationId,
        client_id: caller.clientId,
        client_ip: caller.clientIp,
        api_key_hash: caller.apiKeyHash,
        user: caller.user,
        tool_name: 'process_start',
        arguments: null,
        // `reason` labels the refusal in /metrics, as the limiter's refusals are.
        result: { reason: limit, limit, max },
        error: message,
        ...oauthOf(caller),
      });
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
    let entry: Entry | null = null;
    const sink = (chunk: Uint8Array, lostBefore: number) => {
      const before = ring.droppedTotal;
      ring.append(chunk, lostBefore);
      // The chunk was copied into the ring: under a flood these are garbage the collector weighs lazily.
      noteTransientBytes(chunk.byteLength);
      this.droppedTotal += ring.droppedTotal - before;
      if (entry) this.wake(entry);
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

    const id = `p-${randomBytes(16).toString('hex')}@${this.settings.instanceId}`;
    const e: Entry = {
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
    e.lifetime = unref(setTimeout(() => this.end(e, 'timed-out', `its lifetime of ${checked.timeoutMs / 1000} s ran out`), checked.timeoutMs));
    this.touch(e);
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
      this.wake(e);
      this.auditExit(e, Math.round(exit.durationMs || e.ended - e.started));
      e.forget = unref(setTimeout(() => this.entries.get(id) === e && this.entries.delete(id), this.settings.keepExitedSeconds * 1000));
      this.forgetOldestEnded(e.owner);
    });
    return { processId: id, pid: handle.pid, startedAt: e.startedAt.toISOString() };
  }

  /** Most ended processes a client keeps readable: the caps count running ones only, and each ended one holds its output ring. */
  private get keptEndedPerClient(): number {
    return KEPT_ENDED_PER_RUNNING * this.settings.maxPerClient;
  }

  /**
   * Forgets a client's oldest ended processes past its share, then, while the
   * instance keeps more than HIDE_PROCESS_MAX_TOTAL ended ones, the oldest of
   * whichever client keeps the most. Without the first, a client starting short
   * processes that print their ring full held a ring per start for
   * HIDE_PROCESS_KEEP_EXITED_SECONDS: 1000 such starts kept +330 MB in the
   * server; without the second, each client (an OAuth issuer mints them) added
   * its full share: ~40 MB per client at the defaults, 20 clients +820 MB.
   * Taking from the biggest keeper means a crowd of clients cannot push out
   * another client's few.
   */
  private forgetOldestEnded(owner: string): void {
    const endedBy = new Map<string, number>();
    let total = 0;
    for (const e of this.entries.values()) {
      if (e.status === 'running') continue;
      endedBy.set(e.owner, (endedBy.get(e.owner) ?? 0) + 1);
      total++;
    }
    while ((endedBy.get(owner) ?? 0) > this.keptEndedPerClient) {
      this.forgetOldestEndedOf(owner);
      endedBy.set(owner, endedBy.get(owner)! - 1);
      total--;
    }
    while (total > this.settings.maxTotal) {
      let biggest = owner;
      for (const [o, n] of endedBy) if (n > endedBy.get(biggest)!) biggest = o;
      this.forgetOldestEndedOf(biggest);
      endedBy.set(biggest, endedBy.get(biggest)! - 1);
      total--;
    }
  }

  /** Forgets one client's oldest ended process (Map order is start order). */
  private forgetOldestEndedOf(owner: string): void {
    for (const [id, e] of this.entries) {
      if (e.owner !== owner || e.status === 'running') continue;
      clearTimeout(e.forget);
      this.entries.delete(id);
      return;
    }
  }

  /**
   * The entry a client may see under `processId`. Another client's handle and
   * a wrong one get the same answer; a handle of another instance says so.
   */
  private find(owner: string, processId: string): Entry {
    const entry = this.entries.get(processId);
    if (entry && entry.owner === owner) return entry;
    const at = processId.lastIndexOf('@');
    const instance = at >= 0 ? processId.slice(at + 1) : '';
    if (at >= 0 && /^p-[0-9a-f]{32}$/.test(processId.slice(0, at)) && instance !== this.settings.instanceId) {
      throw new ProcessError(
        `process ${processId} belongs to instance '${instance.slice(0, 64)}', and this is instance '${this.settings.instanceId}': ` +
          'calls for one process must reach the instance that started it (route by the processId, sticky routing)',
      );
    }
    throw new ProcessError(`process ${processId.slice(0, 200)} not found: it never existed, belongs to another client, or ended more than ${this.settings.keepExitedSeconds} s ago or before its client's newest ${this.keptEndedPerClient} ended processes (or, with many clients, its share of this instance's ${this.settings.maxTotal})`);
  }

  private state(e: Entry): ProcessState {
    return {
      status: e.status,
      exitCode: e.exitCode,
      signal: e.signal,
      runningMs: Math.round((e.ended ?? performance.now()) - e.started),
      reason: e.reason,
    };
  }

  /** Restarts the idle clock: a call named the process. */
  private touch(e: Entry): void {
    if (e.status !== 'running') return;
    clearTimeout(e.idle);
    e.idle = unref(
      setTimeout(() => {
        // A read waiting for its output is a call reading it: an idle limit shorter than waitMs must not end the process under it.
        if (e.waiters.size > 0) this.touch(e);
        else this.end(e, 'timed-out', `no call read or wrote it for ${e.idleMs / 1000} s`);
      }, e.idleMs),
    );
  }

  private wake(e: Entry): void {
    if (e.waiters.size === 0) return;
    const waiters = [...e.waiters];
    e.waiters.clear();
    for (const w of waiters) w();
  }

  /** Ends a running process: TERM to its group, KILL after a grace. */
  private end(e: Entry, status: 'killed' | 'timed-out', reason: string, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): void {
    if (e.status !== 'running') return;
    e.ending ??= { status, reason };
    if (signal === 'SIGKILL') e.handle.signal('SIGKILL');
    else e.handle.terminate();
  }

  /**
   * Where a read may stop now: the end of the output, less a UTF-8 sequence
   * still arriving while the process runs (once it has ended, all of it).
   */
  private readableEnd(e: Entry): number {
    return e.status === 'running' ? e.ring.total - e.ring.partialTail : e.ring.total;
  }

  /** Output since `cursor`; with `waitMs`, waits for new output or the end first (woken, never polling). */
  async read(owner: string, processId: string, opts: { cursor?: number; waitMs?: number; maxBytes?: number; signal?: AbortSignal }): Promise<ReadResult> {
    const e = this.find(owner, processId);
    this.touch(e);
    // A cursor past the end (no read ever handed it out) counts from the end as it is now, so the output this read
    // waits for is returned rather than skipped.
    const cursor = Math.min(opts.cursor ?? 0, e.ring.total);
    const deadline = performance.now() + Math.min(opts.waitMs ?? 0, MAX_WAIT_MS);
    while (e.status === 'running' && this.readableEnd(e) <= cursor && !opts.signal?.aborted && !this.waitsEnded) {
      const waitMs = deadline - performance.now();
      if (waitMs <= 0) break;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          e.waiters.delete(done);
          opts.signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        e.waiters.add(done);
        opts.signal?.addEventListener('abort', done, { once: true });
      });
      this.touch(e);
    }
    const r = e.ring.read(cursor, Math.min(opts.maxBytes ?? DEFAULT_READ_BYTES, MAX_READ_BYTES), this.readableEnd(e));
    return { output: decoder.decode(r.bytes), cursor: r.next, dropped: r.dropped, ...this.state(e) };
  }

  /** Sends input; `closeStdin` ends the input afterwards. Returns the input's size and digest (for the audit line). */
  async write(owner: string, processId: string, input: string, closeStdin: boolean, signal?: AbortSignal): Promise<{ bytes: number; sha256: string } & ProcessState> {
    const e = this.find(owner, processId);
    if (e.status !== 'running') throw new ProcessError(`process ${processId} has ended (${e.status}); it takes no input`);
    this.touch(e);
    const bytes = new TextEncoder().encode(input);
    if (bytes.byteLength > MAX_WRITE_BYTES) throw new ProcessError(`input is ${bytes.byteLength} bytes; one write carries at most ${MAX_WRITE_BYTES}`);
    if (e.terminal && e.inputBytes + bytes.byteLength > MAX_TERMINAL_INPUT_BYTES) {
      throw new ProcessError(
        `process ${processId} has taken ${e.inputBytes} bytes of terminal input; a terminal process takes at most ${MAX_TERMINAL_INPUT_BYTES} over its life — start it without a terminal to stream more`,
      );
    }
    e.inputBytes += bytes.byteLength;
    // A call its client cancels takes its input back while it still waits for room.
    const outcome = bytes.byteLength > 0 ? await e.handle.write(bytes, signal) : 'taken';
    if (outcome !== 'taken') {
      e.inputBytes -= bytes.byteLength;
      throw new ProcessError(
        outcome === 'full'
          ? `process ${processId} holds ${MAX_PENDING_INPUT} bytes of earlier input it has not read, and this input found no room within ${INPUT_WAIT_MS / 1000} s; it was not delivered — the process may be waiting for you to read its output (process_read); write it again once it reads`
          : outcome === 'cancelled'
            ? `the write to process ${processId} was cancelled while it waited for room; this input was not delivered`
            : `process ${processId} no longer takes input (its input is closed or it is ending); this input was not delivered`,
      );
    }
    this.touch(e);
    // Only after this write was queued: the end of input must come after it.
    if (closeStdin) e.handle.closeInput();
    return { bytes: bytes.byteLength, sha256: sha256Hex(bytes), ...this.state(e) };
  }

  list(owner: string): ListedProcess[] {
    const out: ListedProcess[] = [];
    for (const e of this.entries.values()) {
      if (e.owner !== owner) continue;
      this.touch(e);
      out.push({
        processId: e.id,
        command: e.command,
        arguments: e.arguments,
        terminal: e.terminal,
        pid: e.handle.pid,
        startedAt: e.startedAt.toISOString(),
        bytesOut: e.ring.total,
        ...this.state(e),
      });
    }
    return out;
  }

  /**
   * Signals the process's whole group. SIGTERM (the default) escalates to
   * SIGKILL after a grace; TERM and KILL wait for the end before answering.
   */
  async kill(owner: string, processId: string, signal: ProcessSignal = 'SIGTERM'): Promise<ProcessState> {
    const e = this.find(owner, processId);
    if (e.status !== 'running') return this.state(e);
    if (signal === 'SIGTERM' || signal === 'SIGKILL') this.end(e, 'killed', `process_kill sent ${signal}`, signal);
    else {
      e.ending ??= { status: 'killed', reason: `process_kill sent ${signal}` };
      e.handle.signal(signal);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([e.exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, signal === 'SIGTERM' || signal === 'SIGKILL' ? KILL_WAIT_MS : 1000)))]);
    clearTimeout(timer);
    // A signal the process survived (SIGINT to a REPL) does not make it "killed" later.
    if (e.status === 'running' && signal !== 'SIGTERM' && signal !== 'SIGKILL') e.ending = null;
    return this.state(e);
  }

  /**
   * Answers every waiting read now and lets no read wait from here on: the
   * server is draining, and a long poll is no work worth holding the drain for.
   */
  endWaits(): void {
    this.waitsEnded = true;
    for (const e of this.entries.values()) this.wake(e);
  }

  /**
   * Ends the running processes whose caller can no longer reach them (a
   * keys-file reload took their client's access away): nobody can read or
   * stop them any more, and revoked access must not keep work going.
   * `unreachable` says why for such a caller, and null for the others.
   */
  endUnreachable(unreachable: (caller: Caller) => string | null): number {
    let n = 0;
    for (const e of this.entries.values()) {
      if (e.status !== 'running') continue;
      const reason = unreachable(e.caller);
      if (reason === null) continue;
      this.end(e, 'killed', reason, 'SIGKILL');
      n++;
    }
    return n;
  }

  /** Kills every running process now (shutdown, a second signal). */
  killAll(reason = 'the server is shutting down'): void {
    for (const e of this.entries.values()) this.end(e, 'killed', reason, 'SIGKILL');
  }

  /** Kills everything, waits (bounded) for the ends to be recorded, and refuses new starts. */
  async close(): Promise<void> {
    this.closed = true;
    this.endWaits();
    this.killAll();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all([...this.entries.values()].map((e) => e.exited)), new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    for (const e of this.entries.values()) {
      clearTimeout(e.forget);
      this.wake(e);
    }
  }

  private auditExit(e: Entry, durationMs: number): void {
    this.audit.write({
      event_type: 'process_exit',
      correlation_id: e.caller.correlationId,
      client_id: e.caller.clientId,
      client_ip: e.caller.clientIp,
      api_key_hash: e.caller.apiKeyHash,
      user: e.caller.user,
      tool_name: 'process_start',
      arguments: { processId: e.id, command: e.command, arguments: e.arguments, terminal: e.terminal },
      result: { status: e.status, exitCode: e.exitCode, signal: e.signal, durationMs, bytesOut: e.ring.total, dropped: e.ring.droppedTotal, reason: e.reason },
      error: null,
      ...oauthOf(e.caller),
    });
  }
}
