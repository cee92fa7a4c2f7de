/**
 * The audit writer's batching: events are queued in memory and written with
 * one append at the end of the turn, which keeps throughput high and each
 * line whole. A batch is written holding the log's directory lock; another
 * holder (a second server's batch, or any process that can open the
 * directory and keeps it locked — a command in a workspace that holds the
 * log) is waited for on a timer, so the event loop and every other client's
 * call go on meanwhile; after LOCK_WAIT_MS the batch is written without it.
 */
import type { AuditEvent } from './event.ts';
import { LOCK_RETRY_MS, LOCK_WAIT_MS, type LogLock } from './log-lock.ts';

/** A queued event; `probe` marks the retry's `audit_recovered` line, built when the batch is sealed. */
export interface Queued {
  at: number;
  event: AuditEvent;
  probe?: boolean;
}

export class BatchQueue {
  private pending: Queued[] = [];
  private scheduled = false;

  /**
   * @param closed the writer is closed: a scheduled batch is not written.
   * @param writeBatch writes what is queued (taking it with `take`); `held` says whether it holds the lock, to release.
   */
  constructor(
    private readonly lock: LogLock,
    private readonly closed: () => boolean,
    private readonly writeBatch: (held: boolean) => void,
  ) {}

  /** Queues one item; the batch is written at the end of the turn. */
  push(item: Queued): void {
    this.pending.push(item);
    this.schedule();
  }

  /** Queues one item ahead of every other; written at the end of the turn, or first in the batch under way. */
  pushFirst(item: Queued): void {
    this.pending.unshift(item);
    this.schedule();
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushWhenLocked(performance.now()));
    }
  }

  /** The retry's `audit_recovered` line is queued and not yet written. */
  get holdsProbe(): boolean {
    return this.pending.some((q) => q.probe);
  }

  /** Everything queued, in order, leaving the queue empty. */
  take(): Queued[] {
    const queued = this.pending;
    this.pending = [];
    return queued;
  }

  /** A tick's batch, once the lock is held or waited for long enough. */
  private flushWhenLocked(since: number): void {
    if (this.pending.length === 0 || this.closed()) {
      this.scheduled = false;
      return;
    }
    const got = this.lock.tryTake();
    if (got === 'busy' && performance.now() - since < LOCK_WAIT_MS) {
      setTimeout(() => this.flushWhenLocked(since), LOCK_RETRY_MS);
      return;
    }
    this.scheduled = false;
    if (got === 'busy') this.lock.givenUp();
    this.writeBatch(got === 'held');
  }

  /** Writes everything queued, synchronously (waiting a bounded time for the lock); safe to call from exit handlers. */
  flush(): void {
    if (this.pending.length === 0) return;
    this.writeBatch(this.lock.take());
  }
}
