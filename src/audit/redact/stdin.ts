/** Secrets handed on stdin to a command that reads one there: here-strings and piped echoes. */
import { type Masked, REDACTED } from './masks.ts';
import { WORD_START } from './names.ts';
import { STDIN_RANK } from './patterns.ts';
import { LOOSE_FLAG_VALUE, PIPED_WORD, PROGRAM_REACH, quoted } from './shell.ts';

/**
 * What says a command reads a password or token from stdin: `--password-stdin`
 * (docker login and the registry clients), `--pass-stdin` (regctl),
 * `--with-token` (gh), `--passphrase-fd 0` (gpg), `sudo -S`, `passwd --stdin`,
 * `chpasswd` (user:password lines) and `htpasswd -i`. Every repeat is
 * bounded and short: this runs inside a look-ahead at many places, and an
 * option word that could be cut in many ways (`-SSS…`) made a 4 KiB string
 * cost seconds. The words between `sudo` and `-S` are taken lazily, so that a
 * scan for these flags ends each at its first `-S`, as close as it can be to a
 * here-string after it (`sudo -S<<<pw sudo -S`).
 */
const STDIN_SECRET_FLAG = String.raw`${WORD_START}(?:--(?:pass(?:word)?-stdin|with-token)|--passphrase-fd[ \t=]0|chpasswd|passwd[ \t]+--stdin|sudo(?:[ \t]+(?:-{1,2}[A-Za-z]\S{0,40}|[^\s;&|<>-]\S{0,64})){0,6}?[ \t]+(?:-[A-Za-z]{0,3}S[A-Za-z]{0,3}|--stdin)|htpasswd(?:[ \t]+(?:-[A-Za-z]{1,8}|[^\s;&|<>-]\S{0,64})){0,6}?[ \t]+-[A-Za-z]{0,4}i[A-Za-z]{0,4})(?![\w-])`;
/**
 * Spaces after `<<<`, continuations among them. A backslash is taken only as a
 * continuation's: were it also a value's escape, a run of them could be split
 * between the two in every way, each tried against the look-ahead for the flag
 * (seconds for 4 KiB of backslashes).
 */
const HERE_GAP = String.raw`(?:[ \t]|\\\r?\n)*`;
const STDIN_SECRET_FLAG_RE = new RegExp(STDIN_SECRET_FLAG, 'gi');
/** Exactly three `<`: a run of them is no here-string. Its gap and value are read only where it is paired with a flag. */
const HERE_STRING = /(?<!<)<<<(?!<)/g;
const HERE_VALUE = new RegExp(String.raw`${HERE_GAP}(?<value>${LOOSE_FLAG_VALUE})`, 'y');
/** `echo` or `printf` (`printf -- '%s\n' pw`) and its one word, piped (after up to three redirections) into a command. */
const PIPED_ECHO = new RegExp(
  String.raw`${WORD_START}(?:echo|printf)(?:[ \t]+-[neE]{1,3})*(?:[ \t]+--)?[ \t]+(?:(?:'%s[^'\n]{0,8}'|"%s[^"\n]{0,8}"|%s(?:\\{1,2}[rn]){0,2})[ \t]+)?(?<value>${PIPED_WORD})(?=(?<pipe>(?:[ \t]*[0-9]?>{1,2}&?[^\s|;&<>]{0,64}){0,3}[ \t]*\|&?)(?!\|))`,
  'gi',
);
const SEPARATORS = /[\n;&|]/g;

/** Index of the first of `sorted` (ascending) that is at least `n`; its length when none is. */
function firstAtLeast(sorted: readonly number[], n: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < n) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The secret handed on stdin to a command that reads one there, in a command
 * string: a here-string after its flag (`docker login --password-stdin <<<
 * pw`), or before it when `<<<` starts a word (`gh auth login <<< tok
 * --with-token`); or the one word an `echo` or `printf` pipes into it (`echo
 * pw | docker login -u me --password-stdin`). The flag must be in the same
 * command and within PROGRAM_REACH characters. Flags, here-strings and echoes
 * are each found in one pass and paired by position: a look-back or look-ahead
 * over the reach from every `<<<` made a 4 KiB string of them cost 3.5 ms, 45
 * ms for the strings of one call.
 */
export function stdinSecretMasks(text: string): Masked[] {
  const starts: number[] = [];
  const ends: number[] = [];
  // Every place a flag starts, even inside another's match (`sudo x sudo -S`): the search goes on from the next character.
  STDIN_SECRET_FLAG_RE.lastIndex = 0;
  for (let m = STDIN_SECRET_FLAG_RE.exec(text); m !== null; m = STDIN_SECRET_FLAG_RE.exec(text)) {
    starts.push(m.index);
    ends.push(m.index + m[0].length);
    STDIN_SECRET_FLAG_RE.lastIndex = m.index + 1;
  }
  if (starts.length === 0) return [];
  ends.sort((x, y) => x - y);
  const separators = Array.from(text.matchAll(SEPARATORS), (m) => m.index);
  const sameCommand = (from: number, to: number): boolean => (separators[firstAtLeast(separators, from)] ?? Number.POSITIVE_INFINITY) >= to;
  const flagEndsBefore = (at: number): boolean => {
    const last = firstAtLeast(ends, at + 1) - 1;
    return last >= 0 && ends[last]! >= at - PROGRAM_REACH && sameCommand(ends[last]!, at);
  };
  const flagStartsAfter = (at: number): boolean => {
    const next = starts[firstAtLeast(starts, at)];
    return next !== undefined && next <= at + PROGRAM_REACH && sameCommand(at, next);
  };
  const masks: Masked[] = [];
  const mask = (m: RegExpExecArray) => {
    const value = m.groups!.value!;
    masks.push({ index: m.index, seen: m[0], masked: `${m[0].slice(0, m[0].length - value.length)}${quoted(REDACTED, value)}`, rank: STDIN_RANK });
  };
  // A here-string's value is read only once it is paired with a flag, and a masked one is skipped: read for every
  // `<<<` and looked at again when unpaired, a word full of them cost quadratic time.
  HERE_STRING.lastIndex = 0;
  for (let m = HERE_STRING.exec(text); m !== null; m = HERE_STRING.exec(text)) {
    const wordStart = m.index === 0 || /[\s"']/.test(text[m.index - 1]!);
    if (!flagEndsBefore(m.index) && !(wordStart && flagStartsAfter(m.index + 3))) continue;
    HERE_VALUE.lastIndex = m.index + 3;
    const v = HERE_VALUE.exec(text);
    if (v === null) continue;
    const value = v.groups!.value!;
    const end = HERE_VALUE.lastIndex;
    masks.push({ index: m.index, seen: text.slice(m.index, end), masked: `${text.slice(m.index, end - value.length)}${quoted(REDACTED, value)}`, rank: STDIN_RANK });
    HERE_STRING.lastIndex = end;
  }
  // What follows an echo that hands nothing to such a command is looked at again: its word may hold one that does
  // (`sh -c "echo pw | sudo -S x"`).
  PIPED_ECHO.lastIndex = 0;
  for (let m = PIPED_ECHO.exec(text); m !== null; m = PIPED_ECHO.exec(text)) {
    if (flagStartsAfter(m.index + m[0].length + m.groups!.pipe!.length)) mask(m);
    else PIPED_ECHO.lastIndex = m.index + 1;
  }
  return masks;
}
