/**
 * The length of `JSON.stringify(value)` for a value JSON.parse made, found
 * without recursion. JSON.stringify recurses: an array nested 50 000 deep (a
 * 100 kB request) overflows its stack, and reaching the overflow held the
 * event loop for ~3 s. Here the walk keeps its own stack, so any depth the
 * parser accepted costs time linear in the value's size.
 */
export function jsonLength(value: unknown): number {
  let length = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || v === undefined) length += 4;
    else if (typeof v === 'string') length += JSON.stringify(v).length;
    else if (typeof v !== 'object') length += String(JSON.stringify(v) ?? 'null').length;
    else if (Array.isArray(v)) {
      // Brackets plus a comma between items.
      length += 2 + Math.max(0, v.length - 1);
      for (let i = v.length - 1; i >= 0; i--) stack.push(v[i] === undefined ? null : v[i]);
    } else {
      const keys = Object.keys(v);
      // Braces, a comma between members, a colon in each.
      length += 2 + Math.max(0, keys.length - 1) + keys.length;
      for (const key of keys) {
        length += JSON.stringify(key).length;
        stack.push((v as Record<string, unknown>)[key]);
      }
    }
  }
  return length;
}
