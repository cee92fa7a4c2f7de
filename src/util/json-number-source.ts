/**
 * The source text of two members a JSON-RPC message may hold: the top
 * object's `id` and `params.requestId`. JSON.parse rounds an integer beyond
 * ±(2^53−1), and echoing it rounded would name another request; a reviver
 * with source access reads it exactly but calls back into JavaScript for
 * every value of the message, ten to twenty times the parse, on the loop
 * every client shares. This is one pass over the characters, with no
 * recursion (so no nesting is too deep for it) and nothing kept but the two
 * answers.
 */

import { closingQuote, hasEscape } from './json-duplicate-keys.ts';

/** What the top object (`id`) and its `params` object (`requestId`) hold as number or string literals, or null. */
export interface IdSources {
  id: string | null;
  requestId: string | null;
}

const QUOTE = 0x22;

/** The longest a name we look for (`requestId`, 9 characters) can be written, every character escaped. */
const MAX_NAME_TEXT = 9 * 6;

/** A quoted name with escapes as JSON reads it; '' for one that is not JSON (text refused before its parse). */
function unescapedName(quoted: string): string {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return '';
  }
}

/** Whether `c` can continue a JSON number literal (digits, sign, point, exponent). */
const inNumber = (c: number): boolean => (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;

/**
 * The literal text of the last `id` of the top object and of the last
 * `requestId` of its last `params` object — the members JSON.parse keeps —
 * when that member's value is a number or a string (with its quotes); null
 * otherwise. A message nested too deeply to parse can still have its id
 * echoed this way. `text` must be valid JSON whose top value is an object
 * for the answer to be right: this walks its structure and does not check it
 * (on other text it ends, with some answer).
 *
 * @example
 * idSources('{"id":9007199254740993,"params":{"requestId":1}}') // { id: '9007199254740993', requestId: '1' }
 */
export function idSources(text: string): IdSources {
  let id: string | null = null;
  let requestId: string | null = null;
  let depth = 0;
  // The member whose value is being read, in the top object and in the object one level down.
  let topName = '';
  let innerName = '';
  let awaitingTopName = false;
  let awaitingInnerName = false;
  let innerIsObject = false;
  // The object one level down is the value of the top object's "params".
  let inParams = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // text.length for a string that does not close: text refused before its parse may not be JSON.
      const j = closingQuote(text, i);
      if (depth === 1 && !awaitingTopName && topName === 'id') id = text.slice(i, j + 1);
      else if (depth === 2 && inParams && !awaitingInnerName && innerName === 'requestId') requestId = text.slice(i, j + 1);
      else if ((depth === 1 && awaitingTopName) || (depth === 2 && awaitingInnerName)) {
        // A name only matters when it could be one of ours: none has more than 9 characters, each at most 6 written
        // (`\u0069`); a longer one is passed over, escaped or not, and only an escaped one that short is decoded.
        const name = j - i - 1 > MAX_NAME_TEXT ? '' : hasEscape(text, i, j) ? unescapedName(text.slice(i, j + 1)) : text.slice(i + 1, j);
        if (depth === 1) {
          topName = name;
          awaitingTopName = false;
          // A later member of the same name replaces the earlier, as in JSON.parse.
          if (name === 'id') id = null;
          if (name === 'params') {
            inParams = false;
            requestId = null;
          }
        } else {
          innerName = name;
          awaitingInnerName = false;
          if (inParams && name === 'requestId') requestId = null;
        }
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth === 1) awaitingTopName = c === 0x7b;
      else if (depth === 2) {
        innerIsObject = c === 0x7b;
        inParams = innerIsObject && topName === 'params';
        awaitingInnerName = innerIsObject;
        innerName = '';
      }
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */) {
      if (depth === 1) awaitingTopName = true;
      else if (depth === 2) awaitingInnerName = innerIsObject;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < text.length && inNumber(text.charCodeAt(j))) j++;
      if (depth === 1 && topName === 'id') id = text.slice(i, j);
      else if (depth === 2 && inParams && innerName === 'requestId') requestId = text.slice(i, j);
      i = j - 1;
    }
  }
  return { id, requestId };
}
