/**
 * How a shell reads words, as the redactor's patterns need it: a flag's value
 * as one word (quoted parts, escapes, continuations), the gap before it,
 * where an option starts, and the quotes around a value.
 */

/**
 * What may not start a flag's value: `-x` is the next option, and neither a
 * redirection from stdin (`< file`, `<<< word`) nor a lone operator (`;`,
 * `&&`) is a value. A backslash before a line break never starts one (the gap
 * before the value takes it).
 */
const VALUE_LEAD = String.raw`(?![-\s]|<<<|<\s|\\\r?\n|[;&|]+(?:\s|$))`;
/**
 * A quoted part of a word: $'…' (ANSI-C), '…', "…", or \"…\" inside JSON
 * text. Double quotes holding a command substitution (`$(…)`, a backtick) are
 * none: the shell runs it, and the log should say how the secret was got.
 * Nor is a quote followed by a space or an operator: it closes the string the
 * flag sat in (`sh -c "mysql -p"; echo "done"`, mysql asking for the
 * password), and read as opening one it would take the commands after it.
 */
const QUOTED_PART = String.raw`\$'(?:[^'\\\n]|\\.)*'|'(?![\s;&|)])[^'\n]*'|"(?![\s;&|)])(?:[^"\\\n$\x60]|\\.|\$(?!\())*"|\\"(?![\s;&|)])(?:[^\\\n$\x60]|\\[^"]|\$(?!\())*\\"`;
/**
 * A quoted part glued on after the first part of a value (`'x'y"z"`): only
 * word characters inside. A quote right after a value most often closes a
 * string the flag sat in (`sh -c "mysql -pX"; rm -rf "dir"`); read as the
 * start of a part, it carried the mask over the commands up to the next
 * quote, and hid them from the audit log.
 */
const GLUED_QUOTED_PART = String.raw`\$'[^\s"'\\;&|<>(){},:\x60]*'|'[^\s"'\\;&|<>(){},:\x60]*'|"[^\s"'\\;&|<>(){},:\x60]*"|\\"[^\s"'\\;&|<>(){},:\x60]*\\"`;
/**
 * An unquoted part: an escaped character (`a\ b`, and `\\&` in JSON text,
 * where the shell reads `\&`), a continuation inside the
 * word (`pass\⏎word`: before anything but a space it glues the word on), or
 * any other character but a space, a quote, a backslash, a backtick, the `$`
 * of `$'` or `$(`, and `;`, `&`, `|`, where the shell ends a word: `mysql
 * -ppw;rm -rf x` keeps its rm. A value may start with one (VALUE_WORD): in
 * plain text, such as an error message, that is a password's character.
 */
const BARE_PART = String.raw`\\(?:\\[;&|]|[^"\r\n])|\\\r?\n(?=\S)|[^\s"'\\$;&|\x60]|\$(?!['(])`;
/**
 * A flag's value in a command string, as the shell reads one word: bare and
 * quoted parts glued together, quoted ones after the first only as
 * GLUED_QUOTED_PART allows. Each part starts with a character no other part
 * starts with, so a failed match backtracks little.
 */
const VALUE_FIRST_PART = String.raw`${QUOTED_PART}|${BARE_PART}|[;&|]`;
const VALUE_LATER_PARTS = String.raw`(?:${GLUED_QUOTED_PART}|${BARE_PART})*`;
export const VALUE_WORD = String.raw`(?:${VALUE_FIRST_PART})${VALUE_LATER_PARTS}`;
/**
 * The word echo or printf pipes into a command reading a secret on stdin: any
 * quoted part may be glued on (`echo S3cr3t'x y' | sudo -S …`), as the
 * look-ahead for the pipe and its command bounds the value.
 */
export const PIPED_WORD = String.raw`${VALUE_LEAD}(?:${QUOTED_PART}|${BARE_PART})+`;
/**
 * A flag's value (VALUE_LEAD, then VALUE_WORD) that may also start with a JSON-escaped quote left open
 * (`--token \"abc` in JSON text of a command cut short): two ways to read
 * `\"…\"`, so only for patterns that end with the value, where the first
 * reading that matches is the answer; before a look-ahead every reading would
 * be tried.
 */
export const LOOSE_FLAG_VALUE = String.raw`${VALUE_LEAD}(?:${VALUE_FIRST_PART}|\\")${VALUE_LATER_PARTS}`;
/**
 * Where an option starts: after a space, a quote or a backslash (`\-p` is
 * `-p` to the shell; a continuation glued to the word before reads so in the
 * joined copy), or after a JSON escape's letter (`mysql\t-pX` in JSON text).
 */
export const OPTION_START = String.raw`(?<![^\s"'\\](?<!\\[nrt]))`;

/**
 * Spaces between a flag and its value within one command: a line break only
 * as a continuation's, never a JSON line-break escape, so a flag at the end of
 * a line takes nothing from the next line, another command (`psql
 * --password⏎rm -rf x` keeps the rm). The backslash of `\t` in JSON text is
 * taken, not that of a JSON-escaped quote (`\"`, which opens the value). Each
 * character is read one way only: a gap that could be split in several made a
 * run of spaces after a flag cost quadratic time. Commands continued over
 * lines are read from a copy with the continuations joined (joinContinuations).
 */
export const GAP = String.raw`(?:[ \t]|\\\r?\n|\\(?![\s"nr]))+`;
/**
 * How far before a flag its program may be named in the same command (and how
 * far apart a here-string or an echo and the flag that reads it may be): a
 * word that far back most likely belongs to another command's text.
 */
export const PROGRAM_REACH = 256;

const QUOTES: [open: string, close: string][] = [
  ['\\"', '\\"'],
  ['"', '"'],
  ["$'", "'"],
  ["'", "'"],
];

/** The quotes around a value that is one quoted part (`\"` inside JSON text), or none. */
export function quotesOf(value: string): [open: string, close: string] {
  for (const [open, close] of QUOTES) {
    if (value.length >= open.length + close.length && value.startsWith(open) && value.endsWith(close)) return [open, close];
  }
  return ['', ''];
}

/**
 * A value that is only quotes (`ssh-keygen -N ""`, `--password ''`): no
 * secret, and the log should say none was given, which is what an auditor
 * looks for.
 */
export function emptyQuoted(value: string): boolean {
  const [open, close] = quotesOf(value);
  return open !== '' && value.length === open.length + close.length;
}

/** The value without its quotes. */
export function unquoted(value: string): string {
  const [open, close] = quotesOf(value);
  return value.slice(open.length, value.length - close.length);
}

export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** `text` in the quotes `value` was written in, when it was one quoted part. */
export function quoted(text: string, value: string): string {
  const [open, close] = quotesOf(value);
  return `${open}${text}${close}`;
}

/**
 * Backslash line continuations (`\` then a line break, the backslash not
 * itself escaped), a run of them at a time, and the line break after a pipe:
 * the shell reads each as if the lines were one. The pipe's line break is
 * matched first and looked back from: a look-back tried at every position
 * would scan back over every run of spaces again.
 */
const CONTINUATIONS = /(?<!\\)((?:\\\\)*)((?:\\\r?\n)+)(?=([^\s]?))|\r?\n(?<=\|[ \t]*\r?\n)/g;
export const CONTINUED_LINE = /\\\r?\n|\|[ \t]*\r?\n/;

/**
 * The same text with its continuations joined, at the same length: a run of
 * continuations beside a space or an end becomes spaces (it only separates
 * words, as for the shell); one inside a word (`pass\⏎word`) becomes
 * backslashes, which keep it one word for a value; a gap after a flag takes
 * them too, so `--pass\⏎word` (one word to the shell) is masked as a flag and
 * its value rather than left whole; a line break after a pipe becomes a space.
 */
export function joinContinuations(text: string): string {
  return text.replace(CONTINUATIONS, (match: string, escapes: string | undefined, run: string | undefined, next: string | undefined, at: number) => {
    if (run === undefined) return ' '.repeat(match.length);
    // After a space the word has ended, unless the space is escaped (`a\ \⏎b` is one word).
    const afterSpace = at === 0 || (/\s/.test(text[at - 1]!) && text[at - 2] !== '\\');
    const inWord = next !== '' && (escapes !== '' || !afterSpace);
    return `${escapes}${(inWord ? '\\' : ' ').repeat(run.length)}`;
  });
}

/**
 * The quote a shell would still wait for at the end of `text` (`'` or `"`;
 * backslashes escape outside single quotes), or else a JSON-escaped `\"` left
 * open, or null.
 */
export function openQuoteAtEnd(text: string): string | null {
  let open: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (open === "'") {
      if (c === "'") open = null;
    } else if (c === '\\') i++;
    else if (c === '"') open = open === '"' ? null : '"';
    else if (c === "'" && open === null) open = "'";
  }
  if (open !== null) return open;
  // JSON text of a command: its quotes are `\"`, which the shell reading above takes for escaped ones.
  return (text.match(/(?<!\\)\\"/g)?.length ?? 0) % 2 === 1 ? '\\"' : null;
}
