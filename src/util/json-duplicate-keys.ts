/**
 * Names given twice in one JSON object. JSON.parse keeps the last without a
 * word (RFC 8259 leaves the outcome to the parser), so in a settings file a
 * second `"auth": {…}` section replaces the first whole — and the
 * `"enabled": true` written there is gone. Settings files are refused with
 * each such name instead, as a flag given twice is; so is an MCP message
 * whose reader in front of this server (a gateway, a log) may have taken the
 * first where this server takes the last.
 */

/** One open object or array: the names seen so far (objects only), and the step to the value being read. */
interface Frame {
  names: Set<string> | null;
  expectName: boolean;
  step: string;
  index: number;
}

/**
 * Objects nested deeper than this are not looked into: no settings file or
 * tool argument comes near it, and a frame per level would let a body of
 * bare brackets cost a second.
 */
const MAX_DEPTH = 64;

/**
 * The dotted paths of names that occur twice in the same object (`auth`,
 * `clients.2.readOnly`), each once, in order, down to 64 levels. `text` must
 * be valid JSON (parse it first): this only walks its structure, in one pass;
 * a path is built only for a name found twice.
 *
 * @param ignoreCase names that differ only in case count as one (`Auth` and
 * `auth`), for a reader that looks names up that way.
 * @param first stop at the first such name.
 * @param maxDepth look into objects this many levels deep at most (1: the
 * top object's own names).
 *
 * Each name found twice costs the length of its path: with `first`, or with
 * a small `maxDepth`, the whole walk stays linear in the text; without them
 * a long name above many repeated ones is spelt out again for each.
 */
export function duplicateKeys(text: string, { ignoreCase = false, first = false, maxDepth = MAX_DEPTH } = {}): string[] {
  const found = new Set<string>();
  const stack: Frame[] = [];
  let depth = 0; // open objects and arrays, counting those deeper than the stack keeps
  const pathTo = (name: string) => [...stack.slice(0, -1).map((f) => (f.names ? f.step : String(f.index))), name].join('.');
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      for (let d = text.charCodeAt(j); d !== 0x22 /* " */; d = text.charCodeAt(j)) j += d === 0x5c /* \ */ ? 2 : 1;
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
      if (depth++ === stack.length && stack.length < Math.min(maxDepth, MAX_DEPTH)) stack.push({ names: c === 0x7b ? new Set() : null, expectName: c === 0x7b, step: '', index: 0 });
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
