/**
 * True when `p` resolves within `ms`, false when the time runs out first (`p`
 * is not cancelled either way); a rejection is passed on. The timer is
 * cleared either way, so a bounded wait that ended early holds the process
 * open no longer.
 */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)))]);
  } finally {
    clearTimeout(timer);
  }
}
