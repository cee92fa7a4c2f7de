/**
 * Verifies audit files (oldest first) against the hash chain, the file-start
 * markers and the checkpoints, and names the first problem with file:line:
 * lines cut from the start (head-cut) or the end (tail-cut), an emptied log,
 * an edited, inserted or deleted line, a gap between two rotated files, a file
 * that is not the one its checkpoint describes, or a line that is no record.
 * The oldest file given may continue a chain whose earlier files were rotated
 * away: its first line says so, and that is accepted.
 */
import { existsSync, readFileSync } from 'node:fs';
import { type Checkpoint, chainHash, GENESIS_HASH, hashOf, lastLine, readCheckpoint } from './chain.ts';

export type ProblemKind = 'head-cut' | 'tail-cut' | 'emptied' | 'edited' | 'inserted' | 'deleted' | 'rotation-gap' | 'replaced' | 'malformed';

export interface VerifyProblem {
  kind: ProblemKind;
  file: string;
  /** 1-based line number in `file` (for a cut tail: the first line that is missing). */
  line: number;
  message: string;
}

export type VerifyResult =
  | { ok: true; lines: number; files: number; /** One line per file: how it starts, and what its checkpoint says. */ notes: string[] }
  | { ok: false; problem: VerifyProblem };

interface Entry {
  file: string;
  line: number;
  /** Last line of a file that does not end with a newline. */
  torn: boolean;
  prev: string | null;
  hash: string | null;
  /** hash recomputed from the content equals the stored hash. */
  selfOk: boolean;
  fileStart: string | null;
}

function readEntries(file: string): Entry[] {
  const text = readFileSync(file, 'utf8');
  if (text === '') return [];
  const endsWithNewline = text.endsWith('\n');
  const rows = (endsWithNewline ? text.slice(0, -1) : text).split('\n');
  return rows.map((raw, i) => {
    const entry: Entry = { file, line: i + 1, torn: !endsWithNewline && i === rows.length - 1, prev: null, hash: null, selfOk: false, fileStart: null };
    let rec: unknown;
    try {
      rec = JSON.parse(raw);
    } catch {
      return entry;
    }
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) return entry;
    const { hash, ...rest } = rec as Record<string, unknown>;
    if (typeof hash !== 'string' || typeof rest.prev_hash !== 'string') return entry;
    entry.prev = rest.prev_hash;
    entry.hash = hash;
    try {
      entry.selfOk = chainHash(rest.prev_hash, rest) === hash;
    } catch {
      // Nested too deep to hash (the writer never nests that far): not the line that was chained.
      entry.selfOk = false;
    }
    entry.fileStart = typeof rest.file_start === 'string' ? rest.file_start : null;
    return entry;
  });
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

/** How the first line of the first file given may start: a new chain, or a continuation. */
function checkHead(e: Entry): string {
  if (e.fileStart === 'genesis' || (e.fileStart === null && e.prev === GENESIS_HASH)) return 'starts the chain (genesis)';
  if (e.fileStart === 'continues') return 'continues a chain from an earlier file not given (rotated away or not listed)';
  // Older logs have no marker: a rotated predecessor on disk may still vouch for the first line.
  const before = previousFile(e.file);
  if (existsSync(before) && hashOf(lastLine(before).line) === e.prev) return `continues ${before} (not given)`;
  return fail('head-cut', e.file, 1, 'lines cut from the start: the first line is not a file start (no genesis, no file_start) and no earlier file continues into it');
}

/** The end of a file against its checkpoint; returns the note for a file that passes. */
function checkTail(file: string, fileEntries: Entry[], cp: Checkpoint | null | 'unreadable'): string {
  if (cp === 'unreadable') return fail('malformed', `${file}.head`, 1, 'the checkpoint is not one (not JSON, or fields missing)');
  if (cp === null) return 'no checkpoint: a cut tail would not show';
  const n = fileEntries.length;
  const recorded = `its checkpoint recorded ${cp.lines} line(s) ending in ${short(cp.last_hash)}`;
  if (n === 0) {
    if (cp.lines > 0) fail('emptied', file, 1, `the file is empty, but ${recorded}`);
    return 'checkpoint matches (empty)';
  }
  if (cp.first_hash !== null && fileEntries[0]!.hash !== cp.first_hash) {
    fail('replaced', file, 1, `not the file its checkpoint describes: the first line's hash is ${short(fileEntries[0]!.hash)}, the checkpoint's ${short(cp.first_hash)}`);
  }
  if (n < cp.lines) fail('tail-cut', file, n + 1, `lines cut from the end: the file has ${n} line(s), ${recorded}`);
  if (cp.lines > 0 && fileEntries[cp.lines - 1]!.hash !== cp.last_hash) {
    fail('tail-cut', file, cp.lines, `the end was cut and rewritten: line ${cp.lines} is not the one ${recorded}`);
  }
  return n > cp.lines ? `checkpoint matches; ${n - cp.lines} line(s) written after it` : 'checkpoint matches';
}

function verifyAll(files: readonly string[]): VerifyResult {
  const all: Entry[] = [];
  /** hash → index in `all`. */
  const seen = new Map<string, number>();
  const notes: string[] = [];
  let expected: string | null = null;
  let previous: string | null = null;
  let lines = 0;
  for (const file of files) {
    const entries = readEntries(file);
    lines += entries.length;
    let start = 'empty';
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const next = entries[i + 1];
      if (e.hash === null || !e.selfOk) {
        if (e.torn) fail('tail-cut', file, e.line, 'lines cut from the end: the last line is incomplete (cut off, or a torn write)');
        // Whether the chain skips this line (inserted) or expects its stored hash (edited in place).
        if (next?.prev != null && expected !== null && next.prev === expected) fail('inserted', file, e.line, 'inserted line: the chain skips it');
        if (e.hash === null) fail('malformed', file, e.line, 'not a chained audit record (not JSON, or no prev_hash/hash): edited or inserted');
        fail('edited', file, e.line, 'edited line: its content does not match its hash');
      }
      if (seen.has(e.hash)) fail('inserted', file, e.line, 'inserted line: a copy of an earlier line');
      if (e.line === 1 && expected === null) start = checkHead(e);
      else if (e.prev !== expected) {
        const j = seen.get(e.prev!);
        if (j !== undefined) {
          const from = all[j]!;
          const first = all[j + 1] ?? e;
          fail('inserted', first.file, first.line, `inserted line(s): the chain goes from ${from.file}:${from.line} straight to ${file}:${e.line}`);
        }
        if (e.line > 1) fail('deleted', file, e.line, 'line(s) deleted just before this line (or the previous line was rewritten with a new hash): prev_hash does not match');
        if (e.fileStart === null && e.prev !== GENESIS_HASH) {
          fail('head-cut', file, 1, `lines cut from the start: the first line is not a file start and does not continue ${previous}`);
        }
        fail('rotation-gap', file, 1, `does not continue ${previous} across the rotation: lines cut from the end of ${previous}, or a file missing between them`);
      } else if (e.line === 1) start = `continues ${previous} across a rotation`;
      seen.set(e.hash, all.length);
      all.push(e);
      expected = e.hash;
    }
    notes.push(`${file}: ${entries.length} line(s), ${start}; ${checkTail(file, entries, readCheckpoint(file))}`);
    if (entries.length > 0) previous = file;
  }
  return { ok: true, lines, files: files.length, notes };
}

export function verifyFiles(files: readonly string[]): VerifyResult {
  try {
    return verifyAll(files);
  } catch (err) {
    if (err instanceof Broken) return { ok: false, problem: err.problem };
    throw err;
  }
}
