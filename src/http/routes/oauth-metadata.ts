/**
 * GET /.well-known/oauth-protected-resource (and its path-suffixed forms):
 * the RFC 9728 document MCP clients discover the authorization server from.
 * Open like /health — a client reads it before it has any credential — and
 * readable from browser-based clients (CORS `*`, preflight included: it holds
 * nothing private).
 */
import { Elysia } from 'elysia';
import type { OAuthGuard } from '../../security/oauth/guard.ts';
import { jsonResponse } from '../error-response.ts';

export function oauthMetadataRoutes(guard: OAuthGuard | null | undefined) {
  const app = new Elysia({ name: 'hide/oauth-metadata' });
  if (!guard) return app;
  const body = JSON.stringify(guard.metadata);
  const headers = { 'cache-control': 'public, max-age=300', 'access-control-allow-origin': '*' };
  // A browser client that sends a header of its own (the MCP SDK sends MCP-Protocol-Version) asks first with a preflight.
  const preflight = {
    'access-control-allow-origin': '*',
    'access-control-allow-methods': 'GET',
    'access-control-allow-headers': '*',
    'access-control-max-age': '86400',
  };
  for (const path of guard.metadataPaths) {
    app.get(path, () => jsonResponse(200, body, headers));
    app.options(path, () => new Response(null, { status: 204, headers: preflight }));
  }
  return app;
}
