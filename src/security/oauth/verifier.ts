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
import { scopesOf } from './scopes.ts';

export interface TokenGrant {
  /** `sub`: who the token speaks for; the client id for limits and audit. */
  subject: string;
  /** `client_id` (RFC 9068) or `azp` (OpenID): the OAuth client that holds the token. */
  clientId: string | null;
  issuer: string;
  scopes: string[];
}

export type TokenCheck = { ok: true; grant: TokenGrant } | { ok: false; reason: string };

export interface VerifierOptions {
  issuers: ReadonlyMap<string, IssuerKeys>;
  audience: string;
  algorithms: readonly string[];
  clockLeewaySeconds: number;
  introspector: Introspector | null;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const MAX_TOKEN_LENGTH = 16 * 1024;

/** True when the value has the compact JWS form of a JWT (an API key never has two dots). */
export function looksLikeJwt(value: string): boolean {
  return value.length <= MAX_TOKEN_LENGTH && JWT_SHAPE.test(value);
}

function grantOf(claims: Record<string, unknown>, issuer: string): TokenCheck {
  const sub = claims.sub;
  if (typeof sub !== 'string' || sub === '' || sub.length > 256) return { ok: false, reason: 'token has no usable sub claim' };
  const client = typeof claims.client_id === 'string' ? claims.client_id : typeof claims.azp === 'string' ? claims.azp : null;
  return { ok: true, grant: { subject: sub, clientId: client, issuer, scopes: scopesOf(claims) } };
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
  constructor(private readonly opts: VerifierOptions) {}

  async verify(token: string): Promise<TokenCheck> {
    if (!looksLikeJwt(token)) return this.introspect(token);
    let issuer: unknown;
    try {
      decodeProtectedHeader(token);
      issuer = decodeJwt(token).iss;
    } catch {
      return { ok: false, reason: 'token is not a well-formed JWT' };
    }
    const keys = typeof issuer === 'string' ? this.opts.issuers.get(issuer) : undefined;
    if (!keys) return { ok: false, reason: 'token issuer is not trusted (iss)' };
    try {
      const { payload } = await jwtVerify(token, keys.getKey, {
        issuer: keys.issuer,
        audience: this.opts.audience,
        algorithms: [...this.opts.algorithms],
        clockTolerance: this.opts.clockLeewaySeconds,
        requiredClaims: ['exp'],
      });
      return grantOf(payload, keys.issuer);
    } catch (err) {
      return { ok: false, reason: reasonOf(err) };
    }
  }

  private async introspect(token: string): Promise<TokenCheck> {
    const introspector = this.opts.introspector;
    if (!introspector) return { ok: false, reason: 'token is not a JWT and introspection is not configured' };
    const r = await introspector.introspect(token);
    if (!r.active) return { ok: false, reason: r.reason };
    const c = r.claims;
    const iss = typeof c.iss === 'string' ? c.iss : null;
    if (iss !== null && !this.opts.issuers.has(iss)) return { ok: false, reason: 'token issuer is not trusted (iss)' };
    const aud = typeof c.aud === 'string' ? [c.aud] : Array.isArray(c.aud) ? c.aud : [];
    if (!aud.includes(this.opts.audience)) return { ok: false, reason: 'token is not for this resource (aud)' };
    const now = Date.now() / 1000;
    const leeway = this.opts.clockLeewaySeconds;
    if (typeof c.exp === 'number' && c.exp + leeway <= now) return { ok: false, reason: 'token expired' };
    if (typeof c.nbf === 'number' && c.nbf - leeway > now) return { ok: false, reason: 'token not yet valid (nbf)' };
    return grantOf(c, iss ?? [...this.opts.issuers.keys()][0]!);
  }
}
