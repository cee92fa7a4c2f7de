/**
 * In-process per-client limits: an exact sliding 60 s window of call
 * timestamps (RPM) and a concurrency counter. acquire() is synchronous, so
 * "check everything, then change everything" is atomic on the single JS
 * thread and a refused call costs the client nothing. Idle clients are swept
 * on a timer so many distinct clients do not pin memory.
 */
import type { AcquireResult, LimitSettings, Limiter } from './limiter.ts';

const WINDOW_MS = 60_000;
const SWEEP_MS = 30_000;

interface ClientState {
  /** Admission times, oldest first; entries at or before now - WINDOW_MS are dead. */
  stamps: number[];
  /** Index of the first live entry; the array is compacted lazily. */
  head: number;
  active: number;
}

const noopRelease = () => {};

export class MemoryLimiter implements Limiter {
  private readonly clients = new Map<string, ClientState>();
  private readonly timer: ReturnType<typeof setInterval> | null;

  /**
   * @param now clock in milliseconds; monotonic by default so wall-clock jumps
   * neither free nor freeze a window. Tests pass a fake one.
   */
  constructor(
    private readonly settings: LimitSettings,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (settings.enabled) {
      for (const [name, value] of [['rpm', settings.rpm], ['concurrent', settings.concurrent]] as const) {
        if (!Number.isInteger(value) || value < 1) throw new Error(`rate limit ${name} must be a positive integer, got ${value}`);
      }
    }
    this.timer = settings.enabled ? setInterval(() => this.sweep(), SWEEP_MS) : null;
    this.timer?.unref();
  }

  private prune(state: ClientState, now: number): void {
    const cutoff = now - WINDOW_MS;
    const { stamps } = state;
    while (state.head < stamps.length && stamps[state.head]! <= cutoff) state.head++;
    // Compact once the dead prefix dominates, keeping pruning amortised O(1).
    if (state.head > 32 && state.head * 2 > stamps.length) {
      stamps.splice(0, state.head);
      state.head = 0;
    }
  }

  acquire(clientKey: string): AcquireResult {
    if (!this.settings.enabled) return { ok: true, release: noopRelease };
    const now = this.now();
    let state = this.clients.get(clientKey);
    if (state === undefined) {
      state = { stamps: [], head: 0, active: 0 };
      this.clients.set(clientKey, state);
    }
    this.prune(state, now);
    const inWindow = state.stamps.length - state.head;
    if (inWindow >= this.settings.rpm) {
      // The call fits once the oldest live stamp leaves the window.
      const oldest = state.stamps[state.head]!;
      return { ok: false, reason: 'rpm', retryAfterSeconds: Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1000)) };
    }
    if (state.active >= this.settings.concurrent) {
      // Slots free when calls finish, which we cannot predict: ask for a short wait.
      return { ok: false, reason: 'concurrency', retryAfterSeconds: 1 };
    }
    state.stamps.push(now);
    state.active++;
    const held = state;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        held.active--;
      },
    };
  }

  /** Forgets clients with no live stamps and no slots held. Runs on a timer; public for tests. */
  sweep(): void {
    const now = this.now();
    for (const [key, state] of this.clients) {
      this.prune(state, now);
      if (state.active === 0 && state.head === state.stamps.length) this.clients.delete(key);
    }
  }

  /** Number of clients currently tracked. */
  size(): number {
    return this.clients.size;
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }
}
