/**
 * The introspection questions kept for clients already signed in: a token
 * the endpoint called active, whose answer has aged out, is asked about
 * again even while made-up tokens from many addresses hold every question
 * they may (48 of 64). The endpoint is a real HTTP server on loopback that
 * holds answers until released; the clock is moved past the answer's minute.
 */
import { afterAll, expect, setSystemTime, test } from 'bun:test';
import { Introspector, MAX_OPEN_PER_ADDRESS, MAX_OPEN_QUESTIONS, OPEN_FOR_RECHECKS } from '../../../src/security/oauth/introspection.ts';

let hold = false;
let release: () => void = () => {};
let released = Promise.resolve();
let asked = 0;
const endpoint = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  async fetch(req) {
    asked++;
    const token = new URLSearchParams(await req.text()).get('token');
    if (hold) await released;
    return Response.json(token === 'real-token' ? { active: true, sub: 'user' } : { active: false });
  },
});
afterAll(() => {
  release();
  setSystemTime();
  endpoint.stop(true);
});

test('a token answered active before is asked about again while new tokens hold every question they may', async () => {
  const introspector = new Introspector({ url: `http://127.0.0.1:${endpoint.port}/`, clientId: 'hide', clientSecret: 'secret' });
  expect(await introspector.introspect('real-token', '192.0.2.1')).toMatchObject({ active: true });
  hold = true;
  released = new Promise((r) => {
    release = r;
  });
  const newTokens = MAX_OPEN_QUESTIONS - OPEN_FOR_RECHECKS;
  const flood = Array.from({ length: newTokens }, (_, i) => introspector.introspect(`made-up-${i}`, `198.51.100.${Math.floor(i / MAX_OPEN_PER_ADDRESS)}`));
  const more = await introspector.introspect('made-up-more', '203.0.113.1');
  expect(more).toMatchObject({ active: false, unanswered: true, reason: expect.stringContaining('questions about new tokens open') });
  // The active answer ages out (a minute at most): its token is checked again, and gets a question.
  setSystemTime(new Date(Date.now() + 61_000));
  const before = asked;
  const recheck = introspector.introspect('real-token', '203.0.113.1');
  while (asked === before) await Bun.sleep(5);
  release();
  expect(await recheck).toMatchObject({ active: true });
  expect((await Promise.all(flood)).every((r) => !r.active)).toBe(true);
});
