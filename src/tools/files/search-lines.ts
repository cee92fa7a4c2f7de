/**
 * How a matching line is reported, the same for both engines: its text
 * (without the line ending, cut to MAX_TEXT_CHARS) and the 1-based column of
 * the first match in Unicode code points. Pure functions with no imports, so
 * the search worker (search-worker.ts) can load this module on its own.
 */

/** Longest line text returned per match. */
export const MAX_TEXT_CHARS = 500;

/**
 * A JavaScript regex exec that returns no match after this long on one line
 * most likely hit JavaScriptCore's backtracking limit, which reports "no
 * match" when it gives up. A genuine scan of a line is linear and takes
 * microseconds; giving up takes about a second on the machines measured.
 */
export const GAVE_UP_MS = 100;

/** One matching line, before its path is attached. */
export interface LineMatch {
  /** 1-based line number. */
  line: number;
  /** 1-based column of the first match on the line, in Unicode code points. */
  column: number;
  text: string;
}

/** What the JavaScript regex found in one file's text. */
export interface LinesResult {
  found: LineMatch[];
  /** Lines (1-based) where the regex answered "no match" only after GAVE_UP_MS: likely a backtracking give-up. */
  gaveUp: number[];
}

/** A matching line as shown: without its line ending, cut to MAX_TEXT_CHARS. */
export function displayText(line: string): string {
  let text = line.endsWith('\n') ? line.slice(0, -1) : line;
  if (text.endsWith('\r')) text = text.slice(0, -1);
  if (text.length <= MAX_TEXT_CHARS) return text;
  text = text.slice(0, MAX_TEXT_CHARS);
  const last = text.charCodeAt(text.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? text.slice(0, -1) : text;
}

export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * The 1-based column, in code points, of a byte offset on a line: the code
 * points that lossy UTF-8 decoding (invalid bytes become U+FFFD, a BOM kept)
 * gives for the bytes before it — what the built-in engine counts on the
 * decoded text. A sequence cut by the offset is not counted.
 */
export function columnAtByte(line: Uint8Array, byteOffset: number): number {
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  return codePoints(decoder.decode(line.subarray(0, byteOffset), { stream: true })) + 1;
}

/** The file's lines, split on "\n" (a final line ending does not start another line). */
export function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/**
 * Runs `regex` on each line of `text`, keeping at most `limit` matches. Only
 * ever called inside the search worker: a pattern with nested quantifiers can
 * take seconds per line, which must not happen on the server's event loop.
 */
export function matchLines(text: string, regex: RegExp, limit: number): LinesResult {
  const found: LineMatch[] = [];
  const gaveUp: number[] = [];
  const lines = splitLines(text);
  for (let i = 0; i < lines.length && found.length < limit; i++) {
    const line = lines[i]!;
    const started = performance.now();
    const m = regex.exec(line);
    if (m !== null) found.push({ line: i + 1, column: codePoints(line.slice(0, m.index)) + 1, text: displayText(line) });
    else if (performance.now() - started >= GAVE_UP_MS) gaveUp.push(i + 1);
  }
  return { found, gaveUp };
}
