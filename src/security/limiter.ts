/**
 * The per-client limit contract shared by the HTTP and stdio paths. Two
 * implementations sit behind it: memory (src/security/memory-limiter.ts) and
 * Redis (src/security/redis-limiter.ts), so replicas can share one window.
 */

export interface LimitSettings {
  enabled: boolean;
  /** Requests per minute, sliding 60 s window. */
  rpm: number;
  /** Concurrent tool calls per client. */
  concurrent: number;
}

export type AcquireResult =
  | { ok: true; /** Release the concurrency slot; idempotent. */ release: () => Promise<void> | void }
  | {
      ok: false;
      reason: 'rpm' | 'concurrency' | 'store_unavailable';
      /** Whole seconds after which the same call would be admitted. */
      retryAfterSeconds: number;
    };

export interface Limiter {
  /**
   * Counts one call against the client's RPM window and takes one
   * concurrency slot, atomically: a refused call consumes neither.
   */
  acquire(clientKey: string): Promise<AcquireResult> | AcquireResult;
  /** Stops timers and closes connections. */
  close(): Promise<void> | void;
}
