/**
 * Origin policy against DNS rebinding (MCP transport spec): a browser request
 * carrying an Origin that is not allowed is refused. Requests without Origin
 * (curl, SDK clients, agents) are not browser-initiated and pass.
 */
import { isLoopback } from './ip.ts';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export class OriginPolicy {
  private readonly exact: Set<string>;
  private readonly loopbackAllowed: boolean;

  /**
   * @param configured explicit allowed origins ("https://ide.example.com"), or null for the default rule
   * @param boundToLoopback the server listens on a loopback address only
   */
  constructor(configured: readonly string[] | null, boundToLoopback: boolean) {
    this.exact = new Set((configured ?? []).map((o) => o.replace(/\/+$/, '').toLowerCase()));
    this.loopbackAllowed = configured === null && boundToLoopback;
  }

  allows(origin: string): boolean {
    const o = origin.trim().toLowerCase();
    if (this.exact.has('*') || this.exact.has(o)) return true;
    if (!this.loopbackAllowed) return false;
    try {
      const url = new URL(o);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
      return LOOPBACK_HOSTS.has(url.hostname) || (isLoopback(url.hostname) && /^[\d.]+$/.test(url.hostname));
    } catch {
      return false;
    }
  }
}
