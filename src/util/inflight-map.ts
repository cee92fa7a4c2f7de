/**
 * A map for entries that come and go with the work in flight: a few at a
 * time, many thousands over a process's life (one per command or write).
 * Backed by two arrays. A Map that every key passes through once (set, then
 * deleted) held several MB of native memory under Bun — 12 000 sandboxed
 * commands left the server ~5 MB larger after GC and ~12 MB larger before it
 * (bench/experiments/rss-clients-heap.ts) — and a scan of the few entries in
 * flight costs less than hashing.
 */
export class InflightMap<K, V> implements Iterable<[K, V]> {
  private readonly keyList: K[] = [];
  private readonly valueList: V[] = [];

  get size(): number {
    return this.keyList.length;
  }

  get(key: K): V | undefined {
    const at = this.keyList.indexOf(key);
    return at < 0 ? undefined : this.valueList[at];
  }

  has(key: K): boolean {
    return this.keyList.includes(key);
  }

  set(key: K, value: V): this {
    const at = this.keyList.indexOf(key);
    if (at >= 0) {
      this.valueList[at] = value;
    } else {
      this.keyList.push(key);
      this.valueList.push(value);
    }
    return this;
  }

  delete(key: K): boolean {
    const at = this.keyList.indexOf(key);
    if (at < 0) return false;
    // Order does not matter: the last entry takes the removed one's place.
    const lastKey = this.keyList.pop()!;
    const lastValue = this.valueList.pop()!;
    if (at < this.keyList.length) {
      this.keyList[at] = lastKey;
      this.valueList[at] = lastValue;
    }
    return true;
  }

  clear(): void {
    this.keyList.length = 0;
    this.valueList.length = 0;
  }

  /** A snapshot of the keys: entries may be deleted while it is walked. */
  keys(): K[] {
    return this.keyList.slice();
  }

  /** A snapshot of the values: entries may be deleted while it is walked. */
  values(): V[] {
    return this.valueList.slice();
  }

  /** A snapshot of the entries: they may be deleted while it is walked. */
  *[Symbol.iterator](): IterableIterator<[K, V]> {
    const keys = this.keyList.slice();
    const values = this.valueList.slice();
    for (let i = 0; i < keys.length; i++) yield [keys[i]!, values[i]!];
  }
}
