/**
 * Verifies audit files (oldest first) against the hash chain and names the
 * first problem with file:line — a modified line, removed line(s), an
 * inserted line, a line that is not a chained record, or a truncated tail.
 * The first line of the oldest file is trusted as the start: older files may
 * have been rotated away.
 */
import { readFileSync } from 'node:fs';
import { chainHash } from './audit-chain.ts';

export type ProblemKind = 'modified' | 'removed' | 'inserted' | 'malformed' | 'truncated';

export interface VerifyProblem {
  kind: ProblemKind;
  file: string;
  /** 1-based line number in `file`. */
  line: number;
  message: string;
}

export type VerifyResult = { ok: true; lines: number; files: number } | { ok: false; problem: VerifyProblem };

interface Entry {
  file: string;
  line: number;
  /** Last line of a file that does not end with a newline. */
  torn: boolean;
  prev: string | null;
  hash: string | null;
  /** hash recomputed from the content equals the stored hash. */
  selfOk: boolean;
}

function readEntries(file: string): Entry[] {
  const text = readFileSync(file, 'utf8');
  if (text === '') return [];
  const endsWithNewline = text.endsWith('\n');
  const rows = (endsWithNewline ? text.slice(0, -1) : text).split('\n');
  return rows.map((raw, i) => {
    const entry: Entry = { file, line: i + 1, torn: !endsWithNewline && i === rows.length - 1, prev: null, hash: null, selfOk: false };
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
    entry.selfOk = chainHash(rest.prev_hash, rest) === hash;
    return entry;
  });
}

export function verifyFiles(files: readonly string[]): VerifyResult {
  const entries = files.flatMap(readEntries);
  const at = (e: Entry, kind: ProblemKind, message: string): VerifyResult => ({ ok: false, problem: { kind, file: e.file, line: e.line, message } });
  const seen = new Map<string, number>();
  let expected: string | null = null;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const next = entries[i + 1];
    if (e.hash === null || !e.selfOk) {
      if (e.torn) return at(e, 'truncated', 'truncated tail: the last line is incomplete (cut off or a torn write)');
      // Whether the chain skips this line (inserted) or expects its stored hash (edited in place).
      if (next?.prev != null && expected !== null && next.prev === expected) return at(e, 'inserted', 'inserted line: the chain skips it');
      if (e.hash === null) return at(e, 'malformed', 'not a chained audit record (not JSON, or no prev_hash/hash): modified or inserted');
      return at(e, 'modified', 'modified line: its content does not match its hash');
    }
    if (seen.has(e.hash)) return at(e, 'inserted', 'inserted line: a copy of an earlier line');
    if (expected !== null && e.prev !== expected) {
      const j = seen.get(e.prev!);
      if (j !== undefined) {
        const first = entries[j + 1]!;
        return { ok: false, problem: { kind: 'inserted', file: first.file, line: first.line, message: `inserted line(s): the chain goes from ${entries[j]!.file}:${entries[j]!.line} straight to ${e.file}:${e.line}` } };
      }
      return at(e, 'removed', 'line(s) removed just before this line (or the previous line was rewritten with a new hash): prev_hash does not match');
    }
    seen.set(e.hash, i);
    expected = e.hash;
  }
  return { ok: true, lines: entries.length, files: files.length };
}
