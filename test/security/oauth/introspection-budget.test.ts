/**
 * The introspection budget per address against a stand-in endpoint: a token
 * answered active before is checked again without the address's budget, once
 * per answer, so a failing endpoint cannot turn one real token into questions
 * outside the budget.
 */
import { afterAll, expect, test } from 'bun:test';
import { Introspector } from '../../../src/security/oauth/introspection.ts';
import { clearOfMinuteEnd, waitFor } from '../../helpers/wait.ts';

let failing = false;
let realExp = 0;
const asked: string[] = [];
const endpoint = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  fetch: async (req) => {
    const token = new URLSearchParams(await req.text()).get('token') ?? '';
    asked.push(token);
    if (failing) return new Response('down', { status: 500 });
    return Response.json(token === 'real-token' ? { active: true, sub: 'u', exp: realExp } : { active: false });
  },
});
afterAll(() => endpoint.stop(true));

test('an aged-out active answer buys one check outside the budget; a check that brings no answer leaves the next to the budget', async () => {
  await clearOfMinuteEnd();
  const introspector = new Introspector({ url: `http://127.0.0.1:${endpoint.port}/introspect`, clientId: 'hide', clientSecret: 's', perAddressPerMinute: 1 });
  realExp = Math.floor(Date.now() / 1000) + 2;
  // From another address: 10.0.0.1's budget stays whole for the made-up token below.
  expect((await introspector.introspect('real-token', '10.0.0.2')).active).toBe(true);
  await waitFor(() => Date.now() > realExp * 1000, 10_000, 'the answer to age out');
  expect(await introspector.introspect('made-up-token', '10.0.0.1')).toEqual({ active: false, reason: 'token is not active' });
  failing = true;
  // Budget spent: the real token is still asked about once, and the endpoint fails.
  expect(await introspector.introspect('real-token', '10.0.0.1')).toMatchObject({ active: false, unanswered: true });
  const refused = await introspector.introspect('real-token', '10.0.0.1');
  expect(!refused.active && refused.retryAfterSeconds! > 0).toBe(true);
  expect(asked).toEqual(['real-token', 'made-up-token', 'real-token']);
}, 30_000);
