/**
 * The tools/calls in flight, by caller and request id, so that a
 * cancellation reaches exactly the calls it names. A flat list rather than a
 * Map: a Map that every call's key passes through once (set, then deleted)
 * raised the server's memory under Bun by ~6.5 MB over 30 000 calls, still
 * held after GC (bench/experiments/rss-clients-heap.ts; in isolation such
 * churn levels off at a high-water mark of 10-20 MB). The list holds one entry
 * per call still running, so a scan of it costs little.
 */
interface Entry {
  owner: string;
  /** The request id as idKey spells it: 1, "1" and a raw big integer stay distinct. */
  id: string;
  abort: () => void;
}

export class InflightCalls {
  private readonly entries: Entry[] = [];

  /** Registers a call; the returned function removes it once the call has ended. */
  add(owner: string, id: string, abort: () => void): () => void {
    const entry: Entry = { owner, id, abort };
    this.entries.push(entry);
    return () => {
      const at = this.entries.indexOf(entry);
      if (at < 0) return;
      // Order does not matter: the last entry takes the removed one's place.
      const last = this.entries.pop()!;
      if (last !== entry) this.entries[at] = last;
    };
  }

  /** Whether the owner has a call with this id in flight. */
  has(owner: string, id: string): boolean {
    return this.entries.some((e) => e.owner === owner && e.id === id);
  }

  /** Aborts the owner's calls with this id; another owner's calls with the same id are not touched. */
  abort(owner: string, id: string): void {
    for (const e of this.entries.slice()) if (e.owner === owner && e.id === id) e.abort();
  }

  get size(): number {
    return this.entries.length;
  }
}
