/**
 * Splits a byte stream into newline-terminated lines in linear time: each
 * chunk is scanned once for "\n" and partial lines are kept as chunks, not as
 * a growing string (re-scanning a growing string is quadratic, and a 6 MB
 * JSON line arriving in 64 KiB pieces would copy hundreds of MB).
 */

export interface SplitLine {
  /** The line's bytes without the "\n"; empty when it was dropped as oversized. */
  bytes: Uint8Array;
  /** True when the line exceeded the limit and its bytes were dropped. */
  oversized: boolean;
}

export class LineSplitter {
  private parts: Uint8Array[] = [];
  private size = 0;
  private dropping = false;

  constructor(private readonly maxLineBytes = Number.POSITIVE_INFINITY) {}

  /** Feeds one chunk; returns the lines it completed. */
  push(chunk: Uint8Array): SplitLine[] {
    const lines: SplitLine[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.append(chunk.subarray(start, nl));
      lines.push(this.take());
      start = nl + 1;
    }
    if (start < chunk.byteLength) this.append(chunk.subarray(start));
    return lines;
  }

  /** What is left when the stream ends (a last line without "\n"), or null. */
  end(): SplitLine | null {
    return this.size > 0 || this.dropping ? this.take() : null;
  }

  private append(piece: Uint8Array): void {
    if (this.dropping || piece.byteLength === 0) return;
    if (this.size + piece.byteLength > this.maxLineBytes) {
      this.dropping = true;
      this.parts = [];
      this.size = 0;
      return;
    }
    // Copy: the stream may reuse the chunk's memory.
    this.parts.push(piece.slice());
    this.size += piece.byteLength;
  }

  private take(): SplitLine {
    const line: SplitLine = this.dropping
      ? { bytes: new Uint8Array(0), oversized: true }
      : { bytes: this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size), oversized: false };
    this.parts = [];
    this.size = 0;
    this.dropping = false;
    return line;
  }
}
