/**
 * Client address policy: which peer addresses are allowed, and which proxies
 * may speak for a client through X-Forwarded-For. Rules are parsed once at
 * start-up (util/ip-rules.ts; the settings schema has refused bad ones
 * already). IPv4-mapped IPv6 addresses are treated as the IPv4 address they
 * carry, on the rule side and the request side, so `::ffff:10.0.0.1` matches
 * `10.0.0.0/8` (dual-stack sockets report IPv4 peers that way).
 */
import { type Addr, type IpRange, parseIp, parseIpRule } from '../util/ip-rules.ts';

export { parseIp };

type Range = IpRange;

function parseRule(rule: string, what: string): Range {
  try {
    return parseIpRule(rule);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`);
  }
}

function matchesAny(addr: Addr, ranges: Range[]): boolean {
  for (const [net, bits] of ranges) {
    // ipaddr.js throws when the families differ; skip instead.
    if (net.kind() === addr.kind() && addr.match(net, bits)) return true;
  }
  return false;
}

/** True for 127.0.0.0/8, ::1 and their mapped forms. */
export function isLoopback(ip: string): boolean {
  const addr = parseIp(ip);
  return addr !== null && addr.range() === 'loopback';
}

/** The canonical text of an address (mapped IPv4 unwrapped, IPv6 compressed); the input if unparseable. */
export function normalizeIp(ip: string): string {
  const addr = parseIp(ip);
  return addr === null ? ip : addr.toString();
}

export interface IpFilterOptions {
  /** Single addresses or CIDR ranges; empty allows every address. */
  allow?: readonly string[];
  /** Proxies whose X-Forwarded-For is believed; empty ignores the header. */
  trustedProxies?: readonly string[];
}

/** X-Forwarded-For hops read at most, right to left: more proxies than this in a row is not a real chain. */
const MAX_HOPS = 64;

/** Bounded memo: cleared whole when full, so a scan of many addresses cannot grow it. */
const CACHE_LIMIT = 4096;
function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (key.length > 512) return;
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, value);
}

export class IpFilter {
  private readonly allow: Range[];
  private readonly proxies: Range[];
  private readonly clientIpCache = new Map<string, string>();
  private readonly allowedCache = new Map<string, boolean>();

  /** Throws an Error naming the first bad rule. */
  constructor(opts: IpFilterOptions = {}) {
    this.allow = (opts.allow ?? []).map((r) => parseRule(r, 'allowed client IPs'));
    this.proxies = (opts.trustedProxies ?? []).map((r) => parseRule(r, 'trusted proxies'));
  }

  /** An allowlist is configured: not every address is let in. */
  get restricts(): boolean {
    return this.allow.length > 0;
  }

  /** A trusted-proxy range of prefix 0: every peer may then name its own address in X-Forwarded-For. */
  get trustsEveryPeer(): boolean {
    return this.proxies.some(([, bits]) => bits === 0);
  }

  isTrustedProxy(ip: string): boolean {
    const addr = parseIp(ip);
    return addr !== null && matchesAny(addr, this.proxies);
  }

  /**
   * The address the request is on behalf of. X-Forwarded-For counts only when
   * the direct peer is a trusted proxy; it is read right to left, skipping
   * trusted proxies, and the first untrusted address wins, because every entry
   * left of that one was written by a party we do not trust. A malformed entry
   * met on the way means the header cannot be relied on: the peer is used.
   */
  clientIp(peerIp: string, xForwardedFor: string | null): string {
    // Most requests come from a handful of peers (or one proxy): remember
    // recent answers instead of parsing addresses on every request.
    const key = xForwardedFor === null ? peerIp : `${peerIp}|${xForwardedFor}`;
    const cached = this.clientIpCache.get(key);
    if (cached !== undefined) return cached;
    const found = this.resolveClientIp(peerIp, xForwardedFor);
    remember(this.clientIpCache, key, found);
    return found;
  }

  private resolveClientIp(peerIp: string, xForwardedFor: string | null): string {
    const peer = parseIp(peerIp);
    if (peer === null) return peerIp;
    const peerText = peer.toString();
    if (xForwardedFor === null || this.proxies.length === 0 || !matchesAny(peer, this.proxies)) return peerText;
    const hops = xForwardedFor.split(',');
    // Only the right-most hops are read: entries further left were written
    // by the client itself, so a long header must not make us give up and
    // fall back to the proxy's own address (which an allowlist may admit).
    const stop = Math.max(0, hops.length - MAX_HOPS);
    let last: Addr | null = null;
    for (let i = hops.length - 1; i >= stop; i--) {
      const addr = parseIp(hops[i]!);
      if (addr === null) return peerText;
      if (!matchesAny(addr, this.proxies)) return addr.toString();
      last = addr;
    }
    // Every hop is a trusted proxy: the left-most is the origin as far as we can tell. More trusted hops in a row
    // than we read is no real chain: the peer.
    return last === null || stop > 0 ? peerText : last.toString();
  }

  /** Whether an address may use the server; an unparseable address is refused unless the allowlist is empty. */
  isAllowed(ip: string): boolean {
    if (this.allow.length === 0) return true;
    const cached = this.allowedCache.get(ip);
    if (cached !== undefined) return cached;
    const addr = parseIp(ip);
    const allowed = addr !== null && matchesAny(addr, this.allow);
    remember(this.allowedCache, ip, allowed);
    return allowed;
  }
}
