/**
 * The OAuth 2.1 resource server as one policy object: checks a bearer token
 * (verifier), turns its scopes into the tools it may call (scope policy),
 * and says what to answer — the metadata document and the challenges that
 * point to it. The security pipeline asks it; it knows nothing of HTTP.
 */
import type { OAuthGrant } from '../../core/context.ts';
import type { ToolDefinition } from '../../tools/types.ts';
import { Introspector, type IntrospectionOptions } from './introspection.ts';
import { IssuerKeys } from './issuer-keys.ts';
import { type BearerError, bearerChallenge, metadataPaths, metadataUrl, protectedResourceMetadata } from './metadata.ts';
import { ScopePolicy } from './scopes.ts';
import { TokenVerifier } from './verifier.ts';

export interface OAuthGuardOptions {
  resource: string;
  /** Defaults to the resource. */
  audience?: string;
  issuers: readonly string[];
  scopes: Readonly<Record<string, readonly string[]>>;
  algorithms: readonly string[];
  clockLeewaySeconds: number;
  jwksCooldownSeconds: number;
  jwksMaxAgeSeconds: number;
  introspection?: IntrospectionOptions;
  /** The issuer the introspection endpoint answers for, when configured (else found from the issuers' metadata). */
  introspectionIssuer?: string;
  /** The tools the server offers, for the scope map's patterns. */
  tools: readonly Pick<ToolDefinition, 'name' | 'readOnly'>[];
  /** API keys are accepted too (`both`): their client ids share the namespace token identities live in. */
  alongsideApiKeys?: boolean;
}

export type TokenAdmission =
  | { ok: true; clientId: string; allowedTools: ReadonlySet<string>; grant: OAuthGrant }
  | { ok: false; reason: string; detail?: string; unavailable?: true; retryAfterSeconds?: number };

export class OAuthGuard {
  readonly metadataUrl: string;
  readonly metadataPaths: string[];
  readonly metadata: Record<string, unknown>;
  readonly issuerKeys: ReadonlyMap<string, IssuerKeys>;
  /** Opaque tokens are checked by introspection. */
  readonly introspects: boolean;
  private readonly scopes: ScopePolicy;
  private readonly verifier: TokenVerifier;
  private readonly challengeScope: string;
  /**
   * A `sub` is unique only within its issuer: with more than one issuer, or
   * API-key clients beside tokens, the client id (the key for the sandbox
   * launcher, limits, cancellation and audit) is `issuer#sub`, so two
   * principals never share one.
   */
  private readonly qualifySubjects: boolean;

  constructor(opts: OAuthGuardOptions) {
    this.qualifySubjects = opts.issuers.length > 1 || opts.alongsideApiKeys === true;
    this.scopes = new ScopePolicy(opts.scopes, opts.tools);
    this.issuerKeys = new Map(
      opts.issuers.map((i) => [i, new IssuerKeys(i, { cooldownMs: opts.jwksCooldownSeconds * 1000, maxAgeMs: opts.jwksMaxAgeSeconds * 1000 })]),
    );
    this.verifier = new TokenVerifier({
      issuers: this.issuerKeys,
      audience: opts.audience ?? opts.resource,
      algorithms: opts.algorithms,
      clockLeewaySeconds: opts.clockLeewaySeconds,
      introspector: opts.introspection ? new Introspector(opts.introspection) : null,
      ...(opts.introspectionIssuer === undefined ? {} : { introspectionIssuer: opts.introspectionIssuer }),
    });
    this.introspects = opts.introspection !== undefined;
    this.metadataUrl = metadataUrl(opts.resource);
    this.metadataPaths = metadataPaths(opts.resource);
    this.metadata = protectedResourceMetadata({ resource: opts.resource, authorizationServers: opts.issuers, scopes: this.scopes.supported });
    // A client that has no token yet is told every scope: which tools it will call is its own business.
    this.challengeScope = this.scopes.supported.join(' ');
  }

  /** Fetches every issuer's keys in the background, so the first request finds them and /ready can tell. */
  start(): void {
    for (const keys of this.issuerKeys.values()) void keys.refresh();
  }

  /** @param clientIp who presented the token: new opaque tokens are asked about within a budget per address. */
  async check(token: string, clientIp?: string): Promise<TokenAdmission> {
    const r = await this.verifier.verify(token, clientIp);
    if (!r.ok) return r;
    const { subject, clientId, issuer, scopes } = r.grant;
    return { ok: true, clientId: this.qualifySubjects ? `${issuer}#${subject}` : subject, allowedTools: this.scopes.allowedTools(scopes), grant: { issuer, clientId, scopes } };
  }

  /** True for an access token this server accepted and remembers by digest; the audit and log redactor asks. */
  knowsToken(candidate: string): boolean {
    return this.verifier.knows(candidate);
  }

  /** The `WWW-Authenticate` value of a 401: no `error` when nothing was presented. */
  challenge(error?: BearerError, description?: string): string {
    return bearerChallenge({ resourceMetadata: this.metadataUrl, scope: this.challengeScope, error, description });
  }

  /** The scope that would grant a tool, and the 403 challenge asking for it. */
  insufficientScope(toolName: string): { scope: string | null; challenge: string } {
    const scope = this.scopes.scopeFor(toolName);
    return {
      scope,
      challenge: bearerChallenge({
        resourceMetadata: this.metadataUrl,
        scope: scope ?? undefined,
        error: 'insufficient_scope',
        description: `tool ${toolName} needs ${scope ?? 'a scope this server does not grant'}`,
      }),
    };
  }

  /** Why tokens cannot be checked at all (no issuer has keys), for /ready; null when some can. */
  problem(): string | null {
    const problems = [...this.issuerKeys.values()].map((k) => k.problem);
    return problems.every((p) => p !== null) ? `oauth: ${problems.join('; ')}` : null;
  }
}
