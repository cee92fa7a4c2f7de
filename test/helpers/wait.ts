/** Waiting for a condition, never for time: the deadline only turns a hang into a failure. */

/**
 * The least time any wait is given. CI machines loaded by four test files at once have taken over 10 s for what
 * takes 0.1 s idle (a server's start, a launcher's boot, a kill showing in /proc); a deadline only ends a wait that
 * would otherwise hang, so a short one buys nothing and fails a correct run.
 */
const LEAST_WAIT_MS = 15_000;

/** Polls `check` until it returns something truthy, and returns it; throws naming `what` once the deadline passes. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = LEAST_WAIT_MS, what = 'condition'): Promise<T> {
  timeoutMs = Math.max(timeoutMs, LEAST_WAIT_MS);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/**
 * Returns once at least `marginMs` of the current wall-clock minute are left, waiting into the next minute if need
 * be: for tests of a per-minute budget counted in fixed minutes, which a minute that ends on the way would refill.
 */
export async function clearOfMinuteEnd(marginMs = 10_000): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < marginMs) await Bun.sleep(left + 50);
}
