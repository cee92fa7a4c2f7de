/**
 * Per-client limits shared by every replica through one Redis, with Bun's
 * built-in client and server-side Lua so each decision is atomic:
 *
 * - RPM: a sliding 60 s window, a sorted set of admission times (Redis's own
 *   clock, so replicas with skewed clocks agree) with unique members.
 * - Concurrency: slots as leases, a sorted set of lease id → expiry. Expired
 *   leases are dropped on every acquire, so a crashed replica's slots come
 *   back after at most one lease period; a running call renews its lease
 *   every third of the period, and puts it back when Redis lost it (a
 *   restart without persistence), so it keeps counting.
 *
 * One script checks both and changes both, so a refused call consumes
 * neither. When Redis cannot be reached the limiter answers by policy —
 * `deny` (store_unavailable → 503) or `allow` (fail open) — logs once per
 * outage, and keeps trying to reconnect in the background.
 */
import { RedisClient } from 'bun';
import type { AcquireResult, LimitSettings, Limiter } from './limiter.ts';
import { maskedUrlUserinfo } from '../config/load.ts';

export interface RedisLimiterSettings extends LimitSettings {
  url: string;
  /** Lease length: how long a slot outlives a replica that stopped renewing it. */
  leaseSeconds: number;
  onStoreError: 'deny' | 'allow';
  /** Key prefix, so several deployments can share a Redis. */
  prefix?: string;
}

export interface StoreLog {
  error(msg: string): void;
  info(msg: string): void;
}

const WINDOW_MS = 60_000;
/** A command slower than this counts as the store being down (a hung Redis must not hang calls). */
const OP_TIMEOUT_MS = 1000;
const CONNECT_TIMEOUT_MS = 1000;
/** Minimum gap between reconnect attempts while down; also the health-probe period. */
const RETRY_MS = 500;
const RETRY_AFTER_SECONDS = 2;
/** Withdrawals of failed acquires (and of releases a lost renewal may undo): how many are kept, how often each is sent, how far apart. */
const MAX_WITHDRAWALS = 10_000;
const WITHDRAW_TRIES = 3;
const WITHDRAW_GAP_MS = 1000;

// KEYS: rpm window, slot leases. ARGV: window ms, rpm, concurrent, lease ms, id, then the ids of this replica's calls
// of the client still running, whose leases are put back first should Redis have lost them (flushed, restarted).
// Returns {0,0} admitted, {1,ms} RPM full (ms until the oldest leaves), {2,ms} no slot.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local lease = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
for i = 6, #ARGV do
  redis.call('ZADD', KEYS[2], 'NX', now + lease, ARGV[i])
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {1, tonumber(oldest[2]) + window - now}
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  local soonest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {2, tonumber(soonest[2]) - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('ZADD', KEYS[2], now + lease, ARGV[5])
redis.call('PEXPIRE', KEYS[1], window)
redis.call('PEXPIRE', KEYS[2], lease)
return {0, 0}
`;

// KEYS: slot leases. ARGV: lease ms, id. Extends the lease of a call still running, and puts it back when Redis lost
// it (restarted without persistence, failed over, flushed): otherwise the running call stops counting and the client
// gets its whole concurrency again beside it.
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
`;

const sha1 = (s: string) => new Bun.CryptoHasher('sha1').update(s).digest('hex');

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The limit script's answer, `[code, ms]` with code 0 (admitted), 1 (rpm) or 2 (concurrency); null for anything else. */
function acquireAnswer(reply: unknown): [code: 0 | 1 | 2, ms: number] | null {
  if (!Array.isArray(reply) || reply.length !== 2) return null;
  const [code, ms] = reply.map(Number) as [number, number];
  return (code === 0 || code === 1 || code === 2) && Number.isFinite(ms) ? [code, ms] : null;
}

export class RedisLimiter implements Limiter {
  private client: RedisClient | null = null;
  private connecting: Promise<RedisClient> | null = null;
  private state: 'unknown' | 'up' | 'down' = 'unknown';
  private lastAttempt = -Infinity;
  private closed = false;
  private readonly leaseMs: number;
  private readonly prefix: string;

  /**
   * Leases of calls still running (id → slot key and renewal timer): put back on each new connection before anything
   * else is sent, and their timers stopped on close.
   */
  private readonly live = new Map<string, { slotKey: string; renew: ReturnType<typeof setInterval> }>();
  /** Running calls whose leases an acquire that got no answer may yet put back: withdrawn again once released. */
  private readonly lateReAdds = new Set<string>();
  private readonly probe: ReturnType<typeof setInterval>;
  /** Acquires that failed, by id: their slot and window entries to remove once Redis answers (see flushWithdrawals). */
  private readonly withdrawals = new Map<string, { keys: string[]; tries: number; next: number }>();

  constructor(
    private readonly settings: RedisLimiterSettings,
    private readonly log: StoreLog,
  ) {
    if (settings.enabled) {
      for (const [name, value] of [['rpm', settings.rpm], ['concurrent', settings.concurrent], ['leaseSeconds', settings.leaseSeconds]] as const) {
        if (!Number.isInteger(value) || value < 1) throw new Error(`rate limit ${name} must be a positive integer, got ${value}`);
      }
    }
    this.leaseMs = settings.leaseSeconds * 1000;
    this.prefix = settings.prefix ?? 'hide:rl:';
    // The probe keeps `available` true to the facts (for /ready) and reconnects without traffic.
    this.probe = setInterval(() => void this.ping(), RETRY_MS);
    this.probe.unref();
    void this.ping();
  }

  /** Whether the store answered last time we asked. */
  get available(): boolean {
    return this.state === 'up';
  }

  /** Connects now; resolves whether Redis answered (start-up waits on it once). */
  async ready(): Promise<boolean> {
    await this.ping();
    return this.available;
  }

  private async ping(): Promise<void> {
    if (this.closed) return;
    try {
      await this.run('PING', []);
      this.flushWithdrawals();
    } catch {
      /* state and log already updated */
    }
  }

  private markDown(err: unknown): void {
    if (this.state !== 'down') {
      const policy = this.settings.onStoreError === 'deny' ? 'tool calls get 503 until it is back' : 'tool calls are allowed WITHOUT limits until it is back';
      this.log.error(`rate-limit store ${maskedUrlUserinfo(this.settings.url)} unreachable (${(err as Error).message}): ${policy}`);
    }
    this.state = 'down';
    const c = this.client;
    this.client = null;
    try {
      c?.close();
    } catch {
      /* already closed */
    }
  }

  private markUp(): void {
    if (this.state === 'down') this.log.info(`rate-limit store ${maskedUrlUserinfo(this.settings.url)} reachable again`);
    this.state = 'up';
  }

  private connection(): Promise<RedisClient> {
    if (this.client?.connected) return Promise.resolve(this.client);
    if (this.connecting) return this.connecting;
    const now = performance.now();
    // While down, fail fast between attempts rather than make every call wait for a connect timeout.
    if (this.state === 'down' && now - this.lastAttempt < RETRY_MS) return Promise.reject(new Error('store down'));
    this.lastAttempt = now;
    this.connecting = (async () => {
      const c = new RedisClient(this.settings.url, {
        autoReconnect: false,
        enableOfflineQueue: false,
        connectionTimeout: CONNECT_TIMEOUT_MS,
      });
      c.onclose = (err) => {
        if (this.client === c && !this.closed) this.markDown(err ?? new Error('connection closed'));
      };
      try {
        await withTimeout(c.connect(), CONNECT_TIMEOUT_MS + 200, 'connect');
        await this.restoreLeases(c);
      } catch (err) {
        c.close();
        throw err;
      }
      this.client = c;
      return c;
    })().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  /**
   * Renews every running call's lease on a new connection, before the
   * acquires waiting for it: a Redis that came back empty (restarted without
   * persistence, failed over, flushed) or one paused past the lease has lost
   * or dropped them, and until the next renewal (a third of a lease later)
   * every running call would stop counting, letting the client run its whole
   * concurrency again beside them.
   */
  private async restoreLeases(c: RedisClient): Promise<void> {
    if (this.live.size === 0) return;
    const lease = String(this.leaseMs);
    await withTimeout(Promise.all([...this.live].map(([id, { slotKey }]) => c.send('EVAL', [RENEW, '1', slotKey, lease, id]))), OP_TIMEOUT_MS, 'lease renewal');
  }

  /** Sends one command; any failure marks the store down. */
  private async run(command: string, args: string[]): Promise<unknown> {
    try {
      const c = await this.connection();
      const out = await withTimeout(c.send(command, args), OP_TIMEOUT_MS, command);
      this.markUp();
      return out;
    } catch (err) {
      if (!this.closed) this.markDown(err);
      throw err;
    }
  }

  /** EVALSHA, loading the script with EVAL when Redis does not have it (first use, restart). */
  private async script(source: string, keys: string[], args: string[]): Promise<unknown> {
    const c = await this.connection().catch((err) => {
      this.markDown(err);
      throw err;
    });
    try {
      const out = await withTimeout(c.send('EVALSHA', [sha1(source), String(keys.length), ...keys, ...args]), OP_TIMEOUT_MS, 'EVALSHA');
      this.markUp();
      return out;
    } catch (err) {
      if (!String((err as Error).message).includes('NOSCRIPT')) {
        this.markDown(err);
        throw err;
      }
    }
    return this.run('EVAL', [source, String(keys.length), ...keys, ...args]);
  }

  private keys(clientKey: string): [string, string] {
    const tag = hashTag(clientKey);
    return [`${this.prefix}{${tag}}:rpm`, `${this.prefix}{${tag}}:slots`];
  }

  private unavailable(): AcquireResult {
    return this.settings.onStoreError === 'allow'
      ? { ok: true, release: () => {} }
      : { ok: false, reason: 'store_unavailable', retryAfterSeconds: RETRY_AFTER_SECONDS };
  }

  async acquire(clientKey: string): Promise<AcquireResult> {
    if (!this.settings.enabled) return { ok: true, release: () => {} };
    const [rpmKey, slotKey] = this.keys(clientKey);
    const id = crypto.randomUUID();
    let reply: unknown;
    const running = [...this.live].flatMap(([liveId, lease]) => (lease.slotKey === slotKey ? [liveId] : []));
    try {
      reply = await this.script(ACQUIRE, [rpmKey, slotKey], [String(WINDOW_MS), String(this.settings.rpm), String(this.settings.concurrent), String(this.leaseMs), id, ...running]);
    } catch {
      this.withdraw(id, [slotKey, rpmKey]);
      // The script may still run (a timed-out command stays in a slow Redis's input) and put those leases back after
      // their calls released them: each is withdrawn again once released.
      for (const liveId of running) this.lateReAdds.add(liveId);
      this.withdrawReleased(running, slotKey);
      return this.unavailable();
    }
    // A call released while the script was on its way (sent again as EVAL after a NOSCRIPT) had its lease put back.
    this.withdrawReleased(running, slotKey);
    const answer = acquireAnswer(reply);
    if (answer === null) {
      // Not what the script returns: a store that only speaks Redis's protocol, or a broken one. Taken as a call let
      // through, an odd reply admitted calls under `deny`; as a refusal it is the store failing.
      this.withdraw(id, [slotKey, rpmKey]);
      this.markDown(new Error(`unexpected reply to the limit script: ${JSON.stringify(reply)?.slice(0, 100)}`));
      return this.unavailable();
    }
    const [code, ms] = answer;
    if (code === 1) return { ok: false, reason: 'rpm', retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)) };
    if (code === 2) return { ok: false, reason: 'concurrency', retryAfterSeconds: 1 };

    // A renewal that failed may still run later (a timed-out command stays in a slow Redis's input) and, since renewals
    // put a lost lease back, would then take the slot again after the release: the release is withdrawn again later.
    let renewalLost = false;
    let renewing = 0;
    const renew = setInterval(() => {
      renewing++;
      this.script(RENEW, [slotKey], [String(this.leaseMs), id])
        .catch(() => {
          renewalLost = true; // the lease expires on its own; markDown has logged the outage
        })
        .finally(() => renewing--);
    }, Math.max(100, Math.floor(this.leaseMs / 3)));
    renew.unref();
    this.live.set(id, { slotKey, renew });
    let released = false;
    return {
      ok: true,
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(renew);
        this.live.delete(id);
        if (renewalLost || renewing > 0 || this.lateReAdds.delete(id)) this.withdraw(id, [slotKey]);
        try {
          await this.run('ZREM', [slotKey, id]);
        } catch {
          // Not answered in time (a paused or busy Redis, an outage): removed once Redis answers again, or the slot
          // would keep the client one call short until the lease ends.
          this.withdraw(id, [slotKey]);
        }
      },
    };
  }

  /** Withdraws the leases among `ids` whose calls are no longer running: an acquire sent them to be put back. */
  private withdrawReleased(ids: readonly string[], slotKey: string): void {
    for (const liveId of ids) if (!this.live.has(liveId)) this.withdraw(liveId, [slotKey]);
  }

  private withdraw(id: string, keys: string[]): void {
    // Bounded: an outage refuses calls by the thousand, and the oldest withdrawal matters least.
    if (this.withdrawals.size >= MAX_WITHDRAWALS) this.withdrawals.delete(this.withdrawals.keys().next().value!);
    this.withdrawals.set(id, { keys, tries: 0, next: 0 });
  }

  /**
   * Removes, once Redis answers again, what acquires that failed may still
   * have taken: a timed-out EVALSHA stays in Redis's input and runs when a
   * slow Redis gets to it (after a long script, a fork), even though the
   * connection was closed — taking a slot no call will ever release, which
   * would block the client until the lease ends. Sent a few times, apart, in
   * case Redis reaches the late acquire only after the first removal, and
   * however long Redis was away: the late acquire takes its lease from when
   * it runs, so a withdrawal dropped once the lease had passed since the
   * failure left a stall longer than the lease holding the slot a whole lease
   * after Redis came back.
   */
  private flushWithdrawals(): void {
    const c = this.client;
    if (this.withdrawals.size === 0 || this.state !== 'up' || c === null || !c.connected) return;
    const now = performance.now();
    const byKey = new Map<string, string[]>();
    for (const [id, w] of this.withdrawals) {
      if (w.tries >= WITHDRAW_TRIES) {
        this.withdrawals.delete(id);
        continue;
      }
      if (now < w.next) continue;
      w.tries++;
      w.next = now + WITHDRAW_GAP_MS;
      for (const key of w.keys) byKey.set(key, [...(byKey.get(key) ?? []), id]);
    }
    for (const [key, ids] of byKey) c.send('ZREM', [key, ...ids]).catch(() => {});
  }

  close(): void {
    this.closed = true;
    clearInterval(this.probe);
    for (const { renew } of this.live.values()) clearInterval(renew);
    this.live.clear();
    this.lateReAdds.clear();
    try {
      this.client?.close();
    } catch {
      /* already closed */
    }
    this.client = null;
  }
}

/**
 * A client's part of its keys, between the braces of a Redis Cluster hash tag, which keeps both of its keys in one
 * slot: the tag ends at the first `}`, so a client id starting with one (a keys-file id, a token's `sub`) left it empty,
 * its two keys hashed whole into two slots, and every script call failed (CROSSSLOT) as a store outage for every
 * client. Braces and `%` are percent-encoded (one-to-one, and ids without them keep their readable keys); an empty
 * id, which no encoding gives, is `%`.
 */
function hashTag(clientKey: string): string {
  if (clientKey === '') return '%';
  return clientKey.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
