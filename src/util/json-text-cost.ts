/**
 * What text costs written as a JSON string: a control character is `\u0001`
 * (six characters), a line break, tab, quote or backslash escaped (two),
 * anything else one (DEL too: JSON leaves it as it is). Tools that return text bound
 * their answers by this cost, not by the text's length: 1 MiB of control
 * bytes is 6 MiB of JSON, carried twice in an answer (the content and the
 * text that repeats it), and held the event loop a third of a second.
 */
import { pairSafeEnd } from './utf16.ts';

/** JSON characters per byte, or per UTF-16 code unit below 128 (above, one). */
const COST = Uint8Array.from({ length: 256 }, (_, b) => ([0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x22, 0x5c].includes(b) ? 2 : b < 0x20 ? 6 : 1));

/** How many of `bytes` fit in `budget` characters of JSON text. */
export function bytesWithinJsonBudget(bytes: Uint8Array, budget: number): number {
  let cost = 0;
  for (let i = 0; i < bytes.byteLength; i++) {
    cost += COST[bytes[i]!]!;
    if (cost > budget) return i;
  }
  return bytes.byteLength;
}

/**
 * Where `text`, read from `from`, stops fitting in `budget` characters of JSON text: the end of the first code unit
 * that does not fit (or `to` when all of `text` up to it does), and what the part that fits costs.
 */
export function charsWithinJsonBudget(text: string, from: number, to: number, budget: number): { end: number; cost: number } {
  let cost = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    const add = c < 128 ? COST[c]! : 1;
    if (cost + add > budget) return { end: i, cost };
    cost += add;
  }
  return { end: to, cost };
}

/** `text` cut where it passes `budget` characters of JSON text (never between the halves of a surrogate pair), and whether it was. */
export function textWithinJsonBudget(text: string, budget: number): { text: string; cut: boolean } {
  const { end } = charsWithinJsonBudget(text, 0, text.length, budget);
  if (end === text.length) return { text, cut: false };
  return { text: text.slice(0, pairSafeEnd(text, end)), cut: true };
}

/** What `text` costs as a JSON string, its quotes left out. */
export function jsonTextCost(text: string): number {
  return charsWithinJsonBudget(text, 0, text.length, Number.POSITIVE_INFINITY).cost;
}
