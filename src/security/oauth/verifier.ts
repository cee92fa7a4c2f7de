/**
 * Checks an access token and says what it grants: a JWT by its signature
 * (the issuer's keys, chosen by its exact `iss` among the configured ones),
 * `aud` naming this resource, `exp`/`nbf` within the leeway, and only the
 * configured asymmetric algorithms — with jose, never by hand. An opaque
 * token goes to introspection when it is configured. The token itself is
 * never kept, logged or returned; refusals carry a reason safe to record.
 */
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { Introspector } from './introspection.ts';
import { type IssuerKeys, NoSigningKeysError } from './issuer-keys.ts';
import { looksLikeJwt, MAX_TOKEN_LENGTH } from './jwt-shape.ts';
import { scopesOf } from './scopes.ts';
import { UNSEEN_OR_CONTROL } from '../../core/client-id.ts';
import { sha256Hex } from '../../util/sha256.ts';

export interface TokenGrant {
  /** `sub`: who the token speaks for; the client id for limits and audit. */
  subject: string;
  /** `client_id` (RFC 9068) or `azp` (OpenID): the OAuth client that holds the token. */
  clientId: string | null;
  issuer: string;
  scopes: string[];
}

/**
 * `unavailable`: the token could not be judged now (no signing keys, the
 * introspection endpoint unreachable, busy or failing) — a fault on the
 * server's side, which the client should retry, not a verdict on the token.
 */
/**
 * `reason` is said to the caller; `detail`, when there is one, only to the
 * operator (log, audit): what went wrong between us and the authorization
 * server (addresses, fetch errors) is nothing an unauthenticated caller
 * should learn.
 */
export type TokenCheck = { ok: true; grant: TokenGrant } | { ok: false; reason: string; detail?: string; unavailable?: true; retryAfterSeconds?: number };

export interface VerifierOptions {
  issuers: ReadonlyMap<string, IssuerKeys>;
  audience: string;
  algorithms: readonly string[];
  clockLeewaySeconds: number;
  introspector: Introspector | null;
  /**
   * The issuer the introspection endpoint answers for: its answers are that
   * issuer's users, never another's. Unset: the only issuer (configuration
   * requires it with more than one).
   */
  introspectionIssuer?: string;
}

/** A verified token's grant is reused this long at most, never past its `exp` nor across a key set change. */
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_LIMIT = 10_000;

interface Verified {
  check: TokenCheck;
  keys: IssuerKeys;
  generation: number;
  until: number;
}

/**
 * RFC 6750 section 2.1: what an `Authorization: Bearer` credential can be. A
 * value of any other form — a header with another scheme (`Basic` with a
 * user's password) or none — is no token, and is never sent to the
 * introspection endpoint, where it would reach a third party.
 */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** White space at either end of a `sub`: a client id that looks like the one without it. */
const SPACE_AT_END = /^\s|\s$/;

/**
 * @param clientAsSubject an introspection answer may leave out `sub` (RFC 7662
 * makes it optional; client-credentials tokens often have none): the client
 * then acts for itself. A JWT access token must carry `sub` (RFC 9068).
 */
function grantOf(claims: Record<string, unknown>, issuer: string, clientAsSubject = false): TokenCheck {
  // A sender-constrained token (DPoP RFC 9449, mutual TLS RFC 8705) is good only with proof of its key, which a
  // bearer request does not carry: taken as a bearer token, a stolen bound token would work here.
  if (claims.cnf !== undefined) return { ok: false, reason: 'token is bound to a key (cnf), and this server checks no proof of possession' };
  const sub = claims.sub ?? (clientAsSubject ? claims.client_id : undefined);
  // The subject becomes the client id in logs, limits and launcher names: no control characters (a NUL-prefixed id
  // is the server's own probe owner), as no API key client id has them, nothing that reorders or breaks a line where
  // it is shown (bidirectional overrides, line separators), and nothing unseen that would make another client look
  // like one already there (`alice` and `alice` with a zero-width space).
  if (typeof sub !== 'string' || sub === '' || sub.length > 256 || UNSEEN_OR_CONTROL.test(sub) || SPACE_AT_END.test(sub)) return { ok: false, reason: 'token has no usable sub claim' };
  const client = typeof claims.client_id === 'string' ? claims.client_id : typeof claims.azp === 'string' ? claims.azp : null;
  return { ok: true, grant: { subject: sub, clientId: client, issuer, scopes: scopesOf(claims) } };
}

/**
 * Why a token's audience and time claims refuse it, or null: the rules jose
 * applies to a verified JWT, for claims that reach us another way — an
 * introspection answer (where `exp` is optional, RFC 7662), or a JWT whose
 * signature cannot be checked now. Such a refusal holds whoever signed the
 * token: an expired one, or one for another resource, never works, so it
 * stays a 401 that sends the client for a new token rather than a 503 to
 * retry the same one. Never grants.
 */
function claimsRefusal(claims: Record<string, unknown>, audience: string, leewaySeconds: number, requireExp: boolean): string | null {
  const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
  if (!aud.includes(audience)) return 'token is not for this resource (aud)';
  // A claim that is there must be a NumericDate: an `exp` we cannot read is no `exp` to skip.
  for (const claim of ['exp', 'nbf'] as const) {
    if (claims[claim] !== undefined && (typeof claims[claim] !== 'number' || !Number.isFinite(claims[claim]))) return `token claim ${claim} invalid`;
  }
  if (requireExp && claims.exp === undefined) return 'token claim exp invalid';
  const now = Date.now() / 1000;
  if (typeof claims.exp === 'number' && claims.exp + leewaySeconds <= now) return 'token expired';
  if (typeof claims.nbf === 'number' && claims.nbf - leewaySeconds > now) return 'token not yet valid (nbf)';
  return null;
}

/**
 * RFC 9068 types a JWT access token `at+jwt`, but many authorization servers
 * send `JWT` or no type at all, so those pass. Any other type names another
 * kind of JWT its issuer signs (a DPoP proof, a logout token, a security
 * event token): typed precisely so that nobody takes it for an access token.
 */
function isAccessTokenType(typ: unknown): boolean {
  if (typ === undefined) return true;
  if (typeof typ !== 'string') return false;
  // RFC 7515 4.1.9: a media type, compared without case, its "application/" prefix optional.
  const type = typ.toLowerCase().replace(/^application\//, '');
  return type === 'at+jwt' || type === 'jwt';
}

/**
 * What claims may say a token is, where they say: an access token, in the
 * words authorization servers use for one (`token_use` access_token or access,
 * Hydra's and Cognito's; `typ` Bearer, Keycloak's; RFC 7662's `token_type`
 * Bearer or N_A; RFC 8693's type URN). An introspection endpoint answers for
 * every token its server issued, refresh tokens too, and some put these
 * claims in their ID and refresh JWTs (Keycloak's `typ` ID or Refresh,
 * Cognito's `token_use` id): a refresh token is long-lived and meant for the
 * token endpoint alone, and taken as a bearer token here a leaked one would
 * work for its whole life. Any other word is refused (an allow-list: the
 * spellings of a refresh or ID token are many).
 */
const ACCESS_TOKEN_KINDS = new Set(['access_token', 'access', 'bearer', 'n_a', 'at+jwt', 'application/at+jwt', 'jwt', 'urn:ietf:params:oauth:token-type:access_token']);

/** Why the claims' own word for the kind of token refuses it, or null; `source` says whose claims they are. */
function kindRefusal(claims: Record<string, unknown>, source: 'introspection' | 'token'): string | null {
  for (const field of ['token_use', 'token_type', 'typ'] as const) {
    const kind = claims[field];
    if (kind !== undefined && (typeof kind !== 'string' || !ACCESS_TOKEN_KINDS.has(kind.toLowerCase()))) {
      return `${source === 'introspection' ? 'introspection says the token' : 'token claims it'} is not an access token (${field})`;
    }
  }
  return null;
}

/** A reason for the audit log, from a jose error; never the token. */
function reasonOf(err: unknown): string {
  if (err instanceof NoSigningKeysError) return `signing keys unavailable (${err.message})`;
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'token not yet valid (nbf)';
    if (err.claim === 'aud') return 'token is not for this resource (aud)';
    if (err.claim === 'iss') return 'token issuer mismatch (iss)';
    return `token claim ${err.claim} invalid`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'token signed with an algorithm that is not allowed';
  if (err instanceof errors.JWKSNoMatchingKey) return 'token signed with an unknown key (kid)';
  if (err instanceof errors.JWKSMultipleMatchingKeys) return 'token key is ambiguous';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'token signature invalid';
  if (err instanceof errors.JOSEError) return `token invalid (${err.code})`;
  return 'token invalid';
}

export class TokenVerifier {
  /**
   * Grants of tokens whose signature and claims passed, by the token's
   * SHA-256 (the token itself is not kept): a client sends the same token on
   * every call, and the signature check is most of what a call costs.
   */
  private readonly verified = new Map<string, Verified>();

  constructor(private readonly opts: VerifierOptions) {}

  /** True for an opaque token introspection called active and still remembers (JWTs are masked by their shape). */
  knows(candidate: string): boolean {
    return this.opts.introspector?.holds(candidate) ?? false;
  }

  /** @param clientIp who presented the token, for the introspection budget per address. */
  async verify(token: string, clientIp?: string): Promise<TokenCheck> {
    // Worded so that the log redactor, which masks what follows `Bearer ` or `Authorization:`, leaves the line's client IP.
    if (token.length > MAX_TOKEN_LENGTH || !B64TOKEN.test(token)) return { ok: false, reason: "not an RFC 6750 credential (the header's value must be the scheme Bearer, one space and the token)" };
    if (!looksLikeJwt(token)) return this.introspect(token, clientIp);
    const digest = sha256Hex(token);
    const hit = this.verified.get(digest);
    if (hit && hit.until > Date.now() && hit.generation === hit.keys.generation) {
      // A reused result must not keep stale keys alive: the age rule runs as if the signature were checked.
      hit.keys.refreshIfStale();
      return hit.check;
    }
    if (hit) this.verified.delete(digest);
    const { check, accepted } = await this.verifyJwt(token);
    if (check.ok && accepted) {
      const { keys, generation, exp } = accepted;
      if (this.verified.size >= VERIFIED_LIMIT) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(digest, { check, keys, generation, until: Math.min(Date.now() + VERIFIED_TTL_MS, exp * 1000) });
    }
    return check;
  }

  /** The check, and for an accepted token the keys that verified it and its expiry. */
  private async verifyJwt(token: string): Promise<{ check: TokenCheck; accepted?: { keys: IssuerKeys; generation: number; exp: number } }> {
    let issuer: unknown;
    let typ: unknown;
    try {
      typ = decodeProtectedHeader(token).typ;
      issuer = decodeJwt(token).iss;
    } catch {
      return { check: { ok: false, reason: 'token is not a well-formed JWT' } };
    }
    if (!isAccessTokenType(typ)) return { check: { ok: false, reason: 'token is typed (typ) as another kind of JWT, not an access token' } };
    const keys = typeof issuer === 'string' ? this.opts.issuers.get(issuer) : undefined;
    if (!keys) return { check: { ok: false, reason: 'token issuer is not trusted (iss)' } };
    const generation = keys.generation;
    try {
      const { payload } = await jwtVerify(token, keys.getKey, {
        issuer: keys.issuer,
        audience: this.opts.audience,
        algorithms: [...this.opts.algorithms],
        clockTolerance: this.opts.clockLeewaySeconds,
        requiredClaims: ['exp'],
      });
      const kind = kindRefusal(payload, 'token');
      if (kind !== null) return { check: { ok: false, reason: kind } };
      // The generation before the check: a key set fetched during it makes the result be checked again next time.
      return { check: grantOf(payload, keys.issuer), accepted: { keys, generation, exp: payload.exp! } };
    } catch (err) {
      if (!(err instanceof NoSigningKeysError)) return { check: { ok: false, reason: reasonOf(err) } };
      // Read without the signature, the token's own claims may still rule it out for good.
      const claims = decodeJwt(token);
      const grant = grantOf(claims, keys.issuer);
      const refused = claimsRefusal(claims, this.opts.audience, this.opts.clockLeewaySeconds, true) ?? (grant.ok ? null : grant.reason);
      return { check: refused === null ? { ok: false, reason: 'signing keys unavailable', detail: reasonOf(err), unavailable: true } : { ok: false, reason: refused } };
    }
  }

  private async introspect(token: string, clientIp: string | undefined): Promise<TokenCheck> {
    const introspector = this.opts.introspector;
    if (!introspector) return { ok: false, reason: 'token is not a JWT and introspection is not configured' };
    // An answer speaks for the endpoint's own issuer alone. Taken at its word (`iss`, or a guess without it), one
    // issuer's endpoint would make its answers another issuer's users: their client ids, processes and limits.
    const owner = this.opts.introspectionIssuer ?? [...this.opts.issuers.keys()][0]!;
    const r = await introspector.introspect(token, clientIp);
    if (!r.active && r.retryAfterSeconds !== undefined) return { ok: false, reason: r.reason, retryAfterSeconds: r.retryAfterSeconds };
    if (!r.active) return { ok: false, reason: r.reason, ...(r.detail === undefined ? {} : { detail: r.detail }), ...(r.unanswered ? { unavailable: true as const } : {}) };
    const c = r.claims;
    if (c.iss !== undefined && (typeof c.iss !== 'string' || !this.opts.issuers.has(c.iss))) return { ok: false, reason: 'token issuer is not trusted (iss)' };
    if (c.iss !== undefined && c.iss !== owner) return { ok: false, reason: "introspection answer names an issuer (iss) other than the endpoint's own" };
    const refused = claimsRefusal(c, this.opts.audience, this.opts.clockLeewaySeconds, false) ?? kindRefusal(c, 'introspection');
    return refused === null ? grantOf(c, owner, true) : { ok: false, reason: refused };
  }
}
