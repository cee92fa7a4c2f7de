/**
 * TakenBody: what is pushed comes out whole and in order, however the chunks
 * fall (a surrogate pair is never cut in two), and the caller learns exactly
 * once that the body was taken: after its last chunk, or when the reader gave
 * up on it.
 */
import { describe, expect, test } from 'bun:test';
import { TakenBody } from '../../src/http/taken-body.ts';

const CHUNK = 64 * 1024;

describe('TakenBody', () => {
  test.each([
    ['ASCII over several chunks', 'x'.repeat(3 * CHUNK + 17)],
    ['a surrogate pair across the first chunk boundary', `${'a'.repeat(CHUNK - 1)}😀${'b'.repeat(10)}`],
    ['surrogate pairs only', '😀'.repeat(CHUNK + 3)],
    ['an empty text', ''],
  ])('%s: read back as pushed, taken once', async (_what, text) => {
    let taken = 0;
    const body = new TakenBody(() => taken++);
    body.push(text);
    body.end();
    expect(await new Response(body.stream).text()).toBe(text);
    expect(taken).toBe(1);
    expect(body.unsentChars).toBe(0);
  });

  test('parts pushed while the reader waits are sent in order as they come; the body ends once ended and read', async () => {
    let taken = 0;
    const body = new TakenBody(() => taken++);
    const reader = body.stream.getReader();
    const decoder = new TextDecoder();
    const first = reader.read();
    body.push('one');
    expect(decoder.decode((await first).value)).toBe('one');
    body.push('two');
    body.push('three');
    expect(body.unsentChars).toBe(8);
    expect(decoder.decode((await reader.read()).value)).toBe('two');
    expect(decoder.decode((await reader.read()).value)).toBe('three');
    const last = reader.read();
    expect(taken).toBe(0);
    body.end();
    expect((await last).done).toBe(true);
    expect(taken).toBe(1);
    // Nothing is taken after the end.
    body.push('four');
    expect(body.unsentChars).toBe(0);
  });

  test('a reader that gives up lets the body go at once, with what it never read dropped', async () => {
    let taken = 0;
    const body = new TakenBody(() => taken++);
    body.push('x'.repeat(4 * CHUNK));
    const reader = body.stream.getReader();
    await reader.read();
    await reader.cancel();
    expect(taken).toBe(1);
    expect(body.unsentChars).toBe(0);
    body.end();
    expect(taken).toBe(1);
  });
});
