/**
 * The audit log's failure policy: an outage begins at the first failed write
 * (reported once; later failures are only counted) and ends when a write
 * succeeds again (reported with the lines lost). With `retryMs` the disk is
 * tried again on a timer while failing, so an owner that refuses work
 * meanwhile (HIDE_AUDIT_ON_ERROR=refuse: no calls, so no lines to write)
 * still learns that the log is writable again; the line that proves it is an
 * `audit_recovered` line naming the lines lost, built here.
 */
import { type AuditEvent, writerEvent } from './event.ts';

export interface OutageOptions {
  /** While failing, try the disk again this often (ms); 0 = only when lines come. */
  retryMs: number;
  /** Tells the owner of the failure that began the outage. */
  warn: (err: Error) => void;
  /** Called when a write succeeds after an outage, with the lines it lost. */
  onRecover: (dropped: number) => void;
  /** One try at the disk while failing (every retryMs). */
  retry: () => void;
}

export class AuditOutage {
  private failed = false;
  /** The writer's lines dropped when the current outage began. */
  private droppedBefore = 0;
  /** When the current outage began (the `audit_recovered` line names it). */
  private failedSince = 0;
  /** Tries the disk again while failing (retryMs); null when not failing or not asked for. */
  private retryTimer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly opts: OutageOptions) {}

  /** True from a failed write (or rotation, or checkpoint) until a write succeeds again. */
  get failing(): boolean {
    return this.failed;
  }

  /** The disk is tried again on its own while failing, with `audit_recovered` lines. */
  get retries(): boolean {
    return this.opts.retryMs > 0;
  }

  /**
   * A write failed: starts an outage (before its first lost lines are
   * counted) unless one is under way. `linesDropped` is the writer's count so far.
   */
  begin(err: Error, linesDropped: number, closed: boolean): void {
    if (this.failed) return;
    this.failed = true;
    this.droppedBefore = linesDropped;
    this.failedSince = Date.now();
    this.opts.warn(err);
    if (this.opts.retryMs > 0 && !closed && this.retryTimer === null) {
      this.retryTimer = setInterval(() => this.opts.retry(), this.opts.retryMs);
      // An outage must not keep a server that is otherwise done alive.
      this.retryTimer.unref();
    }
  }

  /** A write succeeded: ends the outage under way, if any. */
  end(linesDropped: number): void {
    if (!this.failed) return;
    this.failed = false;
    this.stopRetrying();
    try {
      this.opts.onRecover(linesDropped - this.droppedBefore);
    } catch {
      // As for onError.
    }
  }

  stopRetrying(): void {
    if (this.retryTimer !== null) clearInterval(this.retryTimer);
    this.retryTimer = null;
  }

  /** What the outage cost, as far as the writer knows (`linesDropped`) when the line is sealed. */
  recoveredEvent(linesDropped: number): AuditEvent {
    return writerEvent('audit_recovered', { linesLost: linesDropped - this.droppedBefore, failingSince: new Date(this.failedSince).toISOString() }, null);
  }

}
