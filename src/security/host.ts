/**
 * Host policy against DNS rebinding without an Origin header. A page on an
 * attacker's name that resolves to 127.0.0.1 talks to a loopback-bound
 * server as "same origin": the browser sends no Origin on a same-origin GET,
 * and tools other than browsers send none at all, but the `Host` header
 * still carries the attacker's name. A server bound to loopback therefore
 * answers only to loopback names (`localhost`, a 127.x.y.z address, `[::1]`,
 * any port) and to names configured as allowed. A server on another address
 * is reached under names we cannot know, so it checks nothing unless names
 * are configured; then it too answers only to those and the loopback names.
 */
import { parseHost, type ParsedHost } from '../util/host-header.ts';
import { isLoopback } from './ip.ts';

const DOTTED_QUAD = /^\d{1,3}(?:\.\d{1,3}){3}$/;
/** Distinct Host values remembered as allowed: a few names in practice, bounded against a flood of made-up ones. */
const MAX_REMEMBERED = 64;

export { type ParsedHost, parseHost };

/** A name that always means this machine: `localhost`, a 127.x.y.z address or `[::1]`. */
export function isLoopbackName(name: string): boolean {
  if (name === 'localhost') return true;
  if (name.startsWith('[')) return isLoopback(name.slice(1, -1));
  return DOTTED_QUAD.test(name) && isLoopback(name);
}

export class HostPolicy {
  /** Whether any Host is refused at all. */
  readonly enforced: boolean;
  /** Configured names allowed on any port. */
  private readonly names = new Set<string>();
  /** Configured `name:port` pairs allowed on that port only. */
  private readonly pairs = new Set<string>();
  private readonly remembered = new Set<string>();

  /**
   * @param configured names allowed besides the loopback ones ("ide.example.com", "box.lan:8080"); "*" allows any
   * @param boundToLoopback the server listens on a loopback address only
   * @throws Error naming an entry that is not a host name, address or name:port
   */
  constructor(configured: readonly string[], boundToLoopback: boolean) {
    const any = configured.some((c) => c.trim() === '*');
    this.enforced = !any && (boundToLoopback || configured.length > 0);
    for (const entry of any ? [] : configured) {
      const parsed = parseHost(entry);
      if (!parsed) throw new Error(`allowed host '${entry}' is not a host name, an address or name:port (IPv6 in brackets)`);
      if (parsed.port === null) this.names.add(parsed.name);
      else this.pairs.add(`${parsed.name}:${Number(parsed.port)}`);
    }
  }

  /** Whether a request with this `Host` header (null: none) may be served. */
  allows(host: string | null): boolean {
    if (!this.enforced) return true;
    if (host === null) return false;
    if (this.remembered.has(host)) return true;
    const parsed = parseHost(host);
    const ok =
      parsed !== null &&
      (isLoopbackName(parsed.name) || this.names.has(parsed.name) || (parsed.port !== null && this.pairs.has(`${parsed.name}:${Number(parsed.port)}`)));
    if (ok && this.remembered.size < MAX_REMEMBERED) this.remembered.add(host);
    return ok;
  }
}
