/**
 * The tools/calls in flight, by caller and request id, so that a
 * cancellation reaches exactly the calls it names. Kept in an InflightMap
 * (flat lists, not a Map: see there why), one entry per call still running,
 * so a scan of it costs little.
 */
import { InflightMap } from '../util/inflight-map.ts';

interface Entry {
  owner: string;
  /** The request id as idKey spells it: 1, "1" and a raw big integer stay distinct. */
  id: string;
  abort: () => void;
}

export class InflightCalls {
  private readonly entries = new InflightMap<Entry, true>();

  /** Registers a call; the returned function removes it once the call has ended. */
  add(owner: string, id: string, abort: () => void): () => void {
    const entry: Entry = { owner, id, abort };
    this.entries.set(entry, true);
    return () => {
      this.entries.delete(entry);
    };
  }

  /** Whether the owner has a call with this id in flight. */
  has(owner: string, id: string): boolean {
    return this.entries.keys().some((e) => e.owner === owner && e.id === id);
  }

  /** Aborts the owner's calls with this id; another owner's calls with the same id are not touched. */
  abort(owner: string, id: string): void {
    for (const e of this.entries.keys()) if (e.owner === owner && e.id === id) e.abort();
  }

  get size(): number {
    return this.entries.size;
  }
}
