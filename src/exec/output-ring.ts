/**
 * The output of one long-lived process: a byte ring of fixed capacity that
 * grows as output arrives (an idle process costs a few KiB, not its cap) and,
 * once full, drops the oldest bytes and counts them. Positions are absolute
 * byte offsets since the start, so a reader's cursor stays valid whatever
 * the ring dropped: what lies before the oldest byte still held is reported
 * as dropped for that reader, never silently skipped.
 */
const FIRST_CAPACITY = 4096;

export interface RingRead {
  bytes: Uint8Array;
  /** Absolute offset just past the returned bytes: the next read's cursor. */
  next: number;
  /** Bytes between the cursor asked for and the oldest byte still held. */
  dropped: number;
}

export class OutputRing {
  private buf: Uint8Array;
  /** Index in buf of the oldest byte held. */
  private head = 0;
  private size = 0;
  /** Absolute offset of the end of the output (bytes ever produced, held or not). */
  private end = 0;

  constructor(readonly capacity: number) {
    this.buf = new Uint8Array(Math.min(capacity, FIRST_CAPACITY));
  }

  /** Bytes produced so far, dropped ones included. */
  get total(): number {
    return this.end;
  }

  /** Absolute offset of the oldest byte still held. */
  get start(): number {
    return this.end - this.size;
  }

  /** Bytes held now (what /metrics reports as buffer bytes). */
  get held(): number {
    return this.size;
  }

  /** Bytes lost from the ring so far. */
  get droppedTotal(): number {
    return this.start;
  }

  /**
   * Appends output. `lostBefore` counts bytes that were produced before this
   * chunk but never reached the ring (dropped upstream): the ring cannot hold
   * a gap, so everything older than it is dropped too.
   */
  append(chunk: Uint8Array, lostBefore = 0): void {
    if (lostBefore > 0) {
      this.end += lostBefore;
      this.head = 0;
      this.size = 0;
    }
    let data = chunk;
    this.end += data.byteLength;
    if (data.byteLength >= this.capacity) {
      data = data.subarray(data.byteLength - this.capacity);
      this.grow(this.capacity);
      this.buf.set(data, 0);
      this.head = 0;
      this.size = data.byteLength;
      return;
    }
    if (this.size + data.byteLength > this.buf.byteLength) this.grow(Math.min(this.capacity, Math.max(this.buf.byteLength * 2, this.size + data.byteLength)));
    const cap = this.buf.byteLength;
    const overflow = this.size + data.byteLength - cap;
    if (overflow > 0) {
      this.head = (this.head + overflow) % cap;
      this.size -= overflow;
    }
    const tail = (this.head + this.size) % cap;
    const first = Math.min(data.byteLength, cap - tail);
    this.buf.set(data.subarray(0, first), tail);
    if (first < data.byteLength) this.buf.set(data.subarray(first), 0);
    this.size += data.byteLength;
  }

  /**
   * Bytes at the end that begin a UTF-8 sequence whose rest has not arrived
   * yet (0-3): a reader of a running process leaves them for the next read,
   * so a character split between two writes is not decoded as two U+FFFD.
   */
  get partialTail(): number {
    let back = 0;
    while (back < 3 && back < this.size && (this.byteAt(this.end - 1 - back) & 0xc0) === 0x80) back++;
    if (back === this.size) return 0;
    const lead = this.byteAt(this.end - 1 - back);
    const need = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    return back + 1 < need ? back + 1 : 0;
  }

  private byteAt(offset: number): number {
    return this.buf[(this.head + (offset - this.start)) % this.buf.byteLength]!;
  }

  /**
   * Up to `maxBytes` from `cursor` on (clamped to what exists), never splitting
   * a UTF-8 sequence unless forced; nothing at or past `upTo` (default: the end).
   */
  read(cursor: number, maxBytes: number, upTo = this.end): RingRead {
    const end = Math.max(this.start, Math.min(upTo, this.end));
    const from = Math.min(Math.max(cursor, this.start), end);
    const dropped = Math.max(0, Math.min(this.start, this.end) - Math.max(0, cursor));
    let length = Math.min(end - from, maxBytes);
    const out = new Uint8Array(length);
    if (length > 0) {
      const cap = this.buf.byteLength;
      const at = (this.head + (from - this.start)) % cap;
      const first = Math.min(length, cap - at);
      out.set(this.buf.subarray(at, at + first), 0);
      if (first < length) out.set(this.buf.subarray(0, length - first), first);
      if (from + length < end) length = utf8Boundary(out, length);
    }
    return { bytes: length === out.byteLength ? out : out.subarray(0, length), next: from + length, dropped };
  }

  private grow(to: number): void {
    if (to <= this.buf.byteLength) return;
    const next = new Uint8Array(to);
    const cap = this.buf.byteLength;
    const first = Math.min(this.size, cap - this.head);
    next.set(this.buf.subarray(this.head, this.head + first), 0);
    if (first < this.size) next.set(this.buf.subarray(0, this.size - first), first);
    this.buf = next;
    this.head = 0;
  }
}

/** The largest length ≤ `length` that does not end inside a UTF-8 sequence (unchanged when none fits). */
function utf8Boundary(bytes: Uint8Array, length: number): number {
  // Step back over at most 3 continuation bytes to the lead byte of the last sequence.
  let i = length - 1;
  let back = 0;
  while (i >= 0 && back < 3 && (bytes[i]! & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i < 0) return length;
  const lead = bytes[i]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  if (i + need <= length) return length;
  return i > 0 ? i : length;
}
