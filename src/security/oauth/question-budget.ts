/**
 * How many new tokens one client address may have the introspection
 * endpoint asked about per minute. Anyone who reaches the server can present
 * a made-up opaque token, and each new one is a question to the
 * authorization server: without a budget one address could make this server
 * ask as fast as the endpoint answers (64 at a time), a flood passed on to a
 * third party. Tokens answered before (cached, or answered active and
 * checked again once that answer ages out) and questions already on their
 * way cost nothing. Pure policy: the caller names the source.
 */
import { addressSource } from '../../util/ip-rules.ts';

const WINDOW_MS = 60_000;
/**
 * Sources counted in one minute, at most. Past it a new source is let
 * through uncounted: so many addresses at once is a spread-out flood that a
 * per-address budget cannot stop, and the bound on open questions still
 * holds; refusing them all would lock out the real clients among them.
 */
const MAX_SOURCES = 10_000;

export class QuestionBudget {
  private window = -1;
  private readonly asked = new Map<string, number>();

  /** @param perMinute questions per source and minute; 0 takes no budget at all. */
  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Takes one question for the address `ip`: null when it may be asked,
   * else the seconds until its budget is back.
   */
  take(ip: string): number | null {
    if (this.perMinute === 0) return null;
    const now = this.now();
    const window = Math.floor(now / WINDOW_MS);
    if (window !== this.window) {
      this.window = window;
      this.asked.clear();
    }
    const source = addressSource(ip);
    const count = this.asked.get(source);
    if (count === undefined && this.asked.size >= MAX_SOURCES) return null;
    if ((count ?? 0) >= this.perMinute) return Math.ceil(((window + 1) * WINDOW_MS - now) / 1000);
    this.asked.set(source, (count ?? 0) + 1);
    return null;
  }
}
