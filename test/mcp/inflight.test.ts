import { expect, test } from 'bun:test';
import { InflightCalls } from '../../src/mcp/inflight.ts';

test('a cancellation reaches every call of its owner with that id, and no other', () => {
  const calls = new InflightCalls<string>();
  const aborted: string[] = [];
  const untrackA1 = calls.add('alice', '1', 'tool', () => aborted.push('alice#1 first'));
  calls.add('alice', '1', 'tool', () => aborted.push('alice#1 second'));
  calls.add('alice', '"1"', 'tool', () => aborted.push('alice#"1"'));
  calls.add('bob', '1', 'tool', () => aborted.push('bob#1'));
  calls.abort('alice', '1', () => true);
  expect(aborted).toEqual(['alice#1 first', 'alice#1 second']);
  untrackA1();
  aborted.length = 0;
  calls.abort('alice', '1', () => true);
  expect(aborted).toEqual(['alice#1 second']);
});

test('ended calls leave nothing behind, whatever order they end in; removing twice is harmless', () => {
  const calls = new InflightCalls<string>();
  const untrack = Array.from({ length: 50 }, (_, i) => calls.add(`c${i % 5}`, String(i), 'tool', () => {}));
  for (const i of [7, 0, 49, 13, 13, 25]) untrack[i]!();
  expect(calls.size).toBe(45);
  expect(calls.has('c2', '7')).toBe(false);
  expect(calls.has('c3', '8')).toBe(true);
  for (const u of untrack) u();
  expect(calls.size).toBe(0);
  expect(calls.has('c3', '8')).toBe(false);
});

test('an abort that ends its own call while the list is walked still reaches the rest', () => {
  const calls = new InflightCalls<string>();
  const seen: number[] = [];
  const untrack: (() => void)[] = [];
  for (let i = 0; i < 3; i++) untrack.push(calls.add('a', 'x', 'tool', () => (seen.push(i), untrack[i]!())));
  calls.abort('a', 'x', () => true);
  expect(seen.sort()).toEqual([0, 1, 2]);
  expect(calls.size).toBe(0);
});

test('a cancellation reaches only the calls its judge allows', () => {
  const calls = new InflightCalls<string>();
  const aborted: string[] = [];
  calls.add('alice', '1', 'shell_execute', () => aborted.push('shell'));
  calls.add('alice', '1', 'read_file', () => aborted.push('read'));
  calls.abort('alice', '1', (tool) => tool === 'read_file');
  expect(aborted).toEqual(['read']);
});
