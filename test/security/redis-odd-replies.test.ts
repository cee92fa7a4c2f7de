/**
 * A store that speaks Redis's protocol but answers the limit script with
 * something the script never returns (a Redis-compatible store, a proxy, a
 * broken one): under `deny`, that is the store failing, never a call let
 * through. An array with an unknown code admitted the call; an answer that
 * was no array made the call end in a 500 with no audit line.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { TCPSocketListener } from 'bun';
import { RedisLimiter } from '../../src/security/redis-limiter.ts';

/** What the store answers the limit script with, by the client key it is asked about. */
const ODD: Record<string, string> = {
  empty: '*0\r\n',
  one: '*1\r\n:0\r\n',
  code3: '*2\r\n:3\r\n:0\r\n',
  text: '*2\r\n$3\r\nabc\r\n$1\r\n0\r\n',
  status: '+OK\r\n',
  nil: '_\r\n',
  integer: ':5\r\n',
};

let store: TCPSocketListener<{ buf: string }>;
beforeAll(() => {
  // The least of RESP: an array of bulk strings in, a fixed answer out.
  store = Bun.listen<{ buf: string }>({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(s) {
        s.data = { buf: '' };
      },
      data(s, chunk) {
        s.data.buf += chunk.toString('latin1');
        for (;;) {
          const args = takeCommand(s.data);
          if (args === null) return;
          const cmd = args[0]!.toUpperCase();
          if (cmd === 'HELLO') s.write('%3\r\n+server\r\n+redis\r\n+version\r\n+7.0.0\r\n+proto\r\n:3\r\n');
          else if (cmd === 'PING') s.write('+PONG\r\n');
          else if (cmd === 'EVALSHA' || cmd === 'EVAL') {
            const key = args[3] ?? '';
            const name = Object.keys(ODD).find((k) => key.includes(`{${k}}`));
            s.write(name === undefined ? '*2\r\n:0\r\n:0\r\n' : ODD[name]!);
          } else s.write('+OK\r\n');
        }
      },
    },
  });
});
afterAll(() => store.stop(true));

function takeCommand(state: { buf: string }): string[] | null {
  const lines = state.buf.split('\r\n');
  if (!lines[0]?.startsWith('*')) return null;
  const n = Number(lines[0].slice(1));
  if (lines.length < 1 + 2 * n + 1) return null;
  const args = Array.from({ length: n }, (_, i) => lines[2 + 2 * i]!);
  state.buf = lines.slice(1 + 2 * n).join('\r\n');
  return args;
}

test.each(Object.keys(ODD))('an answer of %s to the limit script refuses the call as the store failing', async (name) => {
  const limiter = new RedisLimiter({ enabled: true, rpm: 100, concurrent: 3, leaseSeconds: 60, onStoreError: 'deny', url: `redis://127.0.0.1:${store.port}` }, { error() {}, info() {} });
  try {
    await limiter.ready();
    const r = await limiter.acquire(name);
    expect(r.ok ? 'admitted' : r.reason).toBe('store_unavailable');
  } finally {
    limiter.close();
  }
});

test('the script\'s own answer still admits', async () => {
  const limiter = new RedisLimiter({ enabled: true, rpm: 100, concurrent: 3, leaseSeconds: 60, onStoreError: 'deny', url: `redis://127.0.0.1:${store.port}` }, { error() {}, info() {} });
  try {
    await limiter.ready();
    const r = await limiter.acquire('plain');
    expect(r.ok).toBe(true);
    if (r.ok) await r.release();
  } finally {
    limiter.close();
  }
});
