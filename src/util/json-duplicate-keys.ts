/**
 * Names given twice in one JSON object. JSON.parse keeps the last without a
 * word (RFC 8259 leaves the outcome to the parser), so in a settings file a
 * second `"auth": {…}` section replaces the first whole — and the
 * `"enabled": true` written there is gone. Settings files are refused with
 * each such name instead, as a flag given twice is; so is an MCP message
 * whose reader in front of this server (a gateway, a log) may have taken the
 * first where this server takes the last.
 */

/**
 * The index of the quote that closes the JSON string opening at `open` (the
 * next quote not escaped: after an even run of backslashes), or text.length
 * when none does (text that is not JSON). Found with the engine's own search,
 * each backslash looked at once: linear in the text.
 */
export function closingQuote(text: string, open: number): number {
  let at = open;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === 0x5c /* \ */) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

/** Whether the string between the quotes at `open` and `close` holds an escape (a look at its characters only). */
export function hasEscape(text: string, open: number, close: number): boolean {
  for (let k = open + 1; k < close; k++) if (text.charCodeAt(k) === 0x5c /* \ */) return true;
  return false;
}

/** One open object or array: the names seen so far (objects only), and the step to the value being read. */
interface Frame {
  names: Set<string> | null;
  expectName: boolean;
  step: string;
  index: number;
}

/**
 * Objects more than this many levels of objects and arrays deep are not
 * looked into: no settings file or tool argument comes near it, and a frame
 * per level would let a body of bare brackets cost a second.
 */
export const MAX_DEPTH = 64;

/**
 * The dotted paths of names that occur twice in the same object (`auth`,
 * `clients.2.readOnly`), each once, in order, down to 64 levels. `text` must
 * be valid JSON (parse it first): this only walks its structure, in one pass;
 * a path is built only for a name found twice.
 *
 * @param ignoreCase names that differ only in case count as one (`Auth` and
 * `auth`), for a reader that looks names up that way.
 * @param first stop at the first such name.
 *
 * Each name found twice costs the length of its path: with `first` the
 * whole walk stays linear in the text; without it a long name above many
 * repeated ones is spelt out again for each (settings files only: for a
 * message, countsDisagree below tells whether to look at all).
 */
export function duplicateKeys(text: string, { ignoreCase = false, first = false } = {}): string[] {
  const found = new Set<string>();
  const stack: Frame[] = [];
  let depth = 0; // open objects and arrays, counting those deeper than the stack keeps
  const pathTo = (name: string) => [...stack.slice(0, -1).map((f) => (f.names ? f.step : String(f.index))), name].join('.');
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const j = closingQuote(text, i);
      const top = depth === stack.length ? stack.at(-1) : undefined;
      if (top?.names && top.expectName) {
        const raw = text.slice(i, j + 1);
        const name = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        const seen = ignoreCase ? name.toLowerCase() : name;
        if (top.names.has(seen)) {
          found.add(pathTo(name));
          if (first) break;
        }
        top.names.add(seen);
        top.step = name;
        top.expectName = false;
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (depth++ === stack.length && stack.length < MAX_DEPTH) stack.push({ names: c === 0x7b ? new Set() : null, expectName: c === 0x7b, step: '', index: 0 });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      if (depth-- === stack.length) stack.pop();
    } else if (c === 0x2c /* , */ && depth === stack.length) {
      const top = stack.at(-1);
      if (top?.names) top.expectName = true;
      else if (top) top.index++;
    }
  }
  return [...found];
}

/**
 * Whether `text` gives some name twice in one object, told without naming
 * it, from `value` (its JSON.parse): the names the text spells in objects
 * down to MAX_DEPTH levels, counted, against the keys those objects came to
 * hold. JSON.parse keeps one key per name, so the counts differ exactly when
 * a name came twice. No name is cut out or kept (a walk that keeps them
 * cost three times the parse for half a million names). Also counts how
 * often the top object names `topName`, so the caller can tell whether that
 * one came twice.
 */
export function countsDisagree(text: string, value: unknown, topName: string): { disagree: boolean; topNameCount: number } {
  // Per open level (up to MAX_DEPTH): 1 object awaiting a name, 2 object awaiting a value, 3 array.
  const kinds = new Uint8Array(MAX_DEPTH);
  let depth = 0;
  let names = 0;
  let topNameCount = 0;
  const quotedTop = JSON.stringify(topName);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const j = closingQuote(text, i);
      if (depth >= 1 && depth <= MAX_DEPTH && kinds[depth - 1] === 1) {
        names++;
        kinds[depth - 1] = 2;
        if (depth === 1 && (hasEscape(text, i, j) ? j - i < 64 && JSON.parse(text.slice(i, j + 1)) === topName : j - i + 1 === quotedTop.length && text.startsWith(quotedTop, i))) topNameCount++;
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (depth < MAX_DEPTH) kinds[depth] = c === 0x7b ? 1 : 3;
      depth++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */ && depth >= 1 && depth <= MAX_DEPTH && kinds[depth - 1] === 2) {
      kinds[depth - 1] = 1;
    }
  }
  return { disagree: names !== keysHeld(value, 1), topNameCount };
}

/** Keys held by the objects in `value` down to MAX_DEPTH levels (the top at `depth`). */
function keysHeld(value: unknown, depth: number): number {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH || isRawJson(value)) return 0;
  if (Array.isArray(value)) {
    let n = 0;
    for (const item of value) n += keysHeld(item, depth + 1);
    return n;
  }
  const keys = Object.keys(value);
  let n = keys.length;
  for (const k of keys) n += keysHeld((value as Record<string, unknown>)[k], depth + 1);
  return n;
}

// An id kept as its source text (JSON.rawJSON) is a number in the text, not an object with a key.
const isRawJson = (v: unknown): boolean => (JSON as unknown as { isRawJSON(v: unknown): boolean }).isRawJSON(v);

/**
 * Whether `text` opens more than `levels` arrays and objects inside one
 * another ('deep'), or holds more than `values` values ('many': an array's
 * elements, an object's members, counted by the commas and brackets between
 * them), told by one pass that skips strings with the engine's own search
 * (no value is built); null when neither. JSON.parse takes any depth and
 * builds every value: a 4 MiB message of two million nested arrays took
 * 250–450 ms and hundreds of megabytes, one of two million numbers 0.75 s of
 * the event loop, one of 800 000 empty objects 1 s, before any limit could
 * count them. Text that is not valid JSON may be answered either way; its
 * parse says so.
 */
export function jsonShapeBeyond(text: string, levels: number, values: number): 'deep' | 'many' | null {
  let depth = 0;
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i = closingQuote(text, i);
    } else if (c === 0x2c /* , */) {
      if (++count > values) return 'many';
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > levels) return 'deep';
      if (++count > values) return 'many';
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return null;
}
