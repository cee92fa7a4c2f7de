/**
 * GET /ready: 200 when this instance should get traffic; 503 while starting,
 * draining for shutdown, or when a required service (the Redis limit store
 * with HIDE_RATE_LIMIT_ON_STORE_ERROR=deny) is down. Open like /health.
 */
import { Elysia } from 'elysia';
import type { Readiness } from '../../ops/lifecycle.ts';
import { jsonResponse } from '../error-response.ts';

export function readyResponse(r: Readiness): Response {
  const body = r.ready ? { status: 'ready' } : { status: 'not_ready', phase: r.phase, reasons: r.reasons };
  return jsonResponse(r.ready ? 200 : 503, JSON.stringify(body), r.ready ? {} : { 'Retry-After': '1' });
}

export function readyRoutes(readiness: () => Readiness) {
  return new Elysia({ name: 'hide/ready' }).get('/ready', () => readyResponse(readiness()));
}
