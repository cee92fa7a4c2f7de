/**
 * The operations hooks on the main HTTP app: the drain gate (during shutdown
 * an MCP request gets 503 before any tool or limit is reached) and request counting for
 * /metrics. A handled request is counted in onAfterHandle; an error response
 * is counted by the app's one error mapping (countResponse), because Elysia
 * does not run afterHandle for errors. No onAfterResponse hook: Elysia
 * schedules a setImmediate closure per request for those; dropping the two we
 * had took an in-process tools/list from 17–22 µs to ~10 µs.
 */
import { Elysia } from 'elysia';
import { UnavailableError } from '../../core/errors.ts';
import { pathOf, stateOf } from '../request-state.ts';
import type { Lifecycle } from '../../ops/lifecycle.ts';
import type { Metrics } from '../../ops/metrics.ts';

/** Routes counted under their own label; anything else is "other" (bounded cardinality). */
const ROUTES = new Set(['/', '/mcp', '/health', '/ready', '/metrics']);

export function routeLabel(path: string): string {
  return ROUTES.has(path) ? path : 'other';
}

/** Counts one answered request under its route label and status. */
export function countResponse(metrics: Metrics, request: Request, status: number): void {
  metrics.countRequest(routeLabel(stateOf(request)?.path ?? pathOf(request.url)), status);
}

const shuttingDown = () => new UnavailableError('Service unavailable: the server is shutting down; retry on another instance', 1);

/**
 * The drain gate before any work: an MCP request other than a POST. A POST is judged once its message is read
 * (drainGateAfterRead): a notification — `notifications/cancelled` for a call still running — must reach the calls
 * the drain waits for, not be told to retry elsewhere while they run on.
 */
export function drainGate(lifecycle: Lifecycle) {
  return new Elysia({ name: 'hide/drain-gate' }).onRequest(({ request }) => {
    if (lifecycle.draining && request.method !== 'POST' && stateOf(request)?.protectedPath) throw shuttingDown();
  });
}

/** The drain gate for a POST, after its message is read and before any limit or tool: requests are refused, notifications pass. */
export function drainGateAfterRead(lifecycle: Lifecycle) {
  return new Elysia({ name: 'hide/drain-gate-after-read' }).onBeforeHandle({ as: 'global' }, ({ request }) => {
    if (!lifecycle.draining) return;
    const state = stateOf(request);
    if (state?.protectedPath && state.incoming?.message.kind === 'request') throw shuttingDown();
  });
}

export function requestMetrics(metrics: Metrics) {
  return new Elysia({ name: 'hide/request-metrics' }).onAfterHandle({ as: 'global' }, (ctx) => {
    const value = (ctx as { responseValue?: unknown }).responseValue;
    countResponse(metrics, ctx.request, value instanceof Response ? value.status : typeof ctx.set.status === 'number' ? ctx.set.status : 200);
  });
}
