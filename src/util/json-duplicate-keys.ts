/**
 * Names given twice in one JSON object. JSON.parse keeps the last without a
 * word (RFC 8259 leaves the outcome to the parser), so in a settings file a
 * second `"auth": {…}` section replaces the first whole — and the
 * `"enabled": true` written there is gone. Settings files are refused with
 * each such name instead, as a flag given twice is.
 */

/**
 * The dotted paths of names that occur twice in the same object (`auth`,
 * `clients.2.readOnly`), each once, in order. `text` must be valid JSON
 * (parse it first): this only walks its structure.
 *
 * @param ignoreCase names that differ only in case count as one (`Auth` and
 * `auth`), for a reader that looks names up that way.
 */
export function duplicateKeys(text: string, { ignoreCase = false } = {}): string[] {
  const found = new Set<string>();
  // One frame per open object or array: where it is, and for an object the names seen and whether a name comes next.
  const stack: Array<{ path: string; names: Set<string> | null; expectName: boolean; last: string; index: number }> = [];
  const childPath = () => {
    const top = stack.at(-1);
    if (!top) return '';
    const step = top.names ? top.last : String(top.index);
    return top.path ? `${top.path}.${step}` : step;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack.at(-1);
      if (top?.names && top.expectName) {
        const name = JSON.parse(text.slice(i, j + 1)) as string;
        const seen = ignoreCase ? name.toLowerCase() : name;
        if (top.names.has(seen)) found.add(top.path ? `${top.path}.${name}` : name);
        top.names.add(seen);
        top.last = name;
        top.expectName = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      stack.push({ path: childPath(), names: c === '{' ? new Set() : null, expectName: c === '{', last: '', index: 0 });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      const top = stack.at(-1);
      if (top?.names) top.expectName = true;
      else if (top) top.index++;
    }
  }
  return [...found];
}
