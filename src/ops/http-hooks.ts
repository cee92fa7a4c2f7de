/**
 * The operations hooks on the main HTTP app: the drain gate (during shutdown
 * an MCP request gets 503 before any work is done) and request counting for
 * /metrics. Counting runs after the response is sent; Elysia leaves
 * `responseValue` empty for error responses and `set.status` is not always
 * the status sent, so the one error mapping in app.ts notes the status of
 * each error response (noteErrorStatus) for us to read here.
 */
import { Elysia } from 'elysia';
import { UnavailableError } from '../errors.ts';
import { pathOf, stateOf } from '../http/request-state.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { Metrics } from './metrics.ts';

/** Routes counted under their own label; anything else is "other" (bounded cardinality). */
const ROUTES = new Set(['/', '/mcp', '/health', '/ready', '/metrics']);

export function routeLabel(path: string): string {
  return ROUTES.has(path) ? path : 'other';
}

const errorStatus = new WeakMap<Request, number>();

/** Records the status of an error response (called by the app's error mapping). */
export function noteErrorStatus(request: Request, status: number): void {
  errorStatus.set(request, status);
}

export function drainGate(lifecycle: Lifecycle) {
  return new Elysia({ name: 'hide/drain-gate' }).onRequest(({ request }) => {
    if (lifecycle.draining && stateOf(request)?.protectedPath) {
      throw new UnavailableError('Service unavailable: the server is shutting down; retry on another instance', 1);
    }
  });
}

export function requestMetrics(metrics: Metrics) {
  return new Elysia({ name: 'hide/request-metrics' }).onAfterResponse({ as: 'global' }, (ctx) => {
    const { request, set } = ctx;
    const value = (ctx as { responseValue?: unknown }).responseValue;
    const status = errorStatus.get(request) ?? (value instanceof Response ? value.status : typeof set.status === 'number' ? set.status : 200);
    metrics.countRequest(routeLabel(stateOf(request)?.path ?? pathOf(request.url)), status);
  });
}
