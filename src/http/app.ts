/**
 * Composes the HTTP server: the security pipeline as named Elysia plugins in
 * request order, then the routes, then one error mapping.
 *
 *   onRequest     request state · drain gate (503 while shutting down) · IP filter · body limit · Origin
 *   resolve       API key → identity
 *   beforeHandle  read + classify the JSON-RPC message · limits (tools/call)
 *   handler       MCP dispatch (releases the concurrency slot when the call ends)
 *   afterHandle   count for /metrics
 *   error         one error mapping · count for /metrics · release a slot an error left taken
 *
 * /health, /ready, /metrics (when not on its own port) and the OAuth
 * protected resource metadata sit before auth.
 */
import type { Server } from 'bun';
import { Elysia } from 'elysia';
import type { CallContext } from '../core/context.ts';
import { MethodNotAllowedError } from '../core/errors.ts';
import { newCorrelationId } from '../mcp/correlation.ts';
import { countResponse, drainGate, drainGateAfterRead, requestMetrics } from './plugins/ops-hooks.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { errorResponse, jsonResponse } from './error-response.ts';
import { auth } from './plugins/auth.ts';
import { bodyLimit } from './plugins/body-limit.ts';
import { ipFilter } from './plugins/ip-filter.ts';
import { limits } from './plugins/limits.ts';
import { mcpMessage } from './plugins/mcp-message.ts';
import { hostCheck } from './plugins/host.ts';
import { originCheck } from './plugins/origin.ts';
import { MCP_PATHS, requestState } from './plugins/request-state.ts';
import { stateOf } from './request-state.ts';
import { healthRoutes } from './routes/health.ts';
import { mcpRoutes } from './routes/mcp.ts';
import { oauthMetadataRoutes } from './routes/oauth-metadata.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { readyRoutes } from './routes/ready.ts';

export function createHttpApp(rt: Runtime) {
  const contextOf = (request: Request): CallContext => {
    const state = stateOf(request)!;
    const id = state.identity;
    return {
      clientId: id?.clientId ?? state.clientIp,
      // Lazy too: a keyed tools/list never names its address (a tool call pins it at admission).
      get clientIp() {
        return state.clientIp;
      },
      apiKeyHash: id?.apiKeyHash ?? null,
      correlationId: state.correlationId,
      transport: 'http',
      // Lazy: Bun arms disconnect tracking when the signal is first read, and
      // only commands need it (tools/list stays on the fast path).
      get signal() {
        return request.signal;
      },
      allowedTools: id?.allowedTools ?? null,
      readOnly: id?.readOnly ?? false,
      oauth: id?.oauth,
    };
  };

  let self: { server: Server<unknown> | null } | null = null;
  // onError first: Elysia applies a hook only to routes registered after it.
  // Elysia listens with SO_REUSEPORT unless told not to: any process of the same user (a sandboxed command with the
  // network on, another server) could then bind this port too and take a share of the connections, keys and all.
  const app = new Elysia({ name: 'hide', serve: { reusePort: false } })
    .onError({ as: 'global' }, ({ code, error, request }) => {
      const state = stateOf(request);
      const correlationId = state?.correlationId ?? newCorrelationId();
      // A method no route names (TRACE, PROPFIND, QUERY…) on an MCP path is still a wrong method there.
      const wrongMethod = code === 'NOT_FOUND' && MCP_PATHS.has(state?.path ?? '');
      const res =
        code === 'NOT_FOUND' && !wrongMethod
          ? jsonResponse(404, JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32601, message: 'Not found: MCP is served at POST /mcp and POST /' } }), {
              'x-correlation-id': correlationId,
            })
          : errorResponse(wrongMethod ? new MethodNotAllowedError('POST') : error, state?.rpcId ?? null, correlationId);
      // Elysia runs no afterHandle for an error: count it here. An error after
      // admission (e.g. 406 from the route) must not keep the slot; release is idempotent.
      // Refused before its body was read (401, 403, 404, 413…): the body may still be on its way, a byte now and then,
      // and the runtime would go on reading it for as long as it comes. Nothing more is taken from the connection.
      if (request.body !== null && !request.bodyUsed) res.headers.set('connection', 'close');
      countResponse(rt.ops.metrics, request, res.status);
      state?.admission?.release();
      return res;
    })
    .use(requestState(rt.security.opts.ipFilter, () => self?.server))
    .use(drainGate(rt.ops.lifecycle))
    .use(requestMetrics(rt.ops.metrics))
    .use(ipFilter(rt.security))
    .use(bodyLimit(rt.config.maxBodyBytes))
    .use(hostCheck(rt.security))
    .use(originCheck(rt.security))
    .use(healthRoutes(() => rt.healthExtra()))
    .use(readyRoutes(() => rt.ops.lifecycle.readiness()))
    .use(oauthMetadataRoutes(rt.security.opts.oauth))
    .use(rt.config.metrics.port === undefined ? metricsRoutes(rt.ops.metrics, rt.config.metrics.token) : new Elysia({ name: 'hide/metrics-elsewhere' }))
    .use(auth(rt.security, rt.config.auth.header))
    .use(
      mcpMessage(
        rt.core,
        rt.config.maxBodyBytes,
        rt.config.bodyTimeoutSeconds * 1000,
        (request, error) => rt.security.bodiesRefused(contextOf(request), error),
        (request, read, error) => rt.core.refusedRead(contextOf(request), read, error),
      ),
    )
    .use(drainGateAfterRead(rt.ops.lifecycle))
    .use(limits(rt.security, rt.core.dispatcher, contextOf))
    .use(mcpRoutes(rt.core, contextOf));
  self = app;
  return app;
}
