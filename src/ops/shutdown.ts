/**
 * Graceful shutdown for `hide serve`. The first SIGTERM/SIGINT turns /ready
 * to 503 and refuses new MCP requests (the drain gate reads the lifecycle),
 * waits up to the grace period for in-flight requests, then kills what is
 * still running — the process groups — so those calls end and are audited,
 * then stops the listeners and closes the runtime (audit flushed). A second
 * signal skips the wait: children are killed, the audit buffer is flushed and
 * the process exits at once. The same signal delivered twice at once (by the
 * terminal to the group and by a wrapper to its child) is one request.
 */
import { constants } from 'node:os';
import type { Lifecycle } from './lifecycle.ts';
import { ECHO_WINDOW_MS, StopRequests } from './stop-requests.ts';

export interface ShutdownDeps {
  lifecycle: Lifecycle;
  graceMs: number;
  /** HTTP requests still being answered (Bun's server.pendingRequests). */
  pending: () => number;
  /** Kills every live child process group. */
  killChildren: () => void;
  /** Stops the listeners; `force` closes connections still open. */
  stopServers: (force: boolean) => Promise<void>;
  /** Closes the runtime: limiter, key watcher, audit (flushed). */
  close: () => Promise<void>;
  /** Flushes the audit buffer synchronously (second-signal path). */
  flushAudit: () => void;
  log: { info(msg: string): void; warn(msg: string): void };
  /** Immediate exit (second signal). */
  exit: (code: number) => never;
}

/** How long killed calls get to write their responses and audit lines. */
const AFTER_KILL_MS = 2000;
const POLL_MS = 20;

/** Resolves true once `done()` holds, false when `ms` pass first. */
async function waitUntil(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!done()) {
    if (performance.now() >= deadline) return false;
    await Bun.sleep(POLL_MS);
  }
  return true;
}

export class Shutdown {
  private started: Promise<void> | null = null;
  private readonly requests = new StopRequests();

  constructor(private readonly deps: ShutdownDeps) {}

  /**
   * Handles one signal. The first call drains and resolves when the server is
   * fully closed; a later call exits the process at once, unless it came so
   * soon after the first that it is the first delivered again.
   */
  signal(name: NodeJS.Signals): Promise<void> {
    const d = this.deps;
    const request = this.requests.take();
    if (this.started === null) {
      this.started = this.drain(name);
      return this.started;
    }
    if (request === 'echo') {
      d.log.info(`${name} received again within ${ECHO_WINDOW_MS} ms: the same stop, passed on by a wrapper; still draining (send it again to stop at once)`);
      return this.started;
    }
    d.log.warn(`${name} received again: killing running commands and exiting now`);
    d.killChildren();
    d.flushAudit();
    return d.exit(128 + (constants.signals[name] ?? 15));
  }

  private async drain(name: string): Promise<void> {
    const d = this.deps;
    d.lifecycle.startDraining();
    d.log.info(`${name} received: draining (new MCP requests get 503), up to ${d.graceMs / 1000} s for ${d.pending()} in-flight request(s)`);
    if (!(await waitUntil(() => d.pending() === 0, d.graceMs))) {
      d.log.warn(`grace period over with ${d.pending()} request(s) in flight: killing their commands`);
      d.killChildren();
      // The killed calls now return; give them a moment to answer and be audited.
      await waitUntil(() => d.pending() === 0, AFTER_KILL_MS);
    }
    await d.stopServers(true);
    await d.close();
    d.log.info('shutdown complete');
  }
}
