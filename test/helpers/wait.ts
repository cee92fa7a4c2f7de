/** Waiting for a condition, never for time: the deadline only turns a hang into a failure. */

/** Polls `check` until it returns something truthy, and returns it; throws naming `what` once the deadline passes. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 5000, what = 'condition'): Promise<T> {
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
