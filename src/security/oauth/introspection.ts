/**
 * RFC 7662 token introspection for opaque (non-JWT) access tokens: the
 * authorization server is asked, with this server's client credentials,
 * whether the token is active and what it grants. Answers are cached by the
 * token's SHA-256 — never the token itself — for at most a minute and never
 * past the token's `exp`, so a revoked token stops working within a minute
 * while a busy client does not ask the server on every call.
 */
import { addressSource } from '../../util/ip-rules.ts';
import { sha256Hex } from '../../util/sha256.ts';
import { boundedFetch, ResponseTooLargeError } from './bounded-fetch.ts';
import { QuestionBudget } from './question-budget.ts';

const TIMEOUT_MS = 5000;
/** Longest an active answer is reused. */
const ACTIVE_TTL_MS = 60_000;
/** Inactive answers are reused briefly so a flood of bad tokens costs the server one request each per this long. */
const INACTIVE_TTL_MS = 10_000;
const CACHE_LIMIT = 10_000;
/**
 * Questions open at once, at most. Each is a connection to the authorization
 * server held up to the timeout: without a bound, a flood of made-up tokens
 * against a slow endpoint opened one per request, as many as the flood had.
 */
export const MAX_OPEN_QUESTIONS = 64;
/**
 * Of those, the most one client address (an IPv6 /64) may hold open about
 * new tokens: one address alone cannot take every question for the time a
 * slow endpoint takes to answer.
 */
export const MAX_OPEN_PER_ADDRESS = 8;
/**
 * Questions kept for tokens the endpoint has called active before, whose
 * answer has aged out: new tokens, however many addresses they come from,
 * leave these to the clients already signed in.
 */
export const OPEN_FOR_RECHECKS = 16;

export interface IntrospectionOptions {
  url: string;
  clientId: string;
  clientSecret: string;
  /** New tokens asked about per client address and minute (QuestionBudget); 0 or absent: no bound. */
  perAddressPerMinute?: number;
}

/**
 * The claims of an active token, or why it was refused. `unanswered`: the
 * endpoint gave no answer about the token (unreachable, an error status, not
 * JSON) — refused now, but not remembered, so the token works again as soon
 * as the endpoint does.
 */
export type IntrospectionResult =
  | { active: true; claims: Record<string, unknown> }
  /** `retryAfterSeconds`: not asked at all, the client address having spent its budget of new tokens. */
  | { active: false; reason: string; detail?: string; unanswered?: true; retryAfterSeconds?: number };

export class Introspector {
  /** `rechecked`: an active answer that aged out and was asked about again without the address's budget. */
  private readonly cache = new Map<string, { until: number; result: IntrospectionResult; rechecked?: true }>();
  /** Questions on their way, by the token's SHA-256: concurrent calls with one token share one request. */
  private readonly asking = new Map<string, Promise<IntrospectionResult>>();
  /** Questions about new tokens on their way, by client address (addressSource). */
  private readonly openBySource = new Map<string, number>();
  private readonly authorization: string;
  private readonly budget: QuestionBudget;

  /** The endpoint asked. */
  get url(): string {
    return this.opts.url;
  }

  constructor(private readonly opts: IntrospectionOptions) {
    // RFC 6749 section 2.3.1: form-encode id and secret before Basic.
    const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
    this.authorization = `Basic ${btoa(`${enc(opts.clientId)}:${enc(opts.clientSecret)}`)}`;
    this.budget = new QuestionBudget(opts.perAddressPerMinute ?? 0);
  }

  /**
   * True when the value is an access token the endpoint called active, still
   * remembered: the redactor asks, so a caller's opaque token that turns up in
   * its own arguments (a command line, a file it writes) is masked by value,
   * as a key is — the server holds only its digest.
   */
  holds(candidate: string): boolean {
    return this.cache.get(sha256Hex(candidate))?.result.active === true;
  }

  /** @param clientIp who presented the token: a new question counts against its address's budget. */
  async introspect(token: string, clientIp?: string): Promise<IntrospectionResult> {
    const key = sha256Hex(token);
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.result;
    let pending = this.asking.get(key);
    if (!pending) {
      // A token the endpoint called active, whose answer has aged out, is checked again but is not new: its client
      // goes on whatever others at its address spent. Once per answer (only a real token has one): a check that
      // brings no answer to remember leaves the next one to the budget.
      const recheck = hit?.result.active === true && !hit.rechecked;
      const source = clientIp === undefined || recheck ? null : addressSource(clientIp);
      // Refused like an endpoint that does not answer: not remembered, so the token works once questions drain.
      // Checked before the budget: a question never asked costs the address nothing.
      const busy = this.busy(recheck, source);
      if (busy !== null) return { active: false, reason: `introspection endpoint busy (${busy}); retry`, unanswered: true };
      if (recheck) hit.rechecked = true;
      const wait = source === null ? null : this.budget.take(clientIp!);
      if (wait !== null) {
        return { active: false, reason: `too many new tokens from this address this minute (HIDE_OAUTH_INTROSPECTION_PER_ADDRESS)`, unanswered: true, retryAfterSeconds: wait };
      }
      if (source !== null) this.openBySource.set(source, (this.openBySource.get(source) ?? 0) + 1);
      pending = this.askAndRemember(key, token).finally(() => {
        this.asking.delete(key);
        if (source === null) return;
        const left = this.openBySource.get(source)! - 1;
        if (left === 0) this.openBySource.delete(source);
        else this.openBySource.set(source, left);
      });
      this.asking.set(key, pending);
    }
    return pending;
  }

  /** Why no question may be opened now, or null. */
  private busy(recheck: boolean, source: string | null): string | null {
    const open = this.asking.size;
    if (open >= MAX_OPEN_QUESTIONS) return `${MAX_OPEN_QUESTIONS} questions open`;
    if (recheck) return null;
    if (open >= MAX_OPEN_QUESTIONS - OPEN_FOR_RECHECKS) return `${MAX_OPEN_QUESTIONS - OPEN_FOR_RECHECKS} questions about new tokens open`;
    if (source !== null && (this.openBySource.get(source) ?? 0) >= MAX_OPEN_PER_ADDRESS) return `${MAX_OPEN_PER_ADDRESS} questions open for this address`;
    return null;
  }

  private async askAndRemember(key: string, token: string): Promise<IntrospectionResult> {
    const result = await this.ask(token);
    const now = Date.now();
    let until = now + (result.active ? ACTIVE_TTL_MS : INACTIVE_TTL_MS);
    if (result.active && typeof result.claims.exp === 'number') until = Math.min(until, result.claims.exp * 1000);
    if (!result.active && result.unanswered) return result;
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
    if (until > now) this.cache.set(key, { until, result });
    return result;
  }

  private async ask(token: string): Promise<IntrospectionResult> {
    let res: Response;
    try {
      res = await boundedFetch(
        this.opts.url,
        {
          method: 'POST',
          headers: { authorization: this.authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
        },
        TIMEOUT_MS,
      );
    } catch (err) {
      if (err instanceof ResponseTooLargeError) return { active: false, reason: 'introspection endpoint answered too much', unanswered: true };
      return { active: false, reason: 'introspection endpoint unreachable', detail: `introspection endpoint unreachable: ${(err as Error).message.slice(0, 200)}`, unanswered: true };
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      return { active: false, reason: `introspection endpoint answered HTTP ${res.status}`, unanswered: true };
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      return { active: false, reason: 'introspection endpoint answered something other than JSON', unanswered: true };
    }
    if (body === null || typeof body !== 'object' || (body as { active?: unknown }).active !== true) return { active: false, reason: 'token is not active' };
    return { active: true, claims: body as Record<string, unknown> };
  }
}
