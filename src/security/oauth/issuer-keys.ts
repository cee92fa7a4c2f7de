/**
 * One issuer's signing keys: its key set URL found by discovery, the keys
 * fetched and cached through jose's remote key set, and the refresh rules
 * jose leaves to us. Fetches are bounded: at most one per cooldown, whether
 * an unknown `kid`, a stale cache or a retry after a failure asks for it, so
 * a flood of forged tokens cannot make us flood the identity provider. A
 * failed fetch keeps the previous keys (jose replaces its set only on
 * success); with no keys at all every token fails — closed — and `problem`
 * says why, for /ready.
 */
import { createRemoteJWKSet, customFetch, errors, type FlattenedJWSInput, type JWSHeaderParameters } from 'jose';
import { boundedFetch } from './bounded-fetch.ts';
import { discover, type ServerMetadata } from './discovery.ts';

const FETCH_TIMEOUT_MS = 5000;
/**
 * Keys a set may hold. Providers publish a handful (the current key and the
 * next or previous one); every token whose `kid` matches none is compared
 * with each, so a 1 MiB set of 20,000 keys made each such check cost ~17 ms.
 */
export const MAX_KEYS = 100;

const canSign = (key: unknown): boolean => key !== null && typeof key === 'object' && ((key as { use?: unknown }).use === undefined || (key as { use?: unknown }).use === 'sig');

/** The key set fetch: bounded as every fetch to the issuer is, and refused past MAX_KEYS or with no signing key (jose then keeps the set it had). */
async function fetchKeySet(url: string, init: RequestInit): Promise<Response> {
  const res = await boundedFetch(url, init, FETCH_TIMEOUT_MS);
  if (res.status !== 200) return res;
  const text = await res.text();
  let keys: unknown;
  try {
    keys = (JSON.parse(text) as { keys?: unknown })?.keys;
  } catch {
    keys = undefined; // jose says what is wrong with it
  }
  if (Array.isArray(keys)) {
    if (keys.length > MAX_KEYS) throw new Error(`${url.slice(0, 200)} holds ${keys.length} keys; at most ${MAX_KEYS} are taken`);
    // A set with nothing to verify with would leave the server "ready" while every token fails as signed by an
    // unknown key; refused, the previous keys stay, or tokens get a 503 that says why.
    if (!keys.some(canSign)) throw new Error(`${url.slice(0, 200)} holds no signing key (none without "use" or with "use":"sig")`);
  }
  return new Response(text, { status: res.status, headers: res.headers });
}

export interface IssuerKeysOptions {
  /** Least time between two fetches. */
  cooldownMs: number;
  /** Keys older than this are refreshed in the background. */
  maxAgeMs: number;
}

/** No key has ever been fetched for this issuer. */
export class NoSigningKeysError extends Error {}

export class IssuerKeys {
  private metadata: ServerMetadata | null = null;
  private set: ReturnType<typeof createRemoteJWKSet> | null = null;
  private lastAttempt = Number.NEGATIVE_INFINITY;
  private loadedAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<boolean> | null = null;
  private lastError: string | null = null;
  /** Fetches made (discovery and key set together count once); for tests and metrics. */
  fetches = 0;
  /** Bumped by every key set fetched: results checked against an older set are checked again. */
  generation = 0;

  constructor(
    readonly issuer: string,
    private readonly opts: IssuerKeysOptions,
  ) {}

  /** Null while keys are held; else why tokens from this issuer cannot be checked. */
  get problem(): string | null {
    if (this.hasKeys()) return null;
    return `no signing keys for issuer ${this.issuer}${this.lastError ? `: ${this.lastError}` : ' yet'}`;
  }

  /** The discovered metadata, once discovery has worked. */
  get serverMetadata(): ServerMetadata | null {
    return this.metadata;
  }

  // Not `set.jwks()`: jose hands out a structured clone of the whole set, on every token checked and every /ready.
  hasKeys(): boolean {
    return this.generation > 0;
  }

  /**
   * Fetches now unless one ran within the cooldown; resolves true when this
   * call (or the fetch it joined) got a fresh key set. Never throws.
   */
  refresh(): Promise<boolean> {
    if (this.inflight) return this.inflight;
    if (Date.now() - this.lastAttempt < this.opts.cooldownMs) return Promise.resolve(false);
    this.lastAttempt = Date.now();
    this.fetches++;
    this.inflight = this.load().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async load(): Promise<boolean> {
    try {
      this.metadata ??= await discover(this.issuer, FETCH_TIMEOUT_MS);
      // jose's own refresh is switched off (infinite age and cooldown): the rules above decide when to fetch.
      this.set ??= createRemoteJWKSet(new URL(this.metadata.jwksUri), {
        cacheMaxAge: Number.POSITIVE_INFINITY,
        cooldownDuration: Number.POSITIVE_INFINITY,
        timeoutDuration: FETCH_TIMEOUT_MS,
        [customFetch]: fetchKeySet,
      });
      await this.set.reload();
      this.generation++;
      this.loadedAt = Date.now();
      this.lastError = null;
      return true;
    } catch (err) {
      this.lastError = (err as Error).message.slice(0, 500);
      return false;
    }
  }

  /** Starts a background fetch when the keys are older than their max age (within the cooldown). */
  refreshIfStale(): void {
    if (Date.now() - this.loadedAt > this.opts.maxAgeMs) void this.refresh();
  }

  /** The key for a token's header, as jose's jwtVerify asks for it. */
  getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput) => {
    if (!this.hasKeys()) {
      await this.refresh();
      if (!this.hasKeys()) throw new NoSigningKeysError(this.problem ?? 'no signing keys');
    }
    this.refreshIfStale();
    const set = this.set!;
    try {
      return await set(header, token);
    } catch (err) {
      // A kid we do not know may be a rotation: look again, within the cooldown.
      if (err instanceof errors.JWKSNoMatchingKey && (await this.refresh())) return set(header, token);
      throw err;
    }
  };
}
