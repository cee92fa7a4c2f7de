/**
 * Decorators that feed Metrics from the services every call already passes
 * through — the audit sink (tool calls, denials, refusals) and the limiter
 * (calls in flight) — so neither the pipeline nor the dispatcher needs a
 * metrics hook of its own, and stdio calls are counted the same way.
 */
import type { AuditEvent, AuditSink } from '../audit/event.ts';
import type { AcquireResult, Limiter } from '../security/limiter.ts';
import type { Metrics } from './metrics.ts';

export class MeteredAudit implements AuditSink {
  constructor(
    private readonly inner: AuditSink,
    private readonly metrics: Metrics,
  ) {}

  write(event: AuditEvent, warning?: string): void {
    this.metrics.observe(event);
    this.inner.write(event, warning);
  }

  flush(): Promise<void> | void {
    return this.inner.flush();
  }

  close(): Promise<void> | void {
    return this.inner.close();
  }
}

export class MeteredLimiter implements Limiter {
  constructor(
    readonly inner: Limiter,
    private readonly metrics: Metrics,
  ) {}

  acquire(clientKey: string): Promise<AcquireResult> | AcquireResult {
    const got = this.inner.acquire(clientKey);
    return got instanceof Promise ? got.then((r) => this.track(r)) : this.track(got);
  }

  private track(r: AcquireResult): AcquireResult {
    if (!r.ok) return r;
    const m = this.metrics;
    m.inFlight++;
    let done = false;
    return {
      ok: true,
      release: () => {
        if (done) return;
        done = true;
        m.inFlight--;
        return r.release();
      },
    };
  }

  close(): Promise<void> | void {
    return this.inner.close();
  }
}
