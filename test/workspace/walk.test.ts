/** Name order of walks: UTF-8 byte order, as ripgrep's `--sort path`, whichever sort produced it. */
import { describe, expect, test } from 'bun:test';
import { compareNames, sortNames } from '../../src/workspace/walk.ts';

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
// ASCII, Latin, CJK, the private-use start, U+FFFD and U+FFFF, and characters past U+FFFF (surrogate pairs in UTF-16).
const POOL = ['a', 'B', '.', '~', ' ', '0', '\u00e9', '\u4e2d', '\ue000', '\ufffd', '\uffff', '\u{1f600}', '\u{10000}', '\u{10ffff}'];

describe('name order', () => {
  test('compareNames agrees with the byte comparison on every pair of short names from a mixed pool', () => {
    const names = POOL.flatMap((x) => POOL.map((y) => x + y));
    const disagreements = names.flatMap((a) => names.filter((b) => Math.sign(compareNames(a, b)) !== Math.sign(byBytes(a, b))).map((b) => [a, b]));
    expect(disagreements).toEqual([]);
  });

  test('sortNames gives byte order with and without characters from U+D800 up', () => {
    const mixed = POOL.flatMap((x) => POOL.map((y) => y + x)).reverse();
    expect(sortNames([...mixed])).toEqual([...mixed].sort(byBytes));
    const ascii = ['b', 'a.ts', 'A', '_x', 'a', 'a-b', '.hidden'];
    expect(sortNames([...ascii])).toEqual([...ascii].sort(byBytes));
  });
});
