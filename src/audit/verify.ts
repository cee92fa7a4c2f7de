/**
 * Verifies audit files (oldest first) against the hash chain, the file-start
 * markers and the checkpoints, and names the first problem with file:line:
 * lines cut from the start (head-cut) or the end (tail-cut), an emptied log,
 * an edited, inserted or deleted line, a gap between two rotated files, a file
 * that is not the one its checkpoint describes, or a line that is no record.
 * The oldest file given may continue a chain whose earlier files were rotated
 * away: its first line says so, and that is accepted.
 *
 * A write cut short (the process killed mid-write, a full disk) leaves the
 * start of a line with no newline; the writer starts a fresh line after it
 * and chains on from the last whole line. Such a line is named `torn`, not
 * `inserted`, only when it is shaped like that: the start of a record, not
 * one, and the next line chains to the line before it. It is still a finding,
 * and the check goes on past it, so a torn line cannot hide what follows.
 */
import { statSync } from 'node:fs';
import { inertJson } from '../core/inert-text.ts';
import { type Checkpoint, chainHash, GENESIS_HASH, hashOf, lastLine, readCheckpoint, scanFile } from './chain.ts';
import { HashPlaces } from './hash-places.ts';
import { type FileLine, MAX_KEPT_LINE_BYTES, readLines } from './lines.ts';
import { MAX_LINE_BYTES } from './sealed-line.ts';

export type ProblemKind = 'head-cut' | 'tail-cut' | 'emptied' | 'edited' | 'inserted' | 'deleted' | 'rotation-gap' | 'replaced' | 'malformed' | 'torn' | 'unsealed' | 'lines-lost' | 'adopted';

export interface VerifyProblem {
  kind: ProblemKind;
  file: string;
  /** 1-based line number in `file` (for a cut tail: the first line that is missing). */
  line: number;
  message: string;
}

export type VerifyResult =
  | { ok: true; lines: number; files: number; /** One line per file: how it starts, and what its checkpoint says. */ notes: string[] }
  | {
      ok: false;
      /** The first finding, in log order. */
      problem: VerifyProblem;
      /**
       * Findings after it, when it is a torn line: the check goes on past torn
       * lines and stops at any other problem, so every finding but a last one is `torn`.
       */
      more?: VerifyProblem[];
    };

interface Entry {
  line: number;
  /** Last line of a file that does not end with a newline. */
  torn: boolean;
  /** Longer than the reader keeps: no record the writer makes. */
  tooLong: boolean;
  /** Not JSON, and shaped like the start of a record the writer makes (what a write cut short leaves). */
  recordStart: boolean;
  prev: string | null;
  hash: string | null;
  /** hash recomputed from the content equals the stored hash. */
  selfOk: boolean;
  /**
   * The line's text is the one its record serialises to, as the writer
   * wrote it: an escape spelled another way (`\u0062` for `b`), spacing or a
   * key given twice parse to the same record, and so to the same hash, yet
   * read differently to grep or to a parser that keeps the first key.
   */
  textOk: boolean;
  fileStart: string | null;
  /** An `audit_lines_lost` record: what the writer found its file had lost, as it says. */
  linesLost: string | null;
  /** An `audit_lines_adopted` record: how many lines before it a writer took in that no checkpoint recorded. */
  adopted: number | null;
}

function toEntry({ text, line, torn, utf8 }: FileLine): Entry {
  const entry: Entry = { line, torn, tooLong: text === null, recordStart: false, prev: null, hash: null, selfOk: false, textOk: false, fileStart: null, linesLost: null, adopted: null };
  if (text === null) return entry;
  let rec: unknown;
  try {
    rec = JSON.parse(text);
  } catch {
    entry.recordStart = isRecordStart(text);
    return entry;
  }
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) return entry;
  const { hash, ...rest } = rec as Record<string, unknown>;
  if (typeof hash !== 'string' || typeof rest.prev_hash !== 'string') return entry;
  entry.prev = rest.prev_hash;
  entry.hash = hash;
  try {
    entry.selfOk = chainHash(rest.prev_hash, rest) === hash;
    // Only a record that hashed is serialised again (the same depth the hashing took).
    // Bytes that are not UTF-8 decode to U+FFFD and can then serialise alike; they are still not what was written.
    // Written inert since (sealed-line.ts); a line written before, with such characters raw, is the record's too.
    const serialised = entry.selfOk && utf8 ? JSON.stringify(rec) : null;
    entry.textOk = serialised !== null && (inertJson(serialised) === text || serialised === text);
  } catch {
    // Nested too deep to hash (the writer never nests that far): not the line that was chained.
    entry.selfOk = false;
  }
  entry.fileStart = typeof rest.file_start === 'string' ? rest.file_start : null;
  if (rest.event_type === 'audit_lines_lost') entry.linesLost = lostDescription(rest.result);
  if (rest.event_type === 'audit_lines_adopted') {
    const n = (rest.result as { lines?: unknown } | null)?.lines;
    entry.adopted = typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : 0;
  }
  return entry;
}

/** What an `audit_lines_lost` line's result says was recorded and found, in words. */
function lostDescription(result: unknown): string {
  const r = (result ?? {}) as { recorded?: { lines?: unknown; bytes?: unknown; lastHash?: unknown }; found?: { lines?: unknown; bytes?: unknown } };
  const n = (v: unknown) => (typeof v === 'number' ? v : '?');
  const recorded = `${n(r.recorded?.lines)} line(s), ${n(r.recorded?.bytes)} bytes, ending in ${typeof r.recorded?.lastHash === 'string' ? short(r.recorded.lastHash) : '?'}`;
  return `its checkpoint had recorded ${recorded}; it found ${n(r.found?.lines)} line(s), ${n(r.found?.bytes)} bytes`;
}

/** Every line the writer makes starts so (the timestamp is its first field). */
const RECORD_START = '{"timestamp":"';

/** The start of a line the writer makes, cut short: it begins as a record does and is shorter than any line it writes. */
function isRecordStart(text: string): boolean {
  return text.length > 0 && (text.startsWith(RECORD_START) || RECORD_START.startsWith(text)) && Buffer.byteLength(text) < MAX_LINE_BYTES;
}

/** A file's entries in order, each with the one after it (a damaged line is judged by whether the chain skips it). */
function* withNext(file: string): Generator<[Entry, Entry | undefined]> {
  const lines = readLines(file);
  const next = (): Entry | undefined => {
    const r = lines.next();
    return r.done ? undefined : toEntry(r.value);
  };
  try {
    for (let e = next(); e !== undefined; ) {
      const after = next();
      yield [e, after];
      e = after;
    }
  } finally {
    lines.return(undefined);
  }
}

/** What the end-of-file check needs from a file that was read through: its line count and two hashes. */
interface FileSummary {
  lines: number;
  firstHash: string | null;
  /** Hash of the line its checkpoint names as the last (null when that line is missing or there is none). */
  checkpointLineHash: string | null;
  /** Lines shaped as a record's start cut short: torn lines (a crash's, which no checkpoint counts) if the chain agrees. */
  cutShort: number[];
  /** Hash of the last line read. */
  lastHash: string | null;
}

/** The rotated file that came before `file` (name → name.1, name.N → name.N+1). */
function previousFile(file: string): string {
  const m = /^(.*)\.(\d+)$/.exec(file);
  return m ? `${m[1]}.${Number(m[2]) + 1}` : `${file}.1`;
}

const short = (h: string | null) => (h === null ? 'none' : `${h.slice(0, 12)}…`);

class Broken {
  constructor(readonly problem: VerifyProblem) {}
}

function fail(kind: ProblemKind, file: string, line: number, message: string): never {
  throw new Broken({ kind, file, line, message });
}

/**
 * Only a regular file can vouch for a first line: a FIFO put in a rotated
 * file's place would block the read for ever, a directory fail it.
 */
function lastHashOf(path: string): string | null {
  try {
    return statSync(path).isFile() ? hashOf(lastLine(path).line) : null;
  } catch {
    // Gone or unreadable: it vouches for nothing.
    return null;
  }
}

/** How the first line of the first file given may start: a new chain, or a continuation. */
function checkHead(e: Entry & { file: string }): string {
  if (e.fileStart === 'genesis' || (e.fileStart === null && e.prev === GENESIS_HASH)) return 'starts the chain (genesis)';
  if (e.fileStart === 'continues') return 'continues a chain from an earlier file not given (rotated away or not listed)';
  // Older logs have no marker: a rotated predecessor on disk may still vouch for the first line.
  const before = previousFile(e.file);
  if (lastHashOf(before) === e.prev) return `continues ${before} (not given)`;
  return fail('head-cut', e.file, 1, 'lines cut from the start: the first line is not a file start (no genesis, no file_start) and no earlier file continues into it');
}

/** The end of a file against its checkpoint; returns the note for a file that passes. */
function checkTail(file: string, read: FileSummary, cp: Checkpoint | null | 'unreadable', live: boolean): string {
  if (cp === 'unreadable') return fail('malformed', `${file}.head`, 1, 'the checkpoint is not one (not JSON, or fields missing)');
  if (cp === null) return 'no checkpoint: a cut tail would not show';
  const n = read.lines;
  const recorded = `its checkpoint recorded ${cp.lines} line(s) ending in ${short(cp.last_hash)}`;
  if (n === 0) {
    if (cp.lines > 0) fail('emptied', file, 1, `the file is empty, but ${recorded}`);
    return 'checkpoint matches (empty)';
  }
  if (cp.first_hash !== null && read.firstHash !== cp.first_hash) {
    fail('replaced', file, 1, `not the file its checkpoint describes: the first line's hash is ${short(read.firstHash)}, the checkpoint's ${short(cp.first_hash)}`);
  }
  if (n < cp.lines) fail('tail-cut', file, n + 1, `lines cut from the end: the file has ${n} line(s), ${recorded}`);
  if (cp.lines > 0 && read.checkpointLineHash !== cp.last_hash) {
    fail('tail-cut', file, cp.lines, `the end was cut and rewritten: line ${cp.lines} is not the one ${recorded}`);
  }
  // A torn line is named as such (or as what it is, when the chain disagrees), not as a line no writer recorded.
  const after = n - cp.lines - read.cutShort.filter((line) => line > cp.lines).length;
  // A server writing the file may have sealed them while this check read it: its checkpoint, read again, then
  // describes the same file and reaches at least as far (ending at the very line read last, when as far).
  const now = after > 0 && !live ? readCheckpoint(file) : null;
  if (now !== null && now !== 'unreadable' && now.first_hash === read.firstHash && (now.lines > n || (now.lines === n && now.last_hash === read.lastHash))) {
    return 'checkpoint matches (it moved on while this check ran)';
  }
  if (after > 0 && !live) {
    fail(
      'unsealed',
      file,
      cp.lines + 1,
      `${after} line(s) after the last its checkpoint records (${cp.lines}): no writer recorded them — a server killed between a batch and its checkpoint, or lines added since. ` +
        'A server writing this file now may be between the two for a moment: run again, or pass --live',
    );
  }
  return n > cp.lines ? `checkpoint matches; ${n - cp.lines} line(s) written after it (--live)` : 'checkpoint matches';
}

/** What a line that is no intact record is, judged by whether the chain skips it (inserted) or expects its stored hash (edited in place). */
function damagedLine(file: string, e: Entry, next: Entry | undefined, expected: string | null): VerifyProblem {
  const problem = (kind: ProblemKind, message: string): VerifyProblem => ({ kind, file, line: e.line, message });
  if (e.torn) return problem('tail-cut', 'lines cut from the end: the last line is incomplete (cut off, or a torn write)');
  if (next?.prev != null && expected !== null && next.prev === expected) return problem('inserted', 'inserted line: the chain skips it');
  if (e.tooLong) return problem('malformed', `a line of over ${MAX_KEPT_LINE_BYTES} bytes: no record the audit writer makes (edited or inserted)`);
  if (e.hash === null) return problem('malformed', 'not a chained audit record (not JSON, or no prev_hash/hash): edited or inserted');
  if (e.selfOk) return problem('edited', 'edited line: its content matches its hash, but not as written (an escape spelled another way, spacing, or a key given twice)');
  return problem('edited', 'edited line: its content does not match its hash');
}

/** A line's place, packed into one number: file index × 2^32 + line. */
const place = (fileIndex: number, line: number) => fileIndex * 2 ** 32 + line;

/**
 * @param torn receives each torn line passed (a finding that does not stop the check), in log order.
 * @returns the files' notes when nothing but torn lines was found; throws Broken at any other problem.
 */
function verifyAll(files: readonly string[], torn: VerifyProblem[], live: boolean): VerifyResult & { ok: true } {
  /** hash → place of every chained line read so far: a copy, or the chain jumping back, names the lines in between. */
  // Sized once from a count of the newlines: growing by doubling would leave every smaller table behind in the process's memory.
  const seen = new HashPlaces(files.reduce((n, f) => n + scanFile(f, true).lines + 1, 0));
  /** Lines read so far in each file. */
  const counts: number[] = [];
  const notes: string[] = [];
  let expected: string | null = null;
  let previous: string | null = null;
  let lines = 0;
  /** The chained line that follows the one at `at`, in the order read (the current line when there is none yet). */
  const after = (at: number, current: { file: string; line: number }) => {
    let fileIndex = Math.floor(at / 2 ** 32);
    let line = (at % 2 ** 32) + 1;
    while (fileIndex < counts.length && line > (counts[fileIndex] ?? 0)) {
      fileIndex++;
      line = 1;
    }
    return fileIndex < counts.length ? { file: files[fileIndex]!, line } : current;
  };
  /** Where the line the chain expects next to follow is, for a torn line's finding. */
  const lastWhole = () => {
    const j = expected === null ? undefined : seen.get(expected);
    return j === undefined ? 'as the first line of a chain would' : `from ${files[Math.floor(j / 2 ** 32)]}:${j % 2 ** 32}, the line before it`;
  };
  const tornProblem = (file: string, line: number, nextAt: string): VerifyProblem => ({
    kind: 'torn',
    file,
    line,
    message: `incomplete line: the start of a record whose write was cut short (the process killed mid-write, or a full disk); the writer started a fresh line after it, and ${nextAt} chains on ${lastWhole()}`,
  });
  /**
   * A file's last line shaped like a torn one: a restart that rotated the file
   * before writing to it left it there; only the next file's first line can
   * say whether the chain goes on from the line before it. What it is called
   * if not.
   */
  let pendingTorn: { file: string; line: number; otherwise: VerifyProblem } | null = null;
  const settlePending = (chainsOn: boolean, nextAt: string) => {
    if (pendingTorn === null) return;
    const p = pendingTorn;
    pendingTorn = null;
    if (!chainsOn) throw new Broken(p.otherwise);
    torn.push(tornProblem(p.file, p.line, nextAt));
  };
  for (const [fileIndex, file] of files.entries()) {
    // Read before the file: a server still writing only adds lines after the ones it describes.
    const cp = readCheckpoint(file);
    const wanted = cp !== null && cp !== 'unreadable' ? cp.lines : 0;
    const read: FileSummary = { lines: 0, firstHash: null, checkpointLineHash: null, cutShort: [], lastHash: null };
    counts[fileIndex] = 0;
    let start = 'empty';
    /** Chained lines read in this file (torn lines are none). */
    let chained = 0;
    for (const [e, next] of withNext(file)) {
      read.lines = e.line;
      read.lastHash = e.hash;
      if (e.line === wanted) read.checkpointLineHash = e.hash;
      const damaged = e.hash === null || !e.selfOk || !e.textOk;
      settlePending(!damaged && e.prev === expected, `${file}:${e.line}`);
      if (damaged && e.recordStart) {
        read.cutShort.push(e.line);
        // Torn only where the writer leaves one: the next line chains on from the last whole line (or starts the chain).
        if (next !== undefined && next.prev !== null && (expected === null || next.prev === expected)) {
          torn.push(tornProblem(file, e.line, `the next line (${file}:${e.line + 1})`));
          continue;
        }
        if (next === undefined && fileIndex < files.length - 1) {
          pendingTorn = { file, line: e.line, otherwise: damagedLine(file, e, undefined, expected) };
          continue;
        }
      }
      if (damaged) throw new Broken(damagedLine(file, e, next, expected));
      if (seen.has(e.hash!)) fail('inserted', file, e.line, 'inserted line: a copy of an earlier line');
      if (chained === 0) read.firstHash = e.hash;
      if (expected === null) start = checkHead({ ...e, file });
      else if (e.prev !== expected) {
        const j = seen.get(e.prev!);
        if (j !== undefined) {
          const from = { file: files[Math.floor(j / 2 ** 32)]!, line: j % 2 ** 32 };
          const first = after(j, { file, line: e.line });
          fail('inserted', first.file, first.line, `inserted line(s): the chain goes from ${from.file}:${from.line} straight to ${file}:${e.line}`);
        }
        if (e.line > 1) fail('deleted', file, e.line, 'line(s) deleted just before this line (or the previous line was rewritten with a new hash): prev_hash does not match');
        if (e.fileStart === null && e.prev !== GENESIS_HASH) {
          fail('head-cut', file, 1, `lines cut from the start: the first line is not a file start and does not continue ${previous}`);
        }
        fail('rotation-gap', file, 1, `does not continue ${previous} across the rotation: lines cut from the end of ${previous}, or a file missing between them`);
      } else if (chained === 0) start = `continues ${previous} across a rotation`;
      // Intact and chained: the writer's own record that lines went missing before it, which the lines around it
      // no longer show (the chain goes on from the last recorded line). The check goes on past it, as past a torn
      // line: stopping there would leave a later edit unnamed behind it.
      if (e.linesLost !== null) {
        torn.push({ kind: 'lines-lost', file, line: e.line, message: `lines lost before this line: a server found its file cut, emptied, deleted or rewritten by something else (${e.linesLost})` });
      }
      // A finding that does not stop the check, as a torn line: what was taken in may be a crash's batch or a forgery.
      if (e.adopted !== null) {
        const first = e.line - e.adopted >= 1 ? e.line - e.adopted : e.line;
        torn.push({
          kind: 'adopted',
          file,
          line: first,
          message:
            `${e.adopted} line(s) before ${file}:${e.line} were taken in by a server that found them after the last line its checkpoint recorded: ` +
            'a server killed between writing them and its checkpoint, or lines added since. Compare them with a copy kept off the host',
        });
      }
      seen.set(e.hash!, place(fileIndex, e.line));
      counts[fileIndex] = e.line;
      chained++;
      expected = e.hash;
    }
    lines += read.lines;
    notes.push(`${file}: ${read.lines} line(s), ${start}; ${checkTail(file, read, cp, live && fileIndex === files.length - 1)}`);
    if (read.lines > 0) previous = file;
  }
  // Files after a torn-shaped last line held no line to chain on from the line before it.
  settlePending(false, '');
  return { ok: true, lines, files: files.length, notes };
}

/**
 * @param opts.live the last file is one a server is writing: lines after its
 *   checkpoint are a batch between its append and its checkpoint, not a finding.
 */
export function verifyFiles(files: readonly string[], opts: { live?: boolean } = {}): VerifyResult {
  const torn: VerifyProblem[] = [];
  let found: VerifyProblem[];
  try {
    const r = verifyAll(files, torn, opts.live ?? false);
    if (torn.length === 0) return r;
    found = torn;
  } catch (err) {
    if (!(err instanceof Broken)) throw err;
    found = [...torn, err.problem];
  }
  const [problem, ...more] = found;
  return more.length > 0 ? { ok: false, problem: problem!, more } : { ok: false, problem: problem! };
}
