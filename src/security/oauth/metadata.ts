/**
 * What this resource server tells clients about itself: the RFC 9728
 * protected resource metadata document, where it is served, and the RFC 6750
 * `WWW-Authenticate` challenges that point to it. Plain data; the HTTP routes
 * and error mapping only send it.
 */

const WELL_KNOWN = '/.well-known/oauth-protected-resource';

export interface ResourceDescription {
  /** The canonical resource URL (RFC 8707), as configured. */
  resource: string;
  /** Issuers of accepted tokens. */
  authorizationServers: readonly string[];
  scopes: readonly string[];
}

/** RFC 9728 section 3.1: the well-known path inserted between the host and the resource's path. */
export function metadataUrl(resource: string): string {
  const u = new URL(resource);
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
  return `${u.origin}${WELL_KNOWN}${path}`;
}

/**
 * Paths the document is served at on this server: the bare well-known path,
 * its `/mcp` form, and the form built from the resource's own path.
 */
export function metadataPaths(resource: string): string[] {
  const own = new URL(metadataUrl(resource)).pathname;
  return [...new Set([WELL_KNOWN, `${WELL_KNOWN}/mcp`, own])];
}

/** The RFC 9728 document. */
export function protectedResourceMetadata(d: ResourceDescription): Record<string, unknown> {
  return {
    resource: d.resource,
    authorization_servers: [...d.authorizationServers],
    scopes_supported: [...d.scopes],
    bearer_methods_supported: ['header'],
    resource_name: 'hide (headless IDE MCP server)',
  };
}

export type BearerError = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

/** Quotes an auth-param value (RFC 9110 quoted-string). */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

/**
 * A `WWW-Authenticate: Bearer` value. No `error` when the request sent no
 * credentials (RFC 6750 section 3.1); `resource_metadata` always, so a client
 * can discover the authorization server from any refusal.
 */
export function bearerChallenge(p: { resourceMetadata: string; scope?: string; error?: BearerError; description?: string }): string {
  const params = [`resource_metadata=${quoted(p.resourceMetadata)}`];
  if (p.scope) params.push(`scope=${quoted(p.scope)}`);
  if (p.error) params.push(`error=${quoted(p.error)}`);
  if (p.error && p.description) params.push(`error_description=${quoted(p.description.replace(/[^\x20-\x7e]/g, '?'))}`);
  return `Bearer ${params.join(', ')}`;
}
