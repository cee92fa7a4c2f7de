/**
 * Reads an audit file forward, one line at a time, in fixed-size chunks: a log
 * left to an external logrotate can pass the longest string the runtime makes
 * (2^31 − 1 characters), and reading it whole would also hold it all in memory
 * at once. Lines are split at "\n" only, so a stray "\r" stays part of its line
 * (its hash check sees it), and a last line without a newline says so (`torn`).
 */
import { closeSync, constants, readSync } from 'node:fs';
import { openRegularFileSync } from '../util/open-regular-file.ts';

export interface FileLine {
  /** The line without its newline; null when it is longer than the reader keeps. */
  text: string | null;
  /** 1-based line number. */
  line: number;
  /** The file's last line, with no newline after it (cut off, or a write still under way). */
  torn: boolean;
  /** Bytes in the line, without its newline. */
  bytes: number;
  /**
   * Whether those bytes are UTF-8. The writer's never are anything else; bytes
   * that are not are shown in `text` as U+FFFD, which reads as another line.
   */
  utf8: boolean;
}

/**
 * Longest line kept, in bytes. The writer never writes more than 64 KiB per
 * line; anything far beyond that is no record of ours, and holding it would
 * let one line of a damaged file take the memory this reader exists to save.
 */
export const MAX_KEPT_LINE_BYTES = 16 * 1024 * 1024;

const CHUNK_BYTES = 1024 * 1024;

/** The lines of `file`, first to last. The file is opened on the first step and closed when the walk ends or is abandoned. */
export function* readLines(file: string, chunkBytes = CHUNK_BYTES): Generator<FileLine> {
  const fd = openRegularFileSync(file, constants.O_RDONLY);
  try {
    const buf = Buffer.alloc(chunkBytes);
    /** The start of the current line, carried over from earlier chunks (empty once it is too long to keep). */
    let carry: Buffer[] = [];
    let carried = 0;
    let line = 0;
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      pos += n;
      let start = 0;
      for (let nl = buf.indexOf(0x0a, 0); nl >= 0 && nl < n; nl = buf.indexOf(0x0a, start)) {
        const bytes = carried + (nl - start);
        yield { ...lineText(carry, carried, buf, start, nl), line: ++line, torn: false, bytes };
        carry = [];
        carried = 0;
        start = nl + 1;
      }
      if (start < n) {
        const rest = n - start;
        // Past the cap only the count goes on; the bytes are dropped.
        if (carried + rest <= MAX_KEPT_LINE_BYTES) carry.push(Buffer.from(buf.subarray(start, n)));
        else carry = [];
        carried += rest;
      }
    }
    if (carried > 0) yield { ...lineText(carry, carried, buf, 0, 0), line: ++line, torn: true, bytes: carried };
  } finally {
    closeSync(fd);
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The text of a line made of the carried pieces and buf[start, end) (null when it was too long to keep), and whether it was UTF-8. */
function lineText(carry: Buffer[], carried: number, buf: Buffer, start: number, end: number): { text: string | null; utf8: boolean } {
  if (carried + (end - start) > MAX_KEPT_LINE_BYTES) return { text: null, utf8: false };
  const bytes = carry.length === 0 ? buf.subarray(start, end) : Buffer.concat([...carry, buf.subarray(start, end)]);
  try {
    return { text: strictUtf8.decode(bytes), utf8: true };
  } catch {
    return { text: bytes.toString('utf8'), utf8: false };
  }
}
