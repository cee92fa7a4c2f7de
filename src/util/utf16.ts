/** UTF-16 facts for cutting text: a cut must not end between the two halves of a surrogate pair. */

/** Whether `code` is the first half of a surrogate pair (a character past U+FFFF). */
export const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;

/**
 * `end` moved back by one where a cut there would part a surrogate pair: a cut inside `text` (not at its end) right
 * after a high surrogate, and not back past `from`.
 */
export function pairSafeEnd(text: string, end: number, from = 0): number {
  return end > from && end < text.length && isHighSurrogate(text.charCodeAt(end - 1)) ? end - 1 : end;
}
