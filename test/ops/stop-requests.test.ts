/**
 * A stop signal delivered twice at once (by the terminal to the group and by
 * a wrapper to its child) is one request; one sent again later is a second.
 */
import { describe, expect, test } from 'bun:test';
import { ECHO_WINDOW_MS, StopRequests } from '../../src/ops/stop-requests.ts';

/** A StopRequests on a clock the test moves. */
function onClock() {
  let now = 1_000;
  const requests = new StopRequests(() => now);
  return { take: () => requests.take(), advance: (ms: number) => (now += ms) };
}

describe('StopRequests', () => {
  test('the first signal is the first request', () => {
    expect(onClock().take()).toBe('first');
  });

  test('one within the window after the first is the first again, however many come', () => {
    const c = onClock();
    c.take();
    expect(c.take()).toBe('echo');
    c.advance(ECHO_WINDOW_MS - 1);
    expect(c.take()).toBe('echo');
  });

  test('one at the end of the window or later is a second request, and so is every one after it', () => {
    const c = onClock();
    c.take();
    c.advance(ECHO_WINDOW_MS);
    expect(c.take()).toBe('again');
    c.advance(1);
    expect(c.take()).toBe('again');
  });

  test('the window counts from the first signal, not from the echoes', () => {
    const c = onClock();
    c.take();
    for (let i = 0; i < 4; i++) {
      c.advance(ECHO_WINDOW_MS / 4 - 1);
      expect(c.take()).toBe('echo');
    }
    c.advance(4);
    expect(c.take()).toBe('again');
  });
});
