import { describe, expect, test } from 'bun:test';
import { OutputRing } from '../../src/exec/output-ring.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('OutputRing', () => {
  test('cursors are absolute: reads resume exactly where the last one ended', () => {
    const ring = new OutputRing(16);
    ring.append(enc('abc'));
    const first = ring.read(0, 100);
    expect([dec(first.bytes), first.next, first.dropped]).toEqual(['abc', 3, 0]);
    ring.append(enc('def'));
    const second = ring.read(first.next, 100);
    expect([dec(second.bytes), second.next]).toEqual(['def', 6]);
    expect(ring.read(second.next, 100).bytes.byteLength).toBe(0);
  });

  test('a full ring drops the oldest bytes and a reader behind them is told how many', () => {
    const ring = new OutputRing(8);
    for (let i = 0; i < 5; i++) ring.append(enc(`${i}${i}${i}`));
    expect(ring.total).toBe(15);
    expect(ring.held).toBe(8);
    const r = ring.read(0, 100);
    expect(dec(r.bytes)).toBe('22333444');
    expect(r.dropped).toBe(7);
    expect(r.next).toBe(15);
  });

  test('a chunk larger than the ring keeps its tail', () => {
    const ring = new OutputRing(4);
    ring.append(enc('abcdefgh'));
    expect(dec(ring.read(0, 10).bytes)).toBe('efgh');
    expect(ring.droppedTotal).toBe(4);
  });

  test('bytes lost upstream leave no gap: older bytes count as dropped too', () => {
    const ring = new OutputRing(16);
    ring.append(enc('old'));
    ring.append(enc('new'), 5);
    const r = ring.read(0, 100);
    expect(dec(r.bytes)).toBe('new');
    expect(r.dropped).toBe(8);
    expect(r.next).toBe(11);
  });

  test('maxBytes never splits a UTF-8 character when a whole one fits', () => {
    const ring = new OutputRing(64);
    ring.append(enc('aé€😀b'));
    const parts: string[] = [];
    let cursor = 0;
    for (let i = 0; i < 20 && cursor < ring.total; i++) {
      const r = ring.read(cursor, 4);
      parts.push(dec(r.bytes));
      cursor = r.next;
    }
    expect(parts.join('')).toBe('aé€😀b');
    expect(parts.every((p) => !p.includes('\uFFFD'))).toBe(true);
  });

  test('partialTail counts the start of a character still arriving, and nothing else', () => {
    const tail = (...bytes: number[]) => {
      const ring = new OutputRing(4);
      ring.append(enc('abcdef'));
      ring.append(new Uint8Array(bytes));
      return ring.partialTail;
    };
    expect(tail()).toBe(0);
    expect(tail(0x41)).toBe(0);
    expect(tail(0xe2)).toBe(1);
    expect(tail(0xe2, 0x82)).toBe(2);
    expect(tail(0xe2, 0x82, 0xac)).toBe(0);
    expect(tail(0xf0, 0x9f, 0x98)).toBe(3);
    // Not the start of a character: a stray continuation byte, a lead byte UTF-8 never uses.
    expect(tail(0x82)).toBe(0);
    expect(tail(0xc0)).toBe(0);
    expect(tail(0xff)).toBe(0);
    // Held back from a read that stops short of it, read whole once complete.
    const ring = new OutputRing(16);
    ring.append(new Uint8Array([0x41, 0xe2, 0x82]));
    const first = ring.read(0, 100, ring.total - ring.partialTail);
    expect([dec(first.bytes), first.next]).toEqual(['A', 1]);
    ring.append(new Uint8Array([0xac]));
    expect(dec(ring.read(first.next, 100, ring.total - ring.partialTail).bytes)).toBe('€');
  });

  test('an idle ring holds what arrived, and grows only as output arrives', () => {
    const ring = new OutputRing(1024 * 1024);
    ring.append(enc('x'));
    expect(ring.held).toBe(1);
    ring.append(new Uint8Array(100_000));
    expect(ring.held).toBe(100_001);
    expect(dec(ring.read(0, 1).bytes)).toBe('x');
  });
});
