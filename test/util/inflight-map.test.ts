import { expect, test } from 'bun:test';
import { InflightMap } from '../../src/util/inflight-map.ts';

test('behaves as a Map for get, has, set, delete and size, whatever order entries leave in', () => {
  const m = new InflightMap<number, string>();
  const ref = new Map<number, string>();
  // A fixed pseudo-random sequence of sets and deletes, checked against a Map after each step.
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 40;
  for (let i = 0; i < 2000; i++) {
    const k = next();
    if (i % 3 === 0) expect(m.delete(k)).toBe(ref.delete(k));
    else {
      m.set(k, `v${i}`);
      ref.set(k, `v${i}`);
    }
    expect(m.size).toBe(ref.size);
    expect(m.get(k)).toBe(ref.get(k));
    expect(m.has(k)).toBe(ref.has(k));
  }
  expect(new Map(m)).toEqual(ref);
  expect(m.values().sort()).toEqual([...ref.values()].sort());
  expect(m.keys().sort()).toEqual([...ref.keys()].sort());
  m.clear();
  expect(m.size).toBe(0);
});

test('iterating while deleting walks a snapshot: every entry once, none skipped', () => {
  const m = new InflightMap<number, number>();
  for (let i = 0; i < 10; i++) m.set(i, i * i);
  const seen: number[] = [];
  for (const [k] of m) {
    seen.push(k);
    m.delete(k);
  }
  expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(m.size).toBe(0);
});
