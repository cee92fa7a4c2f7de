/**
 * The server's phase — starting, ready, draining — and the readiness checks
 * other services add (a required rate-limit store being reachable). /ready and
 * the drain gate read it; nothing here knows about HTTP.
 */

export type Phase = 'starting' | 'ready' | 'draining';

/** A readiness check: returns why the server is not ready, or null. */
export type ReadinessCheck = () => string | null;

export interface Readiness {
  ready: boolean;
  phase: Phase;
  /** Why not ready; empty when ready. */
  reasons: string[];
}

export class Lifecycle {
  private current: Phase = 'starting';
  private readonly checks: ReadinessCheck[] = [];
  private readonly drainListeners: (() => void)[] = [];

  get phase(): Phase {
    return this.current;
  }

  /** True once shutdown began: new MCP requests are refused from then on. */
  get draining(): boolean {
    return this.current === 'draining';
  }

  /** Called once the listener is up. Draining is final: it never goes back to ready. */
  markReady(): void {
    if (this.current === 'starting') this.current = 'ready';
  }

  startDraining(): void {
    if (this.current === 'draining') return;
    this.current = 'draining';
    for (const listener of this.drainListeners) listener();
  }

  /** Told once, when draining begins: long polls answer then instead of holding the drain for its whole grace. */
  onDraining(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  addCheck(check: ReadinessCheck): void {
    this.checks.push(check);
  }

  readiness(): Readiness {
    const reasons: string[] = [];
    if (this.current === 'starting') reasons.push('starting');
    if (this.current === 'draining') reasons.push('shutting down');
    for (const check of this.checks) {
      const why = check();
      if (why !== null) reasons.push(why);
    }
    return { ready: reasons.length === 0, phase: this.current, reasons };
  }
}
