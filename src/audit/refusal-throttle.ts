/**
 * Bounds how many refusal lines (a bad key, a refused address, Host or
 * Origin, a tool not permitted, a limit reached) reach the audit log. Each
 * costs the sender one cheap request and the log a ~500-byte line: without a
 * bound, a client with no key at all writes megabytes a second and rotation
 * pushes the lines of real tool calls out of the kept files within a minute.
 *
 * Per 60 s window, a source (the client address) gets its first
 * `perSource` refusal lines written one by one, and all sources together
 * `total`; the rest are counted, and at the end of the window one summary
 * line per event type says how many were not written, from how many
 * addresses, and which sent most. Tool calls, process ends and key reloads
 * always pass. An AuditSink decorator: /metrics sits outside it and still
 * counts every refusal.
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

interface Suppressed {
  count: number;
  /** Per source, for the summary; capped at MAX_SOURCES (the count stays exact). */
  bySource: Map<string, number>;
}

export class RefusalThrottle implements AuditSink {
  private readonly perSource: number;
  private readonly total: number;
  private readonly now: () => number;
  private windowStart: number;
  /** When the last summary was written (or the throttle began). */
  private summarizedAt: number;
  private written = 0;
  private readonly writtenBySource = new Map<string, number>();
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
      if (!this.admit(event.client_ip ?? 'unknown')) {
        this.suppress(event.event_type, event.client_ip ?? 'unknown');
        return;
      }
    }
    this.inner.write(event);
  }

  private admit(source: string): boolean {
    if (this.written >= this.total) return false;
    const n = this.writtenBySource.get(source);
    if (n === undefined && this.writtenBySource.size >= MAX_SOURCES) return false;
    if ((n ?? 0) >= this.perSource) return false;
    this.writtenBySource.set(source, (n ?? 0) + 1);
    this.written++;
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
    const seconds = Math.max(1, Math.round((now - this.summarizedAt) / 1000));
    this.summarizedAt = now;
    for (const [type, s] of this.suppressed) {
      const top = [...s.bySource].sort((a, b) => b[1] - a[1]).slice(0, TOP);
      this.inner.write({
        event_type: type,
        correlation_id: null,
        client_id: null,
        client_ip: top[0]?.[0] ?? null,
        api_key_hash: null,
        user: null,
        tool_name: null,
        arguments: null,
        result: { suppressed: s.count, seconds, sources: s.bySource.size, top: top.map(([clientIp, count]) => ({ client_ip: clientIp, count })) },
        error: `${s.count} more ${type} events in the last ${seconds} s were not written one by one (at most ${this.perSource} per address and ${this.total} in all per minute)`,
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
