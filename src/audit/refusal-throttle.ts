/**
 * Bounds how many refusal lines (a bad key, a refused address, Host or
 * Origin, a tool not permitted, a limit reached) reach the audit log. Each
 * costs the sender one cheap request and the log a ~500-byte line: without a
 * bound, a client with no key at all writes megabytes a second and rotation
 * pushes the lines of real tool calls out of the kept files within a minute.
 *
 * Per 60 s window, a source gets its first `perSource` refusal lines
 * written one by one, and all sources together `total`; the rest are
 * counted, and at the end of the window one summary line per event type says
 * how many were not written, from how many sources, and which sent most.
 * A refusal of an authenticated caller (a tool not permitted, a limit
 * reached) counts against its client id, and against a total of its own: a
 * flood of keyless refusals, from the caller's own address or from many,
 * cannot push that caller's refusals, with who and which tool, into a count
 * by address. Tool calls, process ends and key reloads always pass. An
 * AuditSink decorator: /metrics sits outside it and still counts every
 * refusal.
 */
import type { AuditEvent, AuditEventType, AuditSink } from './event.ts';

const REFUSALS: ReadonlySet<AuditEventType> = new Set(['auth_failure', 'ip_denied', 'host_denied', 'origin_denied', 'permission_denied', 'rate_limit_exceeded']);

export const REFUSAL_WINDOW_MS = 60_000;
/** Distinct sources tracked per window; beyond it a new source's lines count against the total only. */
const MAX_SOURCES = 10_000;
/** Sources named in a summary line. */
const TOP = 5;

export interface RefusalThrottleOptions {
  /** Refusal lines written per source and window. */
  perSource?: number;
  /** Refusal lines written per window, all sources together. */
  total?: number;
  /** Monotonic clock in ms; tests pass a fake one. */
  now?: () => number;
}

/** Who a refusal is counted against: an authenticated client by its id, anyone else by address. */
interface Source {
  client_ip: string | null;
  client_id: string | null;
}

/** Refusals written one by one in the window, kept apart for authenticated callers and the rest. */
interface Pool {
  written: number;
  bySource: Map<string, number>;
}

interface Suppressed {
  count: number;
  /** Per source, for the summary; capped at MAX_SOURCES (the count stays exact). */
  bySource: Map<string, Source & { count: number }>;
}

export class RefusalThrottle implements AuditSink {
  private readonly perSource: number;
  private readonly total: number;
  private readonly now: () => number;
  private windowStart: number;
  /** When the last summary was written (or the throttle began). */
  private summarizedAt: number;
  private readonly keyless: Pool = { written: 0, bySource: new Map() };
  private readonly clients: Pool = { written: 0, bySource: new Map() };
  private readonly suppressed = new Map<AuditEventType, Suppressed>();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly inner: AuditSink,
    opts: RefusalThrottleOptions = {},
  ) {
    this.perSource = opts.perSource ?? 30;
    this.total = opts.total ?? 300;
    this.now = opts.now ?? (() => performance.now());
    this.windowStart = this.now();
    this.summarizedAt = this.windowStart;
    // The summary of a flood that stopped is written when its window ends, not at the next refusal.
    this.timer = setInterval(() => this.roll(), REFUSAL_WINDOW_MS);
    this.timer.unref();
  }

  write(event: AuditEvent): void {
    if (REFUSALS.has(event.event_type)) {
      this.roll();
      const pool = event.client_id === null ? this.keyless : this.clients;
      const key = event.client_id ?? event.client_ip ?? 'unknown';
      if (!this.admit(pool, key)) {
        this.suppress(event.event_type, key, { client_ip: event.client_ip, client_id: event.client_id });
        return;
      }
    }
    this.inner.write(event);
  }

  private admit(pool: Pool, key: string): boolean {
    if (pool.written >= this.total) return false;
    const n = pool.bySource.get(key);
    if (n === undefined && pool.bySource.size >= MAX_SOURCES) return false;
    if ((n ?? 0) >= this.perSource) return false;
    pool.bySource.set(key, (n ?? 0) + 1);
    pool.written++;
    return true;
  }

  private suppress(type: AuditEventType, key: string, source: Source): void {
    let s = this.suppressed.get(type);
    if (s === undefined) {
      s = { count: 0, bySource: new Map() };
      this.suppressed.set(type, s);
    }
    s.count++;
    // Keyed by client id or address; a client's id and its address can never be the same key (client ids are not
    // addresses unless auth is off, and then every refusal of one address is counted as that one client).
    const seen = s.bySource.get(key);
    if (seen !== undefined) seen.count++;
    else if (s.bySource.size < MAX_SOURCES) s.bySource.set(key, { ...source, count: 1 });
  }

  /** Starts a new window once the current one is over, writing its summaries first. */
  private roll(): void {
    const now = this.now();
    if (now - this.windowStart < REFUSAL_WINDOW_MS) return;
    this.summarize(now);
    this.windowStart = now;
    for (const pool of [this.keyless, this.clients]) {
      pool.written = 0;
      pool.bySource.clear();
    }
  }

  /** One line per event type with refusals not written one by one since the window began. */
  private summarize(now: number): void {
    const seconds = Math.max(1, Math.round((now - this.summarizedAt) / 1000));
    this.summarizedAt = now;
    for (const [type, s] of this.suppressed) {
      const top = [...s.bySource.values()].sort((a, b) => b.count - a.count).slice(0, TOP);
      this.inner.write({
        event_type: type,
        correlation_id: null,
        client_id: top[0]?.client_id ?? null,
        client_ip: top[0]?.client_ip ?? null,
        api_key_hash: null,
        user: null,
        tool_name: null,
        arguments: null,
        result: { suppressed: s.count, seconds, sources: s.bySource.size, top: top.map(({ client_ip, client_id, count }) => ({ client_ip, client_id, count })) },
        error:
          `${s.count} more ${type} events in the last ${seconds} s were not written one by one ` +
          `(at most ${this.perSource} per client, or per address before authentication, and ${this.total} in all per minute)`,
      });
    }
    this.suppressed.clear();
  }

  /** Writes the summaries of the window so far, then flushes. */
  flush(): Promise<void> | void {
    this.summarize(this.now());
    return this.inner.flush();
  }

  close(): Promise<void> | void {
    clearInterval(this.timer);
    this.summarize(this.now());
    return this.inner.close();
  }
}
