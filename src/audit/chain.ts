/**
 * The audit log's hash chain. Each line carries `prev_hash` (the previous
 * line's `hash`) and `hash` = sha256(prev_hash + canonical JSON of the line
 * without `hash`). Canonical JSON is JSON with object keys sorted, so a
 * verifier in any language can recompute it from the parsed line. Editing,
 * removing or inserting a line breaks the chain at that point; the chain
 * runs on across rotated files and restarts (the writer reads the last hash
 * back from the file on start).
 *
 * Both ends are anchored too, because a chain alone cannot tell a file whose
 * first or last lines were cut from one that was always shorter. The first
 * line of every file says it starts the file (`file_start`: `genesis` for a
 * new chain, `continues` after a rotation), inside the hashed content; and a
 * checkpoint beside the log (`<file>.head`: line count, first and last hash),
 * rewritten in place after every batch the writer appends, says how far the
 * file reached.
 */
import { closeSync, constants, existsSync, fstatSync, readSync } from 'node:fs';
import { openRegularFileSync } from '../util/open-regular-file.ts';
import { readSettingsFileSync } from '../util/read-settings-file.ts';
import * as v from 'valibot';
import { writeFileAtomicSync } from '../util/write-file-atomic.ts';

/** prev_hash of the very first line ever written. */
export const GENESIS_HASH = '0'.repeat(64);

const NOT_PLAIN = Symbol('not plain');

// JS objects enumerate integer-like keys first, whatever the insertion order.
const INDEX_KEY = /^(?:0|[1-9]\d*)$/;

/**
 * A copy of a plain JSON-like value with every object's keys inserted in
 * sorted order, so JSON.stringify of it is the canonical text; NOT_PLAIN when
 * something needs the careful path (toJSON, class instances, integer-like or
 * "__proto__" keys). One native stringify of such a copy is many times faster
 * than assembling the text piece by piece, and the audit writer's lines are
 * always plain.
 */
function sortedCopy(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value; // stringify treats these as canonical does
  if (depth > 64) return NOT_PLAIN;
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const x = sortedCopy(value[i], depth + 1);
      if (x === NOT_PLAIN) return NOT_PLAIN;
      out[i] = x;
    }
    return out;
  }
  const proto = Object.getPrototypeOf(value);
  if ((proto !== Object.prototype && proto !== null) || typeof (value as { toJSON?: unknown }).toJSON === 'function') return NOT_PLAIN;
  const keys = Object.keys(value).sort();
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    if (key === '__proto__' || INDEX_KEY.test(key)) return NOT_PLAIN;
    const x = sortedCopy((value as Record<string, unknown>)[key], depth + 1);
    if (x === NOT_PLAIN) return NOT_PLAIN;
    out[key] = x;
  }
  return out;
}

/** Written as it stands (punctuation, a key), not serialised. */
class Text {
  constructor(readonly text: string) {}
}

const OPEN_OBJECT = new Text('{');
const CLOSE_OBJECT = new Text('}');
const OPEN_ARRAY = new Text('[');
const CLOSE_ARRAY = new Text(']');
const COMMA = new Text(',');

const dropped = (x: unknown) => x === undefined || typeof x === 'function' || typeof x === 'symbol';

/**
 * canonicalJson piece by piece, with a work list instead of recursion: a
 * client chooses how deep a tool call's arguments nest (50 000 levels fit in
 * a small request), and a recursive writer would throw there.
 */
function walkedCanonicalJson(value: unknown): string {
  const out: string[] = [];
  const work: unknown[] = [value];
  while (work.length > 0) {
    const item = work.pop();
    if (item instanceof Text) {
      out.push(item.text);
    } else if (item === null || typeof item !== 'object') {
      out.push(typeof item === 'number' && !Number.isFinite(item) ? 'null' : (JSON.stringify(item) ?? 'null'));
    } else if (typeof (item as { toJSON?: unknown }).toJSON === 'function') {
      work.push((item as { toJSON: () => unknown }).toJSON());
    } else if (Array.isArray(item)) {
      work.push(CLOSE_ARRAY);
      for (let i = item.length - 1; i >= 0; i--) {
        work.push(dropped(item[i]) ? null : item[i]);
        if (i > 0) work.push(COMMA);
      }
      work.push(OPEN_ARRAY);
    } else {
      const record = item as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((k) => !dropped(record[k]))
        .sort();
      work.push(CLOSE_OBJECT);
      for (let i = keys.length - 1; i >= 0; i--) {
        work.push(record[keys[i]!], new Text(`${JSON.stringify(keys[i])}:`));
        if (i > 0) work.push(COMMA);
      }
      work.push(OPEN_OBJECT);
    }
  }
  return out.join('');
}

/**
 * JSON with sorted object keys (by UTF-16 code units), following
 * JSON.stringify's rules for everything else, at any depth.
 */
export function canonicalJson(value: unknown): string {
  const copy = sortedCopy(value, 0);
  return copy === NOT_PLAIN ? walkedCanonicalJson(value) : (JSON.stringify(copy) ?? 'null');
}

// One hasher for the process: digest() resets it, and a fresh native hasher
// per line was a measurable part of an audited call.
const hasher = new Bun.CryptoHasher('sha256');

function sha256Hex(prevHash: string, canonical: string): string {
  return hasher.update(prevHash).update(canonical).digest('hex');
}

/** The hash of a record that already holds its prev_hash (and no hash). */
export function chainHash(prevHash: string, record: Record<string, unknown>): string {
  return sha256Hex(prevHash, canonicalJson(record));
}

/** How the first line of a file starts it: a new chain, or the chain of the file before it. */
export type FileStart = 'genesis' | 'continues';

/**
 * Adds prev_hash and hash to a record (and `file_start` when it is the first
 * line of a file); returns the line (no newline) and its hash.
 */
export function sealRecord(fields: Record<string, unknown>, prevHash: string, startsFile = false): { line: string; hash: string } {
  const record = startsFile
    ? { ...fields, file_start: (prevHash === GENESIS_HASH ? 'genesis' : 'continues') satisfies FileStart, prev_hash: prevHash }
    : { ...fields, prev_hash: prevHash };
  const hash = chainHash(prevHash, record);
  // The record's JSON with "hash" appended as its last member.
  return { line: `${JSON.stringify(record).slice(0, -1)},"hash":"${hash}"}`, hash };
}

/** Longest unterminated end of a file that lastLine returns as `partial`: no line the writer makes is longer. */
const MAX_PARTIAL_BYTES = 64 * 1024;

/**
 * The last complete line of a file, read backwards in chunks so a large log
 * is not loaded whole; null when the file is missing or holds no whole line.
 * `endsWithNewline` says whether a partial line (a torn write) follows it;
 * `partial` is that line's text when it is no longer than a line the writer makes.
 */
export function lastLine(file: string): { line: string | null; endsWithNewline: boolean; size: number; partial: string | null } {
  if (!existsSync(file)) return { line: null, endsWithNewline: true, size: 0, partial: null };
  const fd = openRegularFileSync(file, constants.O_RDONLY);
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return { line: null, endsWithNewline: true, size, partial: null };
    const CHUNK = 64 * 1024;
    let end = size;
    let tail = Buffer.alloc(0);
    let endsWithNewline = true;
    let first = true;
    while (end > 0) {
      const start = Math.max(0, end - CHUNK);
      const buf = Buffer.alloc(end - start);
      readSync(fd, buf, 0, buf.length, start);
      tail = Buffer.concat([buf, tail]);
      end = start;
      if (first) {
        endsWithNewline = tail[tail.length - 1] === 0x0a;
        first = false;
      }
      // The last complete line ends at the last newline; it starts after the newline before that.
      const lastNl = tail.lastIndexOf(0x0a);
      if (lastNl < 0) continue;
      const prevNl = tail.lastIndexOf(0x0a, lastNl - 1);
      if (prevNl >= 0 || end === 0) return { line: tail.subarray(prevNl + 1, lastNl).toString('utf8'), endsWithNewline, size, partial: partialOf(tail, lastNl + 1) };
    }
    return { line: null, endsWithNewline, size, partial: partialOf(tail, 0) };
  } finally {
    closeSync(fd);
  }
}

function partialOf(tail: Buffer, from: number): string | null {
  return from < tail.length && tail.length - from <= MAX_PARTIAL_BYTES ? tail.subarray(from).toString('utf8') : null;
}

/** The hash a new line must chain to: the last line's hash in the first file that has one. */
export function resumeHash(files: readonly string[]): string {
  for (const f of files) {
    const { line } = lastLine(f);
    if (line === null) continue;
    try {
      const rec = JSON.parse(line) as { hash?: unknown };
      if (typeof rec.hash === 'string') return rec.hash;
    } catch {
      /* a damaged last line: start a new chain; verify will show the break */
    }
    return GENESIS_HASH;
  }
  return GENESIS_HASH;
}

/** Reads forward from the start in chunks: the first complete line (null if none) and the number of newlines. */
export function scanFile(file: string, countLines: boolean): { first: string | null; lines: number } {
  if (!existsSync(file)) return { first: null, lines: 0 };
  const fd = openRegularFileSync(file, constants.O_RDONLY);
  try {
    const buf = Buffer.alloc(1024 * 1024);
    let head = Buffer.alloc(0);
    let first: string | null = null;
    let lines = 0;
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      pos += n;
      if (first === null) {
        head = Buffer.concat([head, chunk]);
        const nl = head.indexOf(0x0a);
        if (nl >= 0) first = head.subarray(0, nl).toString('utf8');
      }
      if (!countLines) {
        if (first !== null) break;
        continue;
      }
      for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) lines++;
    }
    return { first, lines };
  } finally {
    closeSync(fd);
  }
}

/** The `hash` member of a line, or null when it is not a chained record. */
export function hashOf(line: string | null): string | null {
  if (line === null) return null;
  try {
    const rec = JSON.parse(line) as { hash?: unknown };
    return typeof rec.hash === 'string' ? rec.hash : null;
  } catch {
    return null;
  }
}

const HASH = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/));
const CheckpointSchema = v.object({
  /** Whole lines (newlines) in the file when the checkpoint was taken. */
  lines: v.pipe(v.number(), v.integer(), v.minValue(0)),
  /** Hash of the file's first line: which file (which stretch of the chain) this is. */
  first_hash: v.nullable(HASH),
  /** Hash of the file's last line. */
  last_hash: v.nullable(HASH),
  /** File size: lets the writer trust the count on start without reading the file. */
  bytes: v.pipe(v.number(), v.integer(), v.minValue(0)),
});
export type Checkpoint = v.InferOutput<typeof CheckpointSchema>;

/** Where a log file's checkpoint lives. */
export function checkpointPath(file: string): string {
  return `${file}.head`;
}

/** The checkpoint beside `file`: null when there is none; 'unreadable' when it is not one. */
export function readCheckpoint(file: string): Checkpoint | null | 'unreadable' {
  const path = checkpointPath(file);
  if (!existsSync(path)) return null;
  try {
    // A FIFO or device in its place would block or never end: not a checkpoint (checked on the descriptor read).
    const parsed = v.safeParse(CheckpointSchema, JSON.parse(readSettingsFileSync(path, CHECKPOINT_BYTES * 4)));
    return parsed.success ? parsed.output : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** Size of a checkpoint record: rewritten in place, every record is padded to it so a shorter one leaves nothing behind. */
export const CHECKPOINT_BYTES = 512;

/** A checkpoint as the fixed-size record the writer puts at the start of `<file>.head` (JSON, space-padded, newline). */
export function encodeCheckpoint(cp: Checkpoint): Buffer {
  const json = JSON.stringify(cp);
  if (json.length >= CHECKPOINT_BYTES) throw new Error(`audit checkpoint of ${json.length} bytes exceeds ${CHECKPOINT_BYTES}`);
  return Buffer.from(`${json.padEnd(CHECKPOINT_BYTES - 1)}\n`);
}

/** Replaces the checkpoint atomically (tests and tools; the writer rewrites its own in place). */
export function writeCheckpoint(file: string, cp: Checkpoint): void {
  writeFileAtomicSync(checkpointPath(file), encodeCheckpoint(cp).toString(), { fsync: false });
}
