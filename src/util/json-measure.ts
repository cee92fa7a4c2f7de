/**
 * Measures of a value JSON.parse made, found without recursion.
 * JSON.parse takes any depth, JSON.stringify recurses: an array nested
 * 50 000 deep (100 kB of text) overflows its stack, and reaching the overflow
 * held the event loop for seconds. These walks keep their own stack, so any
 * depth costs time linear in the value's size.
 */

/** The length of `JSON.stringify(value)`. */
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

/** How deep arrays and objects nest in `value` (a scalar is 0), counted no further than `stopAt`. */
export function nestingDepth(value: unknown, stopAt: number): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    const inner = depth + 1;
    if (inner > deepest) deepest = inner;
    if (deepest >= stopAt) return stopAt;
    for (const item of Array.isArray(v) ? v : Object.values(v)) if (item !== null && typeof item === 'object') stack.push([item, inner]);
  }
  return deepest;
}

/** At most `limit + 1`: counts values in `input` without recursion (nesting can be 10 000 deep). */
export function countValues(input: unknown, limit: number): number {
  let count = 0;
  const stack: unknown[] = [input];
  while (stack.length > 0 && count <= limit) {
    const value = stack.pop();
    count++;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length && stack.length <= limit; i++) stack.push(value[i]);
    } else if (value !== null && typeof value === 'object') {
      for (const key in value) {
        if (stack.length > limit) break;
        stack.push((value as Record<string, unknown>)[key]);
      }
    }
  }
  return Math.min(count + stack.length, limit + 1);
}
