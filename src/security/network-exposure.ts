/**
 * What a sandboxed command reaches once HIDE_SANDBOX_NETWORK=on and nothing
 * but a secret it cannot read would stop: its sockets come from this host's
 * own addresses, so it calls this server's port, the Redis limits store and
 * every other service like any local process. The kernel cannot tell those
 * connections apart (no Landlock rule names an address, only ports, and the
 * commands share the server's uid); what keeps them out is a credential the
 * command never holds. Each line says which one is missing and what to set.
 */
import type { Config } from '../config/schema.ts';
import { IpFilter } from './ip.ts';

export interface ExposureInput {
  /** HTTP serves a port; stdio has none. */
  transport: 'http' | 'stdio';
  /** This host's own addresses (loopback included): where a command's connections come from. Asked only with the network on. */
  localAddresses: () => readonly string[];
}

/** True when the Redis URL carries a password (or an ACL user with one). */
function redisUrlHasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
}

/**
 * One line per thing a network-on command reaches unguarded; empty with the
 * network off or the sandbox off (an unconfined command reaches everything,
 * and the README says so).
 */
export function networkOnExposures(config: Config, input: ExposureInput): string[] {
  if (config.sandbox.mode === 'off' || config.sandbox.network !== 'on') return [];
  const lines: string[] = [];
  const prefix = 'HIDE_SANDBOX_NETWORK=on: commands connect from this host, so';
  if (input.transport === 'http') {
    const authOn = config.auth.mode !== 'apikey' || config.auth.enabled;
    if (!authOn) {
      lines.push(
        `${prefix} they can call this server's own MCP endpoint with authentication off, as a client of their own (their address) with limits of their own, audited under that address rather than the call that ran them; turn authentication on (HIDE_AUTH_ENABLED=true)`,
      );
    }
    if (config.metrics.token === undefined) {
      lines.push(`${prefix} they can read /metrics (every client's call counts), which has no token; set HIDE_METRICS_TOKEN`);
    }
    const proxies = new IpFilter({ trustedProxies: config.trustedProxies });
    const own = input.localAddresses().filter((a) => proxies.isTrustedProxy(a));
    if (own.length > 0 && !proxies.trustsEveryPeer) {
      lines.push(
        `${prefix} HIDE_TRUSTED_PROXIES trusts their address (${own.join(', ')}): a command can name any client address in X-Forwarded-For, past the IP allowlist and into the audit log; list the proxy's own address, not a range that holds this host`,
      );
    }
  }
  if (config.rateLimit.enabled && config.rateLimit.store === 'redis' && config.rateLimit.redisUrl !== undefined && !redisUrlHasPassword(config.rateLimit.redisUrl)) {
    lines.push(
      `${prefix} they can reach the Redis limits store, whose URL has no password, so a command can reset its own client's limits, fill another client's, flush or stop Redis (every call then refused with HIDE_RATE_LIMIT_ON_STORE_ERROR=deny); give Redis a password or an ACL user and put it in HIDE_REDIS_URL`,
    );
  }
  return lines;
}
