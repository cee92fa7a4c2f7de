import { describe, expect, test } from 'bun:test';
import { KeyedLock } from '../../src/util/keyed-lock.ts';

describe('KeyedLock', () => {
  test('one holder at a time per key, in the order asked; other keys run beside it; a failing holder releases', async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    let releaseFirst!: () => void;
    const first = lock.run('a', async () => {
      order.push('a1 in');
      await new Promise<void>((r) => (releaseFirst = r));
      order.push('a1 out');
      throw new Error('a1 failed');
    });
    const second = lock.run('a', async () => {
      order.push('a2');
      return 2;
    });
    const other = lock.run('b', async () => {
      order.push('b');
      return 'b';
    });
    expect(await other).toBe('b');
    expect(order).toEqual(['a1 in', 'b']);
    releaseFirst();
    await expect(first).rejects.toThrow('a1 failed');
    expect(await second).toBe(2);
    expect(order).toEqual(['a1 in', 'b', 'a1 out', 'a2']);
    // Nothing is kept for keys no one holds.
    expect((lock as unknown as { tails: Map<string, unknown> }).tails.size).toBe(0);
  });
});
