/**
 * Bounds how many refusal lines (a bad key, a refused address, Host or
 * Origin, a tool not permitted, a limit reached) reach the audit log. Each
 * costs the sender one cheap request and the log a ~500-byte line: without a
 * bound, a client with no key at all writes megabytes a second and rotation
 * pushes the lines of real tool calls out of the kept files within a minute.
 *
 * Per 60 s window, a source gets its first `perSource` refusal lines
 * written one by one, and all addresses together `total`; the rest are
 * counted, and at the end of the window one summary line per event type says
 * how many were not written, from how many sources, and which sent most.
 * A source is the client address — an IPv6 client by its /64, since one host
 * is handed 2^64 addresses to pick from (an IPv4-mapped address is the IPv4
 * address) — or for a refusal after sign-in (a tool not permitted, a limit
 * reached) the signed-in client: such a client has a budget of its own
 * outside the shared total, so nobody (the client itself included)
 * can spend it with requests that carry no key and so hide which key was
 * refused what. Signed-in clients are as few as the keys file or the token
 * issuer makes them. Tool calls, process ends and key reloads always pass.
 * A refusal's warning on stderr follows its audit line: printed when the
 * line is written, counted in the summary when it is not, and each summary
 * is printed too — a keyless flood otherwise fills the journal as it filled
 * the log. The summary comes when the window that held lines back ends, from
 * a one-shot timer armed only then, which never keeps the process alive.
 * An AuditSink decorator: /metrics sits outside it and still counts every
 * refusal.
 */
import { addressSource } from '../util/ip-rules.ts';
import type { AuditEvent, AuditEventType, AuditSink } from './event.ts';

const REFUSALS: ReadonlySet<AuditEventType> = new Set(['auth_failure', 'ip_denied', 'host_denied', 'origin_denied', 'permission_denied', 'rate_limit_exceeded', 'request_refused']);


/** Who a refusal counts against: the signed-in client (by key or token), else the address it came from. */
function sourceOf(event: AuditEvent): { key: string; client: boolean } {
  const signedIn = event.client_id !== null && (event.api_key_hash !== null || event.oauth !== undefined) && event.event_type !== 'auth_failure';
  if (signedIn) return { key: `client ${event.client_id}`, client: true };
  return { key: `address ${event.client_ip === null ? 'unknown' : addressSource(event.client_ip)}`, client: false };
}

/** A source as a summary names it. */
function named(key: string, count: number): { client_id: string; count: number } | { client_ip: string; count: number } {
  const at = key.indexOf(' ');
  return key.slice(0, at) === 'client' ? { client_id: key.slice(at + 1), count } : { client_ip: key.slice(at + 1), count };
}

export const REFUSAL_WINDOW_MS = 60_000;
/** Distinct sources tracked per window; beyond it a new source's lines count against the total only. */
const MAX_SOURCES = 10_000;
/** Sources named in a summary line. */
const TOP = 5;

export interface RefusalThrottleOptions {
  /** Refusal lines written per source and window (HIDE_AUDIT_REFUSALS_PER_ADDRESS). */
  perSource: number;
  /** Refusal lines written per window, all sources together (HIDE_AUDIT_REFUSALS_PER_MINUTE). */
  total: number;
  /** Monotonic clock in ms; tests pass a fake one. */
  now?: () => number;
  /** Runs `run` once after `ms` unless cancelled; by default a timer that does not keep the process alive. Tests pass a fake one. */
  schedule?: (run: () => void, ms: number) => { cancel(): void };
  /** Prints a refusal's warning (and each summary) to the operator's log; nothing when absent. */
  warn?: (line: string) => void;
}

function unrefTimeout(run: () => void, ms: number): { cancel(): void } {
  const t = setTimeout(run, ms);
  t.unref();
  return { cancel: () => clearTimeout(t) };
}

interface Suppressed {
  count: number;
  /** Per source key, for the summary; capped at MAX_SOURCES (the count stays exact). */
  bySource: Map<string, number>;
}

export class RefusalThrottle implements AuditSink {
  private readonly perSource: number;
  private readonly total: number;
  private readonly now: () => number;
  private readonly schedule: NonNullable<RefusalThrottleOptions['schedule']>;
  private readonly warn: (line: string) => void;
  private windowStart: number;
  /** When the last summary was written (or the throttle began). */
  private summarizedAt: number;
  private written = 0;
  private readonly writtenBySource = new Map<string, number>();
  private readonly suppressed = new Map<AuditEventType, Suppressed>();
  /** The summary due at the end of the window, armed by its first suppressed line. */
  private due: { cancel(): void } | null = null;
  /** After close the sink takes no more lines: a summary armed then would only be dropped, its warning printed late. */
  private closed = false;

  constructor(
    private readonly inner: AuditSink,
    opts: RefusalThrottleOptions,
  ) {
    this.perSource = opts.perSource;
    this.total = opts.total;
    this.now = opts.now ?? (() => performance.now());
    this.schedule = opts.schedule ?? unrefTimeout;
    this.warn = opts.warn ?? (() => {});
    this.windowStart = this.now();
    this.summarizedAt = this.windowStart;
  }

  /** `warning`: the refusal's line for stderr, printed only if the event is written one by one. */
  write(event: AuditEvent, warning?: string): void {
    if (REFUSALS.has(event.event_type)) {
      this.roll();
      const source = sourceOf(event);
      if (!this.admit(source)) {
        this.suppress(event.event_type, source.key);
        return;
      }
    }
    this.inner.write(event);
    if (warning !== undefined) this.warn(warning);
  }

  private admit(source: { key: string; client: boolean }): boolean {
    if (!source.client && this.written >= this.total) return false;
    const n = this.writtenBySource.get(source.key);
    if (n === undefined && !source.client && this.writtenBySource.size >= MAX_SOURCES) return false;
    if ((n ?? 0) >= this.perSource) return false;
    this.writtenBySource.set(source.key, (n ?? 0) + 1);
    if (!source.client) this.written++;
    return true;
  }

  private suppress(type: AuditEventType, source: string): void {
    let s = this.suppressed.get(type);
    if (s === undefined) {
      s = { count: 0, bySource: new Map() };
      this.suppressed.set(type, s);
    }
    s.count++;
    const n = s.bySource.get(source);
    if (n !== undefined || s.bySource.size < MAX_SOURCES) s.bySource.set(source, (n ?? 0) + 1);
    this.armSummary();
  }

  /**
   * The summary of a flood that stopped is written when its window ends, not
   * at the next refusal. A timer that fires before the window is over (clocks
   * differ by a hair) waits out the rest.
   */
  private armSummary(): void {
    if (this.closed || this.due !== null || this.suppressed.size === 0) return;
    const left = Math.max(1, this.windowStart + REFUSAL_WINDOW_MS - this.now());
    this.due = this.schedule(() => {
      this.due = null;
      this.roll();
      this.armSummary();
    }, left);
  }

  /** Starts a new window once the current one is over, writing its summaries first. */
  private roll(): void {
    const now = this.now();
    if (now - this.windowStart < REFUSAL_WINDOW_MS) return;
    this.summarize(now);
    this.windowStart = now;
    this.written = 0;
    this.writtenBySource.clear();
  }

  /** One line per event type with refusals not written one by one since the window began. */
  private summarize(now: number): void {
    this.due?.cancel();
    this.due = null;
    const seconds = Math.max(1, Math.round((now - this.summarizedAt) / 1000));
    this.summarizedAt = now;
    for (const [type, s] of this.suppressed) {
      const top = [...s.bySource]
        .sort((a, b) => b[1] - a[1])
        .slice(0, TOP)
        .map(([key, count]) => named(key, count));
      const first = top[0];
      const error = `${s.count} more ${type} events in the last ${seconds} s were not written one by one (at most ${this.perSource} per address or signed-in client and ${this.total} from all addresses per minute)`;
      this.inner.write({
        event_type: type,
        correlation_id: null,
        client_id: first && 'client_id' in first ? first.client_id : null,
        client_ip: first && 'client_ip' in first ? first.client_ip : null,
        api_key_hash: null,
        user: null,
        tool_name: null,
        arguments: null,
        result: { suppressed: s.count, seconds, sources: s.bySource.size, top },
        error,
      });
      if (first) this.warn(`${error}; most from ${'client_id' in first ? `client ${first.client_id}` : first.client_ip} (${first.count})`);
    }
    this.suppressed.clear();
  }

  /** Writes the summaries of the window so far, then flushes. */
  flush(): Promise<void> | void {
    this.summarize(this.now());
    return this.inner.flush();
  }

  close(): Promise<void> | void {
    this.closed = true;
    this.summarize(this.now());
    return this.inner.close();
  }
}
