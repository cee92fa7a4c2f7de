/**
 * The security policy in request order — IP allowlist, Origin, API key,
 * per-tool permission, limits, audit — as plain methods shared by the HTTP
 * plugins and the stdio loop. It decides and records; it never builds an HTTP
 * response (refusals are thrown as HideError subclasses). A refusal's stderr
 * warning goes to the audit sink with its event, so the refusal throttle
 * bounds both alike.
 */
import type { CallContext, OAuthGrant } from '../core/context.ts';
import { ForbiddenError, RateLimitError, UnauthorizedError, UnavailableError } from '../core/errors.ts';
import type { Admission, LimitedCall, RefusedCall, ToolCallGate, ToolCallRecord } from '../mcp/gate.ts';
import { type ToolDefinition, toolPermitted } from '../tools/types.ts';
import type { AuditEvent, AuditEventType, AuditSink } from '../audit/event.ts';
import type { IpFilter } from './ip.ts';
import type { AuthResult, KeyStore } from './keys.ts';
import type { Limiter } from './limiter.ts';
import type { HostPolicy } from './host.ts';
import type { OAuthGuard } from './oauth/guard.ts';
import type { BearerError } from './oauth/metadata.ts';
import { callerSource } from './body-budget.ts';
import { looksLikeJwt } from './oauth/jwt-shape.ts';
import type { OriginPolicy } from './origin.ts';

export interface Identity {
  clientId: string;
  apiKeyHash: string | null;
  allowedTools: ReadonlySet<string> | null;
  readOnly: boolean;
  /** Present only for a caller signed in with an OAuth access token. */
  oauth?: OAuthGrant;
}

/** The credentials a request presented, already pulled out of its headers. */
export interface PresentedCredentials {
  /**
   * Header names paired with the values found, in the order checked.
   * `malformed`: an Authorization header that is not `Bearer <credential>`,
   * presented so that it is refused, never taken as a key or token as it is.
   */
  found: Array<{ header: string; value: string; malformed?: true }>;
  /** The header we ask for in WWW-Authenticate and error data. */
  preferredHeader: string;
}

/** Why an Authorization header that is not the RFC 6750 form is refused, whatever it holds (a bare key, Basic). */
const MALFORMED_AUTHORIZATION = 'Authorization header is not "Bearer <credential>"';

export interface RequestFacts {
  clientIp: string;
  correlationId: string;
}

/** The audit line's `oauth` field for a caller signed in with a token. */
function oauthFields(ctx: Pick<CallContext, 'oauth'>): Partial<AuditEvent> {
  return ctx.oauth ? { oauth: { issuer: ctx.oauth.issuer, client_id: ctx.oauth.clientId, scopes: ctx.oauth.scopes } } : {};
}

/** Who called which tool, as every line about a tool call of a signed-in caller names it. */
function callFields(ctx: Pick<CallContext, 'clientId' | 'apiKeyHash' | 'oauth'>, toolName: string, user: string | null): Partial<AuditEvent> {
  return { client_id: ctx.clientId, api_key_hash: ctx.apiKeyHash, user, tool_name: toolName, ...oauthFields(ctx) };
}

function event(type: AuditEventType, facts: RequestFacts, extra: Partial<AuditEvent>): AuditEvent {
  return {
    event_type: type,
    correlation_id: facts.correlationId,
    client_id: null,
    client_ip: facts.clientIp,
    api_key_hash: null,
    user: null,
    tool_name: null,
    arguments: null,
    result: null,
    error: null,
    ...extra,
  };
}

/** Retry-After of a call refused while the audit log cannot be written: the writer tries the disk again every second. */
export const AUDIT_RETRY_AFTER_SECONDS = 1;

/**
 * Retry-After of a request whose token could not be checked now: the
 * introspection endpoint's timeout, and about what a key set fetch needs.
 */
export const TOKEN_CHECK_RETRY_AFTER_SECONDS = 5;

export class SecurityPipeline implements ToolCallGate {
  constructor(
    readonly opts: {
      authEnabled: boolean;
      keyStore: KeyStore | null;
      ipFilter: IpFilter;
      origins: OriginPolicy;
      hosts: HostPolicy;
      limiter: Limiter;
      audit: AuditSink;
      /** OAuth access tokens are accepted (HIDE_AUTH_MODE oauth, or both with keyStore). */
      oauth?: OAuthGuard | null;
      /**
       * HIDE_AUDIT_ON_ERROR=refuse: true while the audit log cannot be
       * written, and every tool call is refused (503) rather than run unaudited.
       */
      auditFailing?: () => boolean;
    },
  ) {}

  /** Throws ForbiddenError (and audits) when the address is not allowed. */
  checkIp(facts: RequestFacts): void {
    // Without an allowlist the address is not looked up here (finding it costs a system call).
    if (!this.opts.ipFilter.restricts || this.opts.ipFilter.isAllowed(facts.clientIp)) return;
    this.opts.audit.write(event('ip_denied', facts, { error: 'client IP not in allowlist' }), `request refused: client IP ${facts.clientIp} is not in the allowlist`);
    throw new ForbiddenError('Forbidden: client IP is not allowed', { reason: 'ip' });
  }

  /** Throws ForbiddenError (and audits) for a browser Origin that is not allowed (DNS rebinding). */
  checkOrigin(origin: string | null, facts: RequestFacts): void {
    if (origin === null || this.opts.origins.allows(origin)) return;
    this.opts.audit.write(
      event('origin_denied', facts, { error: `origin not allowed: ${origin.slice(0, 200)}` }),
      `request refused: Origin ${origin.slice(0, 200)} is not allowed. Client IP: ${facts.clientIp}`,
    );
    throw new ForbiddenError('Forbidden: Origin is not allowed', { reason: 'origin' });
  }

  /** Throws ForbiddenError (and audits) for a `Host` the server does not answer to (DNS rebinding without an Origin). */
  checkHost(host: string | null, facts: RequestFacts): void {
    if (this.opts.hosts.allows(host)) return;
    const shown = host === null ? 'none' : host.slice(0, 200);
    this.opts.audit.write(event('host_denied', facts, { error: `host not allowed: ${shown}` }), `request refused: Host ${shown} is not allowed. Client IP: ${facts.clientIp}`);
    throw new ForbiddenError('Forbidden: Host is not allowed', { reason: 'host' });
  }

  /**
   * Resolves who is calling, or throws UnauthorizedError (and audits, with a
   * warning naming the IP for the operator's log). Synchronous for API keys;
   * a promise when an OAuth token has to be checked.
   */
  authenticate(creds: PresentedCredentials, facts: RequestFacts): Identity | Promise<Identity> {
    const oauth = this.opts.oauth;
    if (oauth) return this.authenticateWithOAuth(oauth, creds, facts);
    if (!this.opts.authEnabled || !this.opts.keyStore) {
      return { clientId: facts.clientIp, apiKeyHash: null, allowedTools: null, readOnly: false };
    }
    return this.authenticateKey(creds, facts, (reason) => new UnauthorizedError(`Unauthorized: ${reason}`, creds.preferredHeader));
  }

  private refuse(facts: RequestFacts, reason: string, keyHash: string | null, error: UnauthorizedError, what: string): never {
    this.opts.audit.write(event('auth_failure', facts, { api_key_hash: keyHash, error: reason }), `${what} authentication failed: ${reason}. Client IP: ${facts.clientIp}`);
    throw error;
  }

  /** `checked`: the key store's answer for the presented value, when the caller already asked it. */
  private authenticateKey(creds: PresentedCredentials, facts: RequestFacts, refusal: (reason: string) => UnauthorizedError, checked?: AuthResult): Identity {
    const fail = (reason: string, keyHash: string | null): never => this.refuse(facts, reason, keyHash, refusal(reason), 'API key');
    if (creds.found.length === 0) return fail('missing API key', null);
    if (creds.found.some((c) => c.malformed)) return fail(MALFORMED_AUTHORIZATION, null);
    const presented = creds.found[0]!.value;
    if (creds.found.some((c) => c.value !== presented)) return fail('conflicting credentials in more than one header', null);
    const result = checked ?? this.opts.keyStore!.authenticate(presented);
    if (!result.ok) {
      const why = result.reason === 'disabled' ? 'API key is disabled' : result.reason === 'missing' ? 'missing API key' : 'invalid API key';
      return fail(why, result.keyHash);
    }
    return {
      clientId: result.client.clientId,
      apiKeyHash: result.keyHash,
      allowedTools: result.client.tools,
      readOnly: result.client.readOnly,
    };
  }

  /**
   * `oauth` mode: an access token in `Authorization: Bearer`. `both`: that or
   * an API key; a request presenting a key and a token is ambiguous and
   * refused. Every refusal points the client at the resource metadata.
   */
  private authenticateWithOAuth(oauth: OAuthGuard, creds: PresentedCredentials, facts: RequestFacts): Identity | Promise<Identity> {
    // `error` null: nothing was presented, so the challenge names no error (RFC 6750 section 3.1).
    const refusal = (reason: string, error: BearerError | null = 'invalid_token') =>
      new UnauthorizedError(`Unauthorized: ${reason}`, 'Authorization', error ? oauth.challenge(error, reason) : oauth.challenge());
    const fail = (reason: string, error?: BearerError | null): never => this.refuse(facts, reason, null, refusal(reason, error), 'OAuth');
    const keys = this.opts.keyStore;
    if (creds.found.length === 0) return fail(keys ? 'missing access token or API key' : 'missing access token', null);
    if (creds.found.some((c) => c.malformed)) return fail(MALFORMED_AUTHORIZATION);
    if (new Set(creds.found.map((c) => c.value)).size > 1) {
      return fail('ambiguous credentials (more than one presented: an API key and a token, or two different values)', 'invalid_request');
    }
    const value = creds.found[0]!.value;
    const fromAuthorization = creds.found.some((c) => c.header === 'authorization');
    if (!fromAuthorization) {
      if (!keys) return fail(`API keys are not accepted here (${creds.found[0]!.header}); send an OAuth access token in Authorization: Bearer`);
      return this.authenticateKey(creds, facts, (reason) => refusal(reason));
    }
    // An API key may also arrive as a bearer value. One the key store knows (enabled or disabled) is a key whatever
    // its shape — a keys-file key may have two dots — and is never sent to the introspection endpoint; any other
    // value that is not a JWT is a key too unless introspection can judge it.
    const asKey = keys?.authenticate(value);
    const known = asKey !== undefined && (asKey.ok || asKey.reason === 'disabled');
    if (asKey && (known || (!looksLikeJwt(value) && !oauth.introspects))) return this.authenticateKey(creds, facts, (reason) => refusal(reason), asKey);
    return oauth.check(value, facts.clientIp).then((r) => {
      if (!r.ok && r.retryAfterSeconds !== undefined) {
        this.opts.audit.write(event('rate_limit_exceeded', facts, { error: r.reason, result: { reason: 'token_checks', retryAfterSeconds: r.retryAfterSeconds } }));
        throw new RateLimitError(`Rate limited: ${r.reason}`, r.retryAfterSeconds, { reason: 'token_checks' });
      }
      // Not the client's fault: a 401 would send it to sign in again, for an outage of the authorization server.
      if (!r.ok && r.unavailable) {
        const unavailable = new UnavailableError(`Service unavailable: the access token cannot be checked now (${r.reason})`, TOKEN_CHECK_RETRY_AFTER_SECONDS, { reason: 'token_check' });
        const detail = r.detail ?? r.reason;
        this.opts.audit.write(event('auth_failure', facts, { error: detail }), `OAuth token could not be checked: ${detail}. Client IP: ${facts.clientIp}`);
        throw unavailable;
      }
      if (!r.ok) return fail(r.reason);
      return { clientId: r.clientId, apiKeyHash: null, allowedTools: r.allowedTools, readOnly: false, oauth: r.grant };
    });
  }

  private facts(ctx: CallContext, correlationId: string): RequestFacts {
    return { clientIp: ctx.clientIp, correlationId };
  }

  /** Permission, then RPM window and concurrency slot (ToolCallGate). */
  async admit(ctx: CallContext, tool: ToolDefinition, correlationId: string, user: string | null): Promise<Admission> {
    const base = callFields(ctx, tool.name, user);
    if (!toolPermitted(tool, ctx)) {
      const oauth = ctx.oauth ? this.opts.oauth : null;
      if (oauth) {
        const { scope, challenge } = oauth.insufficientScope(tool.name);
        this.opts.audit.write(event('permission_denied', this.facts(ctx, correlationId), { ...base, error: `token lacks scope ${scope ?? '(none grants this tool)'}` }));
        throw new ForbiddenError(
          `Forbidden: client '${ctx.clientId}' may not call tool '${tool.name}': insufficient scope`,
          { reason: 'scope', tool: tool.name, scope },
          { 'WWW-Authenticate': challenge },
        );
      }
      this.opts.audit.write(event('permission_denied', this.facts(ctx, correlationId), { ...base, error: 'tool not permitted for this client' }));
      throw new ForbiddenError(`Forbidden: client '${ctx.clientId}' may not call tool '${tool.name}'`, { reason: 'tool', tool: tool.name });
    }
    if (this.opts.auditFailing?.()) {
      // Its line is most likely lost with the others; written all the same, it is one more try at the disk.
      const what = 'audit log not writable';
      this.opts.audit.write(
        event('rate_limit_exceeded', this.facts(ctx, correlationId), { ...base, error: what, result: { reason: 'audit', retryAfterSeconds: AUDIT_RETRY_AFTER_SECONDS } }),
      );
      throw new UnavailableError(`Service unavailable: ${what}`, AUDIT_RETRY_AFTER_SECONDS, { reason: 'audit' });
    }
    // A caller who signs in is limited as its client; one who does not (authentication off), as its address's source.
    const got = await this.opts.limiter.acquire(callerSource(ctx, () => ctx.clientIp));
    if (got.ok) {
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          void got.release();
        },
      };
    }
    const what =
      got.reason === 'rpm' ? 'requests-per-minute limit reached' : got.reason === 'concurrency' ? 'concurrent call limit reached' : 'rate-limit store unavailable';
    this.opts.audit.write(
      event('rate_limit_exceeded', this.facts(ctx, correlationId), { ...base, error: what, result: { reason: got.reason, retryAfterSeconds: got.retryAfterSeconds } }),
    );
    if (got.reason === 'store_unavailable') throw new UnavailableError(`Service unavailable: ${what}`, got.retryAfterSeconds, { reason: got.reason });
    throw new RateLimitError(`Too many requests: ${what}`, got.retryAfterSeconds, { reason: got.reason });
  }

  /**
   * The key is checked on the headers; the body comes up to
   * HIDE_BODY_TIMEOUT_SECONDS later, and a keys reload between the two
   * (the key replaced, its client disabled, the tool taken away) must stop
   * the call too, or a request held open with its body unsent would run with
   * a revoked key. Checked right before the call runs.
   */
  stillGranted(ctx: CallContext, tool: ToolDefinition, correlationId: string, user: string | null): void {
    const keys = this.opts.keyStore;
    if (keys === null || ctx.apiKeyHash === null) return;
    const client = keys.clientOfKey(ctx.apiKeyHash);
    const facts = this.facts(ctx, correlationId);
    if (client === null || client.clientId !== ctx.clientId) {
      const reason = 'API key revoked or replaced since the request began';
      this.opts.audit.write(event('auth_failure', facts, { ...callFields(ctx, tool.name, user), error: reason }), `API key authentication failed: ${reason}. Client IP: ${ctx.clientIp}`);
      throw new UnauthorizedError(`Unauthorized: ${reason}`, 'Authorization');
    }
    if (!toolPermitted(tool, { allowedTools: client.tools, readOnly: client.readOnly })) {
      this.opts.audit.write(event('permission_denied', facts, { ...callFields(ctx, tool.name, user), error: 'tool not permitted for this client' }));
      throw new ForbiddenError(`Forbidden: client '${ctx.clientId}' may not call tool '${tool.name}'`, { reason: 'tool', tool: tool.name });
    }
  }

  /** A request body refused before it was read: its client (or everyone) had as many arriving at once as BodyBudget allows. */
  bodiesRefused(ctx: CallContext, error: string): void {
    const fields = { client_id: ctx.clientId, api_key_hash: ctx.apiKeyHash, ...oauthFields(ctx) };
    this.opts.audit.write(event('rate_limit_exceeded', this.facts(ctx, ctx.correlationId), { ...fields, error, result: { reason: 'request_bodies', retryAfterSeconds: 1 } }));
  }

  refused(ctx: CallContext, r: RefusedCall): void {
    const fields = { client_id: ctx.clientId, api_key_hash: ctx.apiKeyHash, tool_name: r.toolName, ...oauthFields(ctx) };
    this.opts.audit.write(event('request_refused', this.facts(ctx, r.correlationId), { ...fields, error: r.error, result: { code: r.code, status: r.status } }));
  }

  limited(ctx: CallContext, r: LimitedCall): void {
    const base = callFields(ctx, r.toolName, r.user);
    this.opts.audit.write(event('rate_limit_exceeded', this.facts(ctx, r.correlationId), { ...base, error: r.error, result: r.result }));
  }

  record(ctx: CallContext, r: ToolCallRecord): void {
    this.opts.audit.write({
      event_type: 'tool_call',
      correlation_id: r.correlationId,
      client_id: ctx.clientId,
      client_ip: ctx.clientIp,
      api_key_hash: ctx.apiKeyHash,
      user: r.user,
      tool_name: r.toolName,
      arguments: r.arguments,
      ...(r.argumentsTaken === undefined ? {} : { digestedArguments: r.argumentsTaken }),
      result: r.result === null ? null : { ...r.result, durationMs: Math.round(r.durationMs) },
      error: r.error,
      ...oauthFields(ctx),
    });
  }
}
