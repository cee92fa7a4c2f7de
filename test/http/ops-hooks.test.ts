/**
 * The operations hooks (src/http/plugins/ops-hooks.ts): the drain gate, which
 * answers an MCP request 503 with Retry-After once shutdown began (before any
 * work) while /health keeps answering, and request counting for /metrics by
 * route label and status. Real Lifecycle and Metrics; app.handle, no socket
 * needed.
 */
import { describe, expect, test } from 'bun:test';
import { Elysia } from 'elysia';
import { errorResponse } from '../../src/http/error-response.ts';
import { countResponse, drainGate, requestMetrics, routeLabel } from '../../src/http/plugins/ops-hooks.ts';
import { requestState } from '../../src/http/plugins/request-state.ts';
import { stateOf } from '../../src/http/request-state.ts';
import { Lifecycle } from '../../src/ops/lifecycle.ts';
import { Metrics } from '../../src/ops/metrics.ts';
import { IpFilter } from '../../src/security/ip.ts';
import { probeRoutes } from './harness.ts';

function build(wrap = false) {
  const lifecycle = new Lifecycle();
  lifecycle.markReady();
  const metrics = new Metrics();
  const ran: string[] = [];
  const plugins = new Elysia({ name: 'ops' }).use(drainGate(lifecycle)).use(requestMetrics(metrics));
  const base = new Elysia()
    // As the app's one error mapping does: an error response is counted there, since Elysia runs no afterHandle for it.
    .onError({ as: 'global' }, ({ error, request }) => {
      const res = errorResponse(error, stateOf(request)?.rpcId ?? null, stateOf(request)?.correlationId ?? 'none');
      countResponse(metrics, request, res.status);
      return res;
    })
    .use(requestState(new IpFilter(), () => null))
    // wrap: the plugins one level further down; their hooks must still reach this app's routes.
    .use(wrap ? new Elysia({ name: 'wrapper' }).use(plugins) : plugins);
  const app = probeRoutes(base as unknown as Elysia, ran)
    // A method the gate judges before any work (a POST waits for its message to be read).
    .delete('/mcp', () => {
      ran.push('/mcp');
      return { ok: true };
    })
    .get('/accepted', ({ set }) => {
      ran.push('/accepted');
      set.status = 202;
      return { ok: true };
    })
    .get('/gone', () => {
      ran.push('/gone');
      return new Response(null, { status: 204 });
    });
  return { app, ran, lifecycle, metrics };
}

async function call(app: ReturnType<typeof build>['app'], path: string, method = 'GET') {
  const res = await app.handle(new Request(`http://localhost${path}`, { method }));
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: res.status === 204 ? null : await res.json() };
}

/** The hide_http_requests_total samples, sorted. */
function requestCounts(metrics: Metrics): string[] {
  return metrics
    .render()
    .split('\n')
    .filter((l) => l.startsWith('hide_http_requests_total{'))
    .sort();
}

const ok = { status: 200, retryAfter: null, body: { ok: true } };
const draining = {
  status: 503,
  retryAfter: '1',
  body: { jsonrpc: '2.0', id: null, error: { code: -31503, message: 'Service unavailable: the server is shutting down; retry on another instance' } },
};

describe('drain gate', () => {
  test('while ready, MCP requests pass', async () => {
    const { app, ran } = build();
    expect({ res: await call(app, '/mcp', 'POST'), ran }).toEqual({ res: ok, ran: ['/mcp'] });
  });

  // A POST is judged once its message is read (drainGateAfterRead, test/ops/shutdown.test.ts): a notification passes.
  test('once draining, an MCP request other than a POST gets 503 with Retry-After and the handler does not run; /health still answers', async () => {
    const { app, ran, lifecycle } = build();
    lifecycle.startDraining();
    const results = [await call(app, '/mcp', 'DELETE'), await call(app, '/health')];
    expect({ results, ran }).toEqual({ results: [draining, ok], ran: ['/health'] });
  });
});

describe('request metrics', () => {
  test('handled responses are counted by route label and status', async () => {
    const { app, metrics } = build();
    for (const [path, method] of [['/mcp', 'POST'], ['/health', 'GET'], ['/health', 'GET'], ['/accepted', 'GET'], ['/gone', 'GET']] as const) {
      await call(app, path, method);
    }
    expect(requestCounts(metrics)).toEqual([
      'hide_http_requests_total{route="/health",status="200"} 2',
      'hide_http_requests_total{route="/mcp",status="200"} 1',
      'hide_http_requests_total{route="other",status="202"} 1',
      'hide_http_requests_total{route="other",status="204"} 1',
    ]);
  });

  test('route labels come from a bounded set', () => {
    expect(['/', '/mcp', '/health', '/ready', '/metrics', '/mcp/', '/x', '/health/../mcp'].map(routeLabel)).toEqual([
      '/',
      '/mcp',
      '/health',
      '/ready',
      '/metrics',
      'other',
      'other',
      'other',
    ]);
  });
});

describe('hook scope', () => {
  test('nested inside other plugins, the gate and the counting still reach the outer app', async () => {
    const { app, ran, lifecycle, metrics } = build(true);
    const before = await call(app, '/mcp', 'DELETE');
    lifecycle.startDraining();
    const after = await call(app, '/mcp', 'DELETE');
    expect({ results: [before, after], ran, counts: requestCounts(metrics) }).toEqual({
      results: [ok, draining],
      ran: ['/mcp'],
      // The 200 by the afterHandle hook, the 503 by countResponse in the error mapping.
      counts: ['hide_http_requests_total{route="/mcp",status="200"} 1', 'hide_http_requests_total{route="/mcp",status="503"} 1'],
    });
  });
});
