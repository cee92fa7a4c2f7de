/** The non-recursive JSON measures agree with JSON.stringify where it can answer, and answer where it cannot. */
import { describe, expect, test } from 'bun:test';
import { jsonLength, nestingDepth } from '../../src/util/json-measure.ts';

const SAMPLES: unknown[] = [
  'x',
  '',
  1,
  -1.5e-7,
  1e300,
  true,
  null,
  [],
  {},
  [1, [2, [3]], {}],
  { a: 1, '"q"': [null, 'é\u0000\ud800'], b: { c: {} } },
  JSON.parse('{"__proto__":{"a":1},"constructor":[1e400]}'),
];

describe('jsonLength', () => {
  test.each(SAMPLES.map((s) => [JSON.stringify(s), s]))('%s', (_, sample) => {
    expect(jsonLength(sample)).toBe(JSON.stringify(sample).length);
  });

  test('an array nested 50 000 deep, past JSON.stringify', () => {
    const deep = JSON.parse('['.repeat(50_000) + ']'.repeat(50_000));
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(jsonLength(deep)).toBe(100_000);
  });
});

describe('nestingDepth', () => {
  test.each([
    [1, 0],
    [[], 1],
    [{ a: [1, { b: [] }] }, 4],
    [[[], [[[]]], {}], 4],
  ])('%j → %d', (value, depth) => {
    expect(nestingDepth(value, 100)).toBe(depth);
  });

  test('stops counting at stopAt', () => {
    const deep = JSON.parse('['.repeat(50_000) + ']'.repeat(50_000));
    expect(nestingDepth(deep, 1001)).toBe(1001);
    expect(nestingDepth(JSON.parse('['.repeat(1000) + ']'.repeat(1000)), 1001)).toBe(1000);
  });
});
