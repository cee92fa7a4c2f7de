/**
 * A map from a line's SHA-256 (64 lowercase hex characters) to a number (its
 * place), compact enough to hold every line of a multi-gigabyte log: 24 bytes
 * a slot in typed arrays, where a Map keyed by the hex strings costs about
 * 300 bytes a line. Keys are the hash's first 128 bits; two different hashes
 * sharing them would take about 2^64 tries to find.
 */
const HEX64 = /^[0-9a-f]{64}$/;
const WORDS = 4;
/** Filled share of the slots before the table doubles; linear probing stays short below it. */
const MAX_LOAD = 0.75;

export class HashPlaces {
  /** 128-bit keys, four 32-bit words per slot. */
  private keys: Uint32Array;
  /** Places; 0 marks an empty slot (a stored place is never 0). */
  private places: Float64Array;
  private count = 0;

  /** `capacity`: the number of hashes expected, so that the table is made once at its size. */
  constructor(capacity = 1024) {
    let slots = 16;
    while (slots * MAX_LOAD < capacity) slots *= 2;
    this.keys = new Uint32Array(slots * WORDS);
    this.places = new Float64Array(slots);
  }

  get size(): number {
    return this.count;
  }

  /** Stores `place` (a positive number) for `hash`; a hash that is not 64 lowercase hex digits is refused. */
  set(hash: string, place: number): void {
    if (!(place > 0)) throw new RangeError('a place must be a positive number');
    const key = keyOf(hash);
    if (key === null) throw new RangeError('not a SHA-256 in lowercase hex');
    if (this.count + 1 > this.places.length * MAX_LOAD) this.grow();
    const slot = this.find(key);
    if (this.places[slot] === 0) this.count++;
    this.keys.set(key, slot * WORDS);
    this.places[slot] = place;
  }

  /** The place stored for `hash`, or undefined (also for anything that is not a hash). */
  get(hash: string): number | undefined {
    const key = keyOf(hash);
    if (key === null) return undefined;
    const place = this.places[this.find(key)]!;
    return place === 0 ? undefined : place;
  }

  has(hash: string): boolean {
    return this.get(hash) !== undefined;
  }

  /** The slot holding `key`, or the empty slot where it would go (linear probing; the key's bits are already uniform). */
  private find(key: Uint32Array): number {
    const mask = this.places.length - 1;
    for (let slot = key[0]! & mask; ; slot = (slot + 1) & mask) {
      if (this.places[slot] === 0) return slot;
      const at = slot * WORDS;
      if (this.keys[at] === key[0] && this.keys[at + 1] === key[1] && this.keys[at + 2] === key[2] && this.keys[at + 3] === key[3]) return slot;
    }
  }

  private grow(): void {
    const { keys, places } = this;
    this.keys = new Uint32Array(keys.length * 2);
    this.places = new Float64Array(places.length * 2);
    for (let slot = 0; slot < places.length; slot++) {
      if (places[slot] === 0) continue;
      const key = keys.subarray(slot * WORDS, slot * WORDS + WORDS);
      const to = this.find(key);
      this.keys.set(key, to * WORDS);
      this.places[to] = places[slot]!;
    }
  }
}

const scratch = new Uint32Array(WORDS);

/** The first 128 bits of a hex SHA-256 as four words (in a shared buffer: used before the next call), or null. */
function keyOf(hash: string): Uint32Array | null {
  if (!HEX64.test(hash)) return null;
  for (let i = 0; i < WORDS; i++) scratch[i] = Number.parseInt(hash.slice(i * 8, i * 8 + 8), 16);
  return scratch;
}
