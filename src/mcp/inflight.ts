/**
 * The tools/calls in flight, by caller and request id, so that a
 * cancellation reaches exactly the calls it names. Kept in an InflightMap
 * (flat lists, not a Map: see there why), one entry per call still running,
 * so a scan of it costs little.
 */
import { InflightMap } from '../util/inflight-map.ts';

interface Entry<Tag> {
  owner: string;
  /** The request id as idKey spells it: 1, "1" and a raw big integer stay distinct. */
  id: string;
  /** What the caller registered with the call (the tool), for a cancellation to judge. */
  tag: Tag;
  abort: (reason?: unknown) => void;
}

export class InflightCalls<Tag> {
  private readonly entries = new InflightMap<Entry<Tag>, true>();

  /** Registers a call; the returned function removes it once the call has ended. */
  add(owner: string, id: string, tag: Tag, abort: (reason?: unknown) => void): () => void {
    const entry: Entry<Tag> = { owner, id, tag, abort };
    this.entries.set(entry, true);
    return () => {
      this.entries.delete(entry);
    };
  }

  /** Whether the owner has a call with this id in flight (one that `which` takes, when given). */
  has(owner: string, id: string, which: (tag: Tag) => boolean = () => true): boolean {
    return this.entries.keys().some((e) => e.owner === owner && e.id === id && which(e.tag));
  }

  /** Aborts the owner's calls with this id that `may` allows; another owner's calls with the same id are not touched. */
  abort(owner: string, id: string, may: (tag: Tag) => boolean): void {
    for (const e of this.entries.keys()) if (e.owner === owner && e.id === id && may(e.tag)) e.abort();
  }

  /** Aborts every call `why` gives a reason for, with that reason; how many. */
  abortWhere(why: (owner: string, tag: Tag) => unknown): number {
    let n = 0;
    for (const e of this.entries.keys()) {
      const reason = why(e.owner, e.tag);
      if (reason === null || reason === undefined) continue;
      e.abort(reason);
      n++;
    }
    return n;
  }

  get size(): number {
    return this.entries.size;
  }
}
