/**
 * A small unified diff (line based, Myers' O(ND) shortest edit script) so
 * edit_file can show what it changed without a dependency. Very different
 * inputs (more than MAX_EDIT_DISTANCE changed lines) are shown as one
 * replaced block instead of searching for the shortest script. edit_file
 * knows where its edits are (editsDiff): only the lines around them are
 * compared, and the rounds of the search are shared by all of them.
 */
import { charsWithinJsonBudget } from '../../util/json-text-cost.ts';

/**
 * The search keeps each round's frontier (round d: 2d + 3 numbers) to walk
 * back: 2000 rounds hold 16 MB and take ~50 ms of the event loop, where 4000
 * (the search's cost grows with the square) held 128 MB and took 0.2 s per call.
 */
const MAX_EDIT_DISTANCE = 2000;
/**
 * Lines compared and diagonals visited in all, past which the search gives
 * up as past MAX_EDIT_DISTANCE: text that repeats itself (blocks of `a` lines)
 * keeps long runs of equal lines alive on many diagonals, and a 1 MB edit of
 * such text held the event loop, every client's, for 0.85 s within the rounds.
 */
const MAX_SEARCH_STEPS = 4_000_000;
const CONTEXT = 3;
/**
 * Longest diff editsDiff returns, in characters: an answer carries it twice
 * (structured and as text), and edits on a file of very long lines made one of
 * 27 MB, an 80 MB answer.
 */
export const MAX_DIFF_CHARS = 1024 * 1024;
/**
 * Most JSON text a diff may take, twice its characters: a line of control characters is six times its length in
 * JSON (`\u0001`), and a dry run of one 1 MB line of them answered 13 MB to an 85-byte request.
 */
const MAX_DIFF_JSON = 2 * MAX_DIFF_CHARS;
/** Marks a last line with no newline, so "x" and "x\n" differ as lines do in diff(1). */
const NO_EOL = '\u0000no-eol';

type Op = { kind: ' ' | '-' | '+'; line: string };

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  else lines[lines.length - 1] += NO_EOL;
  return lines;
}

/** Rounds of the search one diff may still run: shared by the parts of a diff, so many parts cost no more than one. */
interface Budget {
  rounds: number;
  /** What is left of MAX_SEARCH_STEPS. */
  steps: number;
}

/** Myers' greedy forward search, keeping each round's frontier to walk the path back; null past the budget. */
function myers(a: string[], b: string[], budget: Budget): Op[] | null {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, budget.rounds);
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  /** Round d's frontier before it ran, diagonals -d-1..d+1 only: what the walk back reads. */
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2));
    // In place: round d writes diagonals of d's parity and reads only the other parity, written in round d - 1.
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      const from = x;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      budget.steps -= 1 + x - from;
      if (budget.steps < 0) {
        budget.rounds = 0;
        return null;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        budget.rounds -= d;
        return backtrack(a, b, trace);
      }
    }
  }
  budget.rounds = 0;
  return null;
}

function backtrack(a: string[], b: string[], trace: Int32Array[]): Op[] {
  const ops: Op[] = [];
  let x = a.length;
  let y = b.length;
  for (let d = trace.length - 1; d >= 0; d--) {
    const frontier = trace[d]!;
    /** Diagonal k of round d's frontier (it starts at diagonal -d-1). */
    const at = (k: number) => frontier[k + d + 1]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = d === 0 ? 0 : at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      x--;
      y--;
      ops.push({ kind: ' ', line: a[x]! });
    }
    if (d === 0) break;
    if (x === prevX) ops.push({ kind: '+', line: b[--y]! });
    else ops.push({ kind: '-', line: a[--x]! });
  }
  return ops.reverse();
}

function script(a: string[], b: string[], budget: Budget): Op[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let post = 0;
  while (post < a.length - pre && post < b.length - pre && a[a.length - 1 - post] === b[b.length - 1 - post]) post++;
  const midA = a.slice(pre, a.length - post);
  const midB = b.slice(pre, b.length - post);
  const mid = myers(midA, midB, budget) ?? [...midA.map((line) => ({ kind: '-' as const, line })), ...midB.map((line) => ({ kind: '+' as const, line }))];
  return [
    ...a.slice(0, pre).map((line) => ({ kind: ' ' as const, line })),
    ...mid,
    ...a.slice(a.length - post).map((line) => ({ kind: ' ' as const, line })),
  ];
}

function render(op: Op): string {
  return op.line.endsWith(NO_EOL) ? `${op.kind}${op.line.slice(0, -NO_EOL.length)}\n\\ No newline at end of file\n` : `${op.kind}${op.line}\n`;
}

/**
 * The hunks of an edit script whose first line is line `oldFirst` + 1 of the
 * old text and `newFirst` + 1 of the new, rendered until they pass `room`
 * characters (the rest would be cut: a 1 MB edit of 500,000 lines spent most
 * of its second on lines the answer never carried).
 */
function renderHunks(ops: Op[], oldFirst: number, newFirst: number, room: number): string {
  let out = '';
  let i = 0;
  while (i < ops.length && out.length <= room) {
    while (i < ops.length && ops[i]!.kind === ' ') i++;
    if (i >= ops.length) break;
    // A hunk: changes plus CONTEXT lines around them, merged while gaps are short.
    const start = Math.max(0, i - CONTEXT);
    let end = i;
    for (;;) {
      while (end < ops.length && ops[end]!.kind !== ' ') end++;
      let gap = end;
      while (gap < ops.length && ops[gap]!.kind === ' ') gap++;
      if (gap < ops.length && gap - end <= 2 * CONTEXT) end = gap;
      else {
        end = Math.min(ops.length, end + CONTEXT);
        break;
      }
    }
    let oldLine = 1 + oldFirst;
    let newLine = 1 + newFirst;
    for (let j = 0; j < start; j++) {
      if (ops[j]!.kind !== '+') oldLine++;
      if (ops[j]!.kind !== '-') newLine++;
    }
    const hunk = ops.slice(start, end);
    const oldCount = hunk.filter((o) => o.kind !== '+').length;
    const newCount = hunk.filter((o) => o.kind !== '-').length;
    out += `@@ -${oldCount === 0 ? oldLine - 1 : oldLine},${oldCount} +${newCount === 0 ? newLine - 1 : newLine},${newCount} @@\n`;
    for (let j = 0; j < hunk.length && out.length <= room; j++) out += render(hunk[j]!);
    i = end;
  }
  return out;
}

/** One replacement at offset `at` of the original text. */
export interface PlacedEdit {
  at: number;
  oldText: string;
  newText: string;
}

/** Newlines in `text` from `from` up to `to`. */
function newlines(text: string, from: number, to: number): number {
  let count = 0;
  for (let i = text.indexOf('\n', from); i !== -1 && i < to; i = text.indexOf('\n', i + 1)) count++;
  return count;
}

/** Where the line holding offset `at` starts, `back` lines further up. */
function lineStartBefore(text: string, at: number, back: number): number {
  let from = at === 0 ? 0 : text.lastIndexOf('\n', at - 1) + 1;
  for (let i = 0; i < back && from > 0; i++) from = from < 2 ? 0 : text.lastIndexOf('\n', from - 2) + 1;
  return from;
}

/** Where the line holding offset `at` - 1 ends (past its newline), `on` lines further down. */
function lineEndAfter(text: string, at: number, on: number): number {
  let to = at;
  if (to > 0 && text.charCodeAt(to - 1) !== 10) {
    const nl = text.indexOf('\n', to);
    to = nl === -1 ? text.length : nl + 1;
  }
  for (let i = 0; i < on && to < text.length; i++) {
    const nl = text.indexOf('\n', to);
    to = nl === -1 ? text.length : nl + 1;
  }
  return to;
}

/**
 * The unified diff of `edits` (sorted, not overlapping) applied to
 * `original`, found from the edits: each is compared within its own lines and
 * CONTEXT lines around them, windows that touch taken together. Only those
 * windows are split into lines: one edit in a 10 MiB file of short lines,
 * split whole, made 5 million lines and an operation each (+500 MB, 0.6 s of
 * the event loop); edits spread over a large file, compared from the first to
 * the last, took 2.5 s for 9 MB and made a diff of the whole stretch.
 */
export function editsDiff(path: string, original: string, edits: readonly PlacedEdit[]): string {
  const windows: Array<{ from: number; to: number; edits: PlacedEdit[] }> = [];
  for (const e of edits) {
    const from = lineStartBefore(original, e.at, CONTEXT);
    const to = lineEndAfter(original, e.at + e.oldText.length, CONTEXT);
    const last = windows.at(-1);
    if (last !== undefined && from <= last.to) {
      last.to = Math.max(last.to, to);
      last.edits.push(e);
    } else windows.push({ from, to, edits: [e] });
  }
  const budget = { rounds: MAX_EDIT_DISTANCE, steps: MAX_SEARCH_STEPS };
  let out = '';
  let oldFirst = 0;
  let shift = 0;
  let counted = 0;
  for (const w of windows) {
    oldFirst += newlines(original, counted, w.from);
    counted = w.from;
    const before = original.slice(w.from, w.to);
    let after = '';
    let pos = w.from;
    for (const e of w.edits) {
      after += original.slice(pos, e.at) + e.newText;
      pos = e.at + e.oldText.length;
    }
    after += original.slice(pos, w.to);
    if (before === after) continue;
    const a = splitLines(before);
    const b = splitLines(after);
    out += renderHunks(script(a, b, budget), oldFirst, oldFirst + shift, MAX_DIFF_CHARS - out.length);
    shift += b.length - a.length;
    if (out.length > MAX_DIFF_CHARS) break;
  }
  return out === '' ? '' : `--- a/${path}\n+++ b/${path}\n${bounded(out)}`;
}

/**
 * The diff whole, or cut at a line end within MAX_DIFF_CHARS characters and MAX_DIFF_JSON of JSON text, saying so
 * in a line no patch tool takes for a change.
 */
function bounded(diff: string): string {
  const fits = charsWithinJsonBudget(diff, 0, Math.min(diff.length, MAX_DIFF_CHARS), MAX_DIFF_JSON).end;
  if (fits === diff.length) return diff;
  const end = diff.lastIndexOf('\n', fits - 1) + 1;
  return `${diff.slice(0, end)}\\ diff cut here, at ${MAX_DIFF_CHARS} characters (fewer where control characters take six each in JSON); the edits themselves are whole\n`;
}

/**
 * Unified diff of two whole texts; '' when they are equal: the diff of the
 * one edit between their common start and their common end.
 * @example unifiedDiff('src/a.ts', 'a\nb\n', 'a\nc\n') // "--- a/src/a.ts\n+++ b/src/a.ts\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
 */
export function unifiedDiff(path: string, before: string, after: string): string {
  if (before === after) return '';
  const n = Math.min(before.length, after.length);
  let prefix = 0;
  while (prefix < n && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++;
  let suffix = 0;
  while (suffix < n - prefix && before.charCodeAt(before.length - 1 - suffix) === after.charCodeAt(after.length - 1 - suffix)) suffix++;
  return editsDiff(path, before, [{ at: prefix, oldText: before.slice(prefix, before.length - suffix), newText: after.slice(prefix, after.length - suffix) }]);
}
