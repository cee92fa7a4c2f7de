/**
 * The built-in engine's regex budget is charged the time the regular
 * expression ran in its worker, not the round trips: a search of 300,000
 * small files spent its 10 s in messages and blamed the pattern ("nested
 * quantifiers … backtrack exponentially"). Here the event loop is held a few
 * milliseconds after each request, so every round trip takes at least that
 * long while the regex runs for microseconds.
 */
import { expect, test } from 'bun:test';
import { RegexSession } from '../../src/tools/files/search-regex-workers.ts';

test('a budget smaller than the round trips, larger than the regex runs, is not spent', async () => {
  const session = new RegexSession(/needle/, 1000, new AbortController().signal);
  try {
    const kinds = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const answer = session.match('a haystack with a needle\n', 10);
      const held = performance.now() + 15;
      while (performance.now() < held) {
        // The answer waits in the queue meanwhile.
      }
      kinds.add((await answer).kind);
    }
    expect([...kinds]).toEqual(['done']);
  } finally {
    session.close();
  }
});

test('a regex stuck in one line is still cut off when the budget runs out', async () => {
  const session = new RegexSession(/(a+)+$/, 200, new AbortController().signal);
  try {
    expect((await session.match(`${'a'.repeat(40)}!\n`, 10)).kind).toBe('deadline');
  } finally {
    session.close();
  }
});
