/** How the matches of several passes over one string are put into it: each its own span, overlapping ones masked as one. */

export const REDACTED = '[REDACTED]';
/**
 * Shell syntax that runs a command, ends one or sends its output somewhere: a mask that removed any of it says so
 * (noted), since a command may have hidden there. Whether one did cannot be told from the text: the redactor's idea
 * of where a quoted value starts and ends is not the shell's (a `"` inside single quotes, a quote inside a
 * substitution), a program may hand a string to a shell, and generated passwords hold these characters too.
 */
const SHELL_SYNTAX = /[`;|&<>\n\r]|\$[({]/;
const NOTE = ': held shell syntax';
export const REDACTED_SHELL = `[REDACTED${NOTE}]`;
/** A key block's mask, which says itself whether the block held more than a key (see the key rule). */
export const REDACTED_KEY = '[REDACTED PRIVATE KEY]';

/**
 * `mask` as it stands for `removed`: said to have held shell syntax when it did. The mask may have lost its ends to
 * text it shares with what it replaced (a value ending in `]`), so the note goes in wherever the token now ends.
 */
export function noted(mask: string, removed: string): string {
  if (mask.startsWith(REDACTED_KEY.slice(0, -1)) || !SHELL_SYNTAX.test(removed)) return mask;
  if (mask.endsWith(']')) return `${mask.slice(0, -1)}${NOTE}]`;
  if (mask.startsWith('[')) return `${mask}${NOTE}`;
  return `${mask}${REDACTED_SHELL}`;
}

/** A span of a string and what it becomes once masked (the same text when nothing in it is secret). */
export interface Masked {
  index: number;
  seen: string;
  masked: string;
  /** Which rule found it: where two start at one place, the lower rank is taken first, as in one regex of them all. */
  rank: number;
}

/**
 * `text` with every mask put in. Masks are found by several passes over the
 * text (or over a copy of the same length with its continuations joined), and
 * spans of different passes may overlap: each mask's secret is the part of
 * its span it changes (what it keeps of the span, a flag or a quote, is left
 * as written), and secrets that overlap are masked as one. Nothing any pass
 * found is shown, whichever pass found it.
 */
export function masked(text: string, masks: Masked[]): string {
  const secrets: { from: number; to: number; with: string }[] = [];
  // A match inside another's span, or starting where a rule of lower rank matched, is dropped, as one regex of them
  // all would never have tried it: that one decided what of its span is secret (`Authorization: Token x` keeps
  // `Token`, which `authorization: value` would mask; `Authorization: Bearer t| tee` keeps the pipe).
  masks.sort((x, y) => x.index - y.index || x.rank - y.rank);
  let covered = 0;
  let lastStart = -1;
  for (const { index, seen, masked: m } of masks) {
    const end = index + seen.length;
    if (end <= covered || index === lastStart) continue;
    covered = Math.max(covered, end);
    lastStart = index;
    if (m === seen) continue;
    let head = 0;
    while (head < m.length && head < seen.length && m[head] === seen[head]) head++;
    let tail = 0;
    while (tail < m.length - head && tail < seen.length - head && m[m.length - 1 - tail] === seen[seen.length - 1 - tail]) tail++;
    secrets.push({ from: index + head, to: end - tail, with: m.slice(head, m.length - tail) });
  }
  if (secrets.length === 0) return text;
  secrets.sort((x, y) => x.from - y.from || y.to - x.to);
  let out = '';
  let at = 0;
  for (let i = 0; i < secrets.length; ) {
    let { from, to, with: w } = secrets[i++]!;
    for (; i < secrets.length && secrets[i]!.from < to; i++) {
      if (secrets[i]!.to > to) w = REDACTED;
      to = Math.max(to, secrets[i]!.to);
    }
    out += text.slice(at, from) + noted(w, text.slice(from, to));
    at = to;
  }
  return out + text.slice(at);
}
