/**
 * GET /metrics in Prometheus text format, behind its own optional bearer
 * token (HIDE_METRICS_TOKEN), not the API keys: scrapers are not MCP clients.
 * The same handler serves the separate listener when HIDE_METRICS_PORT is set.
 */
import { Elysia } from 'elysia';
import { correlationIdFromHeader } from '../../mcp/correlation.ts';
import type { Metrics } from '../../ops/metrics.ts';
import { ForbiddenError } from '../../core/errors.ts';
import type { SecurityPipeline } from '../../security/pipeline.ts';
import { pathOf } from '../request-state.ts';

const digest = (s: string) => new Bun.CryptoHasher('sha256').update(s).digest();

/** Answers a /metrics request (token checked); other paths: 404. */
export function metricsHandler(metrics: Metrics, token: string | undefined): (request: Request) => Response {
  const want = token === undefined ? null : digest(token);
  return (request) => {
    if (pathOf(request.url) !== '/metrics') return new Response('not found\n', { status: 404 });
    if (request.method !== 'GET' && request.method !== 'HEAD') return new Response('method not allowed\n', { status: 405, headers: { Allow: 'GET' } });
    if (want !== null) {
      const m = /^Bearer (\S+)$/.exec(request.headers.get('authorization') ?? '');
      // Compare digests so the comparison takes the same time whatever the length.
      if (!m || !crypto.timingSafeEqual(digest(m[1]!), want)) {
        return new Response('unauthorized\n', { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="hide-metrics"' } });
      }
    }
    return new Response(metrics.render(), { headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } });
  };
}

export function metricsRoutes(metrics: Metrics, token: string | undefined) {
  const handle = metricsHandler(metrics, token);
  return new Elysia({ name: 'hide/metrics' }).get('/metrics', ({ request }) => handle(request));
}

/**
 * The fetch of the separate listener (HIDE_METRICS_PORT): the Host check the
 * main port runs on every path, audited alike, then the handler. A page that
 * rebinds its own name to this address could otherwise read the metrics.
 */
export function metricsListenerFetch(handle: (request: Request) => Response, security: SecurityPipeline) {
  return (request: Request, server: { requestIP(r: Request): { address: string } | null }): Response => {
    try {
      security.checkHost(request.headers.get('host'), {
        clientIp: server.requestIP(request)?.address ?? 'unknown',
        correlationId: correlationIdFromHeader(request.headers.get('x-correlation-id')),
      });
    } catch (err) {
      if (err instanceof ForbiddenError) return new Response('forbidden: Host is not allowed\n', { status: 403 });
      throw err;
    }
    return handle(request);
  };
}
