/**
 * Shared limits on a real redis-server (loopback, random port): two
 * instances enforce one RPM window; a killed instance's slots come back
 * within the lease; Redis going away gives 503 and /ready 503 with `deny`,
 * open calls with `allow`, and recovery without restarting hide. Skipped
 * when redis-server is not installed.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import { RedisClient } from 'bun';
import { auditLines, exec, killMatching, pidsMatching, spawnServer, waitFor } from './helpers.ts';
import { hasRedis, type RunningRedis, startRedis as startRedisServer } from '../helpers/redis.ts';
import { RedisLimiter } from '../../src/security/redis-limiter.ts';

let port = 0;
let redis: RunningRedis | null = null;

/** The first start picks the port; a restart comes back on it, as a restarted Redis would. */
async function startRedis(): Promise<void> {
  redis = await startRedisServer(port === 0 ? undefined : port);
  port = redis.port;
}

async function stopRedis(): Promise<void> {
  await redis?.stop();
  redis = null;
}

describe.skipIf(!hasRedis)('Redis limit store', () => {
  beforeAll(startRedis);
  afterAll(stopRedis);
  beforeEach(async () => {
    if (!redis) await startRedis();
    const c = new RedisClient(`redis://127.0.0.1:${port}`);
    await c.send('FLUSHALL', []);
    c.close();
  });

  const env = (extra: Record<string, string> = {}) => ({
    HIDE_RATE_LIMIT_ENABLED: 'true',
    HIDE_RATE_LIMIT_STORE: 'redis',
    HIDE_REDIS_URL: `redis://127.0.0.1:${port}`,
    HIDE_RATE_LIMIT_RPM: '1000',
    HIDE_RATE_LIMIT_CONCURRENT: '100',
    ...extra,
  });

  test('two instances sharing Redis with RPM 10: of 30 calls spread over both, exactly 10 succeed', async () => {
    await using a = await spawnServer(env({ HIDE_RATE_LIMIT_RPM: '10' }));
    await using b = await spawnServer(env({ HIDE_RATE_LIMIT_RPM: '10' }));
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => exec(i % 2 ? a.url : b.url, 'echo', [String(i)])));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
    for (const r of results.filter((x) => x.status === 429)) expect(r.body.error.data.reason).toBe('rpm');
  }, 20_000);

  test("a killed instance's slots free within the lease time", async () => {
    const marker = '100.789';
    try {
      await using a = await spawnServer(env({ HIDE_RATE_LIMIT_CONCURRENT: '2', HIDE_RATE_LIMIT_LEASE_SECONDS: '2' }));
      await using b = await spawnServer(env({ HIDE_RATE_LIMIT_CONCURRENT: '2', HIDE_RATE_LIMIT_LEASE_SECONDS: '2' }));
      // These die with instance A: settle them now so the reset is not an unhandled rejection.
      const held = [exec(a.url, 'sleep', [marker]), exec(a.url, 'sleep', [marker])].map((p) => p.catch(() => null));
      await waitFor(() => pidsMatching(marker).length === 2, 5000, 'two calls holding slots');
      const refused = await exec(b.url, 'echo', ['x']);
      expect([refused.status, refused.body.error.data.reason]).toEqual([429, 'concurrency']);
      // Across several lease periods the running calls keep their slots (renewal).
      await Bun.sleep(2500);
      expect((await exec(b.url, 'echo', ['x'])).status).toBe(429);

      a.kill('SIGKILL'); // no release, no renewals: only the lease expiry can free the slots
      await a.exited;
      killMatching(marker); // the orphaned sleeps of the dead instance
      await Promise.allSettled(held);
      await waitFor(async () => (await exec(b.url, 'echo', ['x'])).status === 200, 2000 + 3000, 'a slot freed by lease expiry');
    } finally {
      killMatching(marker);
    }
  }, 30_000);

  test('Redis restarted (its data lost) while a call runs: the running call counts again, the client gets no second slot beside it', async () => {
    const marker = '100.4242';
    try {
      await using s = await spawnServer(env({ HIDE_RATE_LIMIT_CONCURRENT: '1', HIDE_RATE_LIMIT_LEASE_SECONDS: '3' }));
      const held = exec(s.url, 'sleep', [marker]).catch(() => null);
      await waitFor(() => pidsMatching(marker).length === 1, 5000, 'the call holding the one slot');
      const before = await exec(s.url, 'echo', ['x']);
      expect([before.status, before.body.error.data.reason]).toEqual([429, 'concurrency']);

      await stopRedis();
      await startRedis(); // empty: no persistence
      await waitFor(async () => (await fetch(`${s.url}/ready`)).status === 200, 5000, 'the instance ready again');
      const admin = new RedisClient(`redis://127.0.0.1:${port}`);
      try {
        // The renewal (every second here) is what tells the new Redis about the call that still runs.
        await waitFor(async () => (await admin.send('ZCARD', ['hide:rl:{loopback}:slots'])) === 1, 5000, "the running call's lease back in Redis");
      } finally {
        admin.close();
      }
      const after = await exec(s.url, 'echo', ['x']);
      expect([after.status, after.body.error?.data.reason]).toEqual([429, 'concurrency']);
      killMatching(marker);
      await held;
      await waitFor(async () => (await exec(s.url, 'echo', ['x'])).status === 200, 5000, 'the slot free once the call ended');
    } finally {
      killMatching(marker);
    }
  }, 30_000);

  // Redis loses the running call's lease; the call must count again at once, not at its next renewal (a lease of
  // 30 s renews every 10 s): on the new connection, and with the client's next acquire.
  const losses: [string, string, (url: string) => Promise<void>][] = [
    [
      'restarted (its data lost)',
      '100.4243',
      async (url) => {
        await stopRedis();
        await startRedis(); // empty: no persistence
        await waitFor(async () => (await fetch(`${url}/ready`)).status === 200, 5000, 'the instance ready again');
      },
    ],
    [
      'flushed (the connection kept)',
      '100.4244',
      async () => {
        const admin = new RedisClient(`redis://127.0.0.1:${port}`);
        try {
          await admin.send('FLUSHALL', []);
        } finally {
          admin.close();
        }
      },
    ],
  ];
  for (const [how, marker, lose] of losses) {
    test(`Redis ${how} while a call runs: the call counts again at the next acquire, not at a renewal later`, async () => {
      try {
        await using s = await spawnServer(env({ HIDE_RATE_LIMIT_CONCURRENT: '1', HIDE_RATE_LIMIT_LEASE_SECONDS: '30' }));
        const held = exec(s.url, 'sleep', [marker]).catch(() => null);
        await waitFor(() => pidsMatching(marker).length === 1, 5000, 'the call holding the one slot');
        await lose(s.url);
        const after = await exec(s.url, 'echo', ['x']);
        expect([after.status, after.body.error?.data.reason]).toEqual([429, 'concurrency']);
        killMatching(marker);
        await held;
      } finally {
        killMatching(marker);
      }
    }, 30_000);
  }

  test('a call released while an acquire that puts its lease back is on its way does not get its slot back', async () => {
    const log = { error() {}, info() {} };
    const limiter = new RedisLimiter({ enabled: true, rpm: 1000, concurrent: 2, leaseSeconds: 60, onStoreError: 'deny', url: `redis://127.0.0.1:${port}` }, log);
    const admin = new RedisClient(`redis://127.0.0.1:${port}`);
    try {
      await limiter.ready();
      await admin.connect();
      const a = await limiter.acquire('victim');
      if (!a.ok) throw new Error(`not admitted: ${a.reason}`);
      // Redis lost its scripts (a restart, a failover): the next acquire, which carries a's lease to put back, is sent
      // as EVALSHA, told NOSCRIPT, and sent again as EVAL. a's call ends in between.
      await admin.send('SCRIPT', ['FLUSH']);
      const pending = limiter.acquire('victim');
      await Bun.sleep(0);
      await a.release();
      const b = await pending;
      if (!b.ok) throw new Error(`not admitted: ${b.reason}`);
      await b.release();
      await waitFor(async () => (await admin.send('ZCARD', ['hide:rl:{victim}:slots'])) === 0, 5000, "a's lease withdrawn");
      const [c1, c2] = [await limiter.acquire('victim'), await limiter.acquire('victim')];
      expect([c1.ok, c2.ok]).toEqual([true, true]);
    } finally {
      admin.close();
      limiter.close();
    }
  });

  test('a Redis too busy to answer in time: 503, and the slot its late acquire takes is given back, not held for the lease', async () => {
    await using s = await spawnServer(env({ HIDE_RATE_LIMIT_CONCURRENT: '1', HIDE_RATE_LIMIT_LEASE_SECONDS: '600' }));
    expect((await exec(s.url, 'echo', ['before'])).status).toBe(200);
    const admin = new RedisClient(`redis://127.0.0.1:${port}`);
    try {
      await admin.connect();
      // Redis answers nobody for 5 s, in effect once this returns (a script sent on another connection could reach Redis
      // after the server's acquire): the acquire times out after 1 s, but stays in Redis's input and runs after the pause.
      // Long enough that the call, however late a loaded machine delivers it, is refused within the pause.
      expect(await admin.send('CLIENT', ['PAUSE', '5000', 'ALL'])).toBe('OK');
      const r = await exec(s.url, 'echo', ['while busy']);
      expect([r.status, r.body.error.code]).toEqual([503, -31503]);
      await waitFor(async () => (await admin.send('ZCARD', ['hide:rl:{loopback}:slots'])) === 0, 10_000, 'the late slot removed');
      expect((await exec(s.url, 'echo', ['after'])).status).toBe(200);
      // The refused call is not counted in the window either.
      expect(await admin.send('ZCARD', ['hide:rl:{loopback}:rpm'])).toBe(2);
    } finally {
      admin.close();
    }
  }, 30_000);

  test('a Redis away for longer than the lease: the late acquire is still given back once it answers, its window entry too', async () => {
    await using s = await spawnServer(env({ HIDE_RATE_LIMIT_CONCURRENT: '1', HIDE_RATE_LIMIT_LEASE_SECONDS: '2' }));
    expect((await exec(s.url, 'echo', ['before'])).status).toBe(200);
    const admin = new RedisClient(`redis://127.0.0.1:${port}`);
    const pid = redis!.pid;
    try {
      await admin.connect();
      // Stopped (a stalled host): what the server sends waits in the socket, and runs once Redis goes on, past the 2 s
      // lease; the late acquire then takes a lease, and a window entry, from then.
      process.kill(pid, 'SIGSTOP');
      const r = await exec(s.url, 'echo', ['while away']);
      expect([r.status, r.body.error.code]).toEqual([503, -31503]);
      await Bun.sleep(3000);
      process.kill(pid, 'SIGCONT');
      await waitFor(async () => (await admin.send('ZCARD', ['hide:rl:{loopback}:slots'])) === 0, 10_000, 'the late slot removed');
      // Its window entry, which would otherwise count for a minute, is gone as well.
      await waitFor(async () => (await admin.send('ZCARD', ['hide:rl:{loopback}:rpm'])) === 1, 10_000, "the late acquire's window entry removed");
      expect((await exec(s.url, 'echo', ['after'])).status).toBe(200);
    } finally {
      process.kill(pid, 'SIGCONT');
      admin.close();
    }
  }, 30_000);

  test('a release Redis cannot answer in time is sent again once it answers: the slot is not held for the lease', async () => {
    const log = { error() {}, info() {} };
    const limiter = new RedisLimiter({ enabled: true, rpm: 100, concurrent: 1, leaseSeconds: 600, onStoreError: 'deny', url: `redis://127.0.0.1:${port}` }, log);
    const admin = new RedisClient(`redis://127.0.0.1:${port}`);
    try {
      await limiter.ready();
      await admin.connect();
      const admitted = await limiter.acquire('client-a');
      if (!admitted.ok) throw new Error(`not admitted: ${admitted.reason}`);
      expect(await admin.send('ZCARD', ['hide:rl:{client-a}:slots'])).toBe(1);
      // The release reaches a Redis that answers nobody for 2 s: it times out after 1 s.
      expect(await admin.send('CLIENT', ['PAUSE', '2000', 'ALL'])).toBe('OK');
      await admitted.release();
      await waitFor(async () => (await admin.send('ZCARD', ['hide:rl:{client-a}:slots'])) === 0, 8000, 'the released slot removed');
      expect((await limiter.acquire('client-a')).ok).toBe(true);
    } finally {
      admin.close();
      limiter.close();
    }
  }, 30_000);

  test('Redis down: deny → 503 + /ready 503, allow → calls pass; recovery without restarting hide', async () => {
    await using deny = await spawnServer(env());
    await using allow = await spawnServer(env({ HIDE_RATE_LIMIT_ON_STORE_ERROR: 'allow' }));
    expect((await fetch(`${deny.url}/ready`)).status).toBe(200);
    expect((await exec(deny.url, 'echo', ['up'])).status).toBe(200);

    await stopRedis();
    await waitFor(async () => (await fetch(`${deny.url}/ready`)).status === 503, 5000, 'deny instance not ready');
    const ready = await (await fetch(`${deny.url}/ready`)).json();
    expect(ready).toEqual({ status: 'not_ready', phase: 'ready', reasons: ['rate-limit store unavailable'] });
    for (let i = 0; i < 5; i++) {
      const r = await exec(deny.url, 'echo', ['down']);
      expect([r.status, r.body.error.code, Number(r.headers.get('retry-after')) >= 1]).toEqual([503, -31503, true]);
    }
    expect((await fetch(`${allow.url}/ready`)).status).toBe(200);
    const open = await exec(allow.url, 'echo', ['open']);
    expect([open.status, open.body.result.structuredContent.stdout]).toEqual([200, 'open\n']);
    // One log line per outage, however many calls were refused.
    expect(deny.log().match(/rate-limit store .* unreachable/g)).toHaveLength(1);

    await startRedis();
    await waitFor(async () => (await fetch(`${deny.url}/ready`)).status === 200, 5000, 'deny instance ready again');
    expect((await exec(deny.url, 'echo', ['back'])).status).toBe(200);
    expect(deny.log()).toContain('reachable again');
    await waitFor(() => auditLines(deny.auditFile).some((l) => l.result?.reason === 'store_unavailable'), 3000, 'refusals audited');
  }, 30_000);
});

// A Redis Cluster takes a script only when all its keys hash to one slot, which the client's hash tag ensures: a
// client id starting with `}` emptied the tag, its two keys went to two slots, and every call of every client was
// refused as a store outage (a keys-file id or an OAuth `sub` is enough to do it).
describe.skipIf(!hasRedis)('Redis Cluster limit store', () => {
  let cluster: RunningRedis | null = null;
  beforeAll(async () => {
    cluster = await startRedisServer(undefined, undefined, { cluster: true });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test('every client id keeps both its keys in one slot and a budget of its own, braces and all', async () => {
    const log = { error() {}, info() {} };
    const limiter = new RedisLimiter({ enabled: true, rpm: 100, concurrent: 1, leaseSeconds: 60, onStoreError: 'deny', url: cluster!.url }, log);
    try {
      await limiter.ready();
      const ids = ['}ops', '}', '%7D', '{', '{}', '', 'a}b', 'a%7Db', 'loopback'];
      const held = [];
      for (const id of ids) {
        const first = await limiter.acquire(id);
        expect([id, first.ok]).toEqual([id, true]);
        held.push(first);
      }
      // Each holds its one slot: a second call of any of them is refused for concurrency, not as an outage.
      for (const id of ids) {
        const second = await limiter.acquire(id);
        expect([id, second.ok ? 'admitted' : second.reason]).toEqual([id, 'concurrency']);
      }
      for (const h of held) if (h.ok) await h.release();
      expect((await limiter.acquire('}ops')).ok).toBe(true);
    } finally {
      limiter.close();
    }
  }, 30_000);
});
