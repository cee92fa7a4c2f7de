/**
 * How many ended processes stay readable. The caps count running processes
 * only, and each ended one holds its output ring until it is forgotten
 * (HIDE_PROCESS_KEEP_EXITED_SECONDS), so they are bounded per client and per
 * instance as well.
 */
import type { TrackedProcess } from './tracked-process.ts';

/** Ended processes kept readable per client, per running process it may have (HIDE_PROCESS_MAX_PER_CLIENT). */
export const KEPT_ENDED_PER_RUNNING = 4;

/** Most ended processes a client keeps readable: the caps count running ones only, and each ended one holds its output ring. */
export function keptEndedPerClient(maxPerClient: number): number {
  return KEPT_ENDED_PER_RUNNING * maxPerClient;
}

/**
 * Forgets a client's oldest ended processes past its share, then, while the
 * instance keeps more than HIDE_PROCESS_MAX_TOTAL ended ones, the oldest of
 * whichever client keeps the most. Without the first, a client starting short
 * processes that print their ring full held a ring per start for
 * HIDE_PROCESS_KEEP_EXITED_SECONDS: 1000 such starts kept +330 MB in the
 * server; without the second, each client (an OAuth issuer mints them) added
 * its full share: ~40 MB per client at the defaults, 20 clients +820 MB.
 * Taking from the biggest keeper means a crowd of clients cannot push out
 * another client's few.
 */
export function forgetOldestEnded(entries: Map<string, TrackedProcess>, owner: string, keptPerClient: number, maxTotal: number): void {
  const endedBy = new Map<string, number>();
  let total = 0;
  for (const e of entries.values()) {
    if (e.status === 'running') continue;
    endedBy.set(e.owner, (endedBy.get(e.owner) ?? 0) + 1);
    total++;
  }
  while ((endedBy.get(owner) ?? 0) > keptPerClient) {
    forgetOldestEndedOf(entries, owner);
    endedBy.set(owner, endedBy.get(owner)! - 1);
    total--;
  }
  while (total > maxTotal) {
    let biggest = owner;
    for (const [o, n] of endedBy) if (n > endedBy.get(biggest)!) biggest = o;
    forgetOldestEndedOf(entries, biggest);
    endedBy.set(biggest, endedBy.get(biggest)! - 1);
    total--;
  }
}

/** Forgets one client's oldest ended process (Map order is start order). */
function forgetOldestEndedOf(entries: Map<string, TrackedProcess>, owner: string): void {
  for (const [id, e] of entries) {
    if (e.owner !== owner || e.status === 'running') continue;
    clearTimeout(e.forget);
    entries.delete(id);
    return;
  }
}
