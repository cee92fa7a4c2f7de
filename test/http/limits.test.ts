/**
 * The limits plugin (src/http/plugins/limits.ts): a tools/call takes its
 * per-client RPM count and concurrency slot before the handler; a refusal is
 * 429 with Retry-After (503 with Retry-After when the limit store is down) or
 * 403 for a tool the client may not call, and the handler never runs; other
 * methods and unknown tools are never limited. Smallest app: request state and
 * mcp-message (the limits hook reads the message they leave), the app's error
 * mapping, and a route that records each admission it got. Real
 * MemoryLimiter (with a fixed clock, so Retry-After is exact) and
 * SecurityPipeline; app.handle, no socket needed.
 */
import { describe, expect, test } from 'bun:test';
import * as v from 'valibot';
import { type AnyElysia, Elysia } from 'elysia';
import type { CallContext } from '../../src/core/context.ts';
import { configureLogger, logger } from '../../src/core/log.ts';
import { limits } from '../../src/http/plugins/limits.ts';
import { mcpMessage } from '../../src/http/plugins/mcp-message.ts';
import { stateOf } from '../../src/http/request-state.ts';
import { McpCore } from '../../src/mcp/core.ts';
import { McpDispatcher } from '../../src/mcp/dispatcher.ts';
import type { Admission } from '../../src/mcp/gate.ts';
import type { Limiter } from '../../src/security/limiter.ts';
import { MemoryLimiter } from '../../src/security/memory-limiter.ts';
import { RedisLimiter } from '../../src/security/redis-limiter.ts';
import { ToolRegistry } from '../../src/tools/registry.ts';
import { defineTool, toolOutput } from '../../src/tools/types.ts';
import { pluginApp, testPipeline } from './harness.ts';

configureLogger({ level: 'silent', format: 'json' });

const probe = defineTool({
  name: 'probe',
  title: 'Probe',
  description: 'test tool',
  inputSchema: v.object({}),
  outputSchema: toolOutput({}),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  readOnly: true,
  handler: async () => ({ structured: { error: null }, isError: false }),
});

/**
 * @param limiter the limit store
 * @param allowedTools what the caller's identity may call (null: everything)
 * The client is named by the `x-client` header (its identity, as auth would resolve it).
 */
function build(
  limiter: Limiter,
  opts: {
    allowedTools?: Set<string> | null;
    wrap?: boolean;
    auditFailing?: () => boolean;
    serverOf?: () => { requestIP(r: Request): { address: string } | null };
    /** Plugins that run before the limits (the message core always does). */
    before?: AnyElysia[];
  } = {},
) {
  const security = testPipeline({ limiter, auditFailing: opts.auditFailing });
  const dispatcher = new McpDispatcher(new ToolRegistry([probe]), security);
  const contextOf = (request: Request): CallContext => {
    const state = stateOf(request)!;
    const clientId = request.headers.get('x-client') ?? 'c1';
    return {
      clientId,
      clientIp: state.clientIp,
      // Signed in, as auth would resolve it: limited as its client (one that is not is limited as its address).
      apiKeyHash: `key-of-${clientId}`,
      correlationId: state.correlationId,
      transport: 'http',
      signal: request.signal,
      allowedTools: opts.allowedTools ?? null,
      readOnly: false,
    };
  };
  /** Admissions the handler got and kept (x-hold: 1); the others it released at once. */
  const held: Admission[] = [];
  const ran: string[] = [];
  // wrap: its `global` hook must still reach this app's routes.
  const app = pluginApp(limits(security, dispatcher, contextOf), { wrap: opts.wrap, serverOf: opts.serverOf, before: [mcpMessage(new McpCore(dispatcher), 4096, 30_000), ...(opts.before ?? [])] })
    .post(
      '/mcp',
      ({ request }) => {
        const state = stateOf(request)!;
        const msg = state.incoming!.message;
        ran.push(msg.kind === 'request' ? msg.method : msg.kind);
        const admitted = state.admission !== undefined;
        if (request.headers.get('x-hold') === '1') held.push(state.admission!);
        else state.admission?.release();
        return { admitted };
      },
      { parse: 'none' },
    );
  return { app, ran, held };
}

let nextId = 1;
async function call(
  app: ReturnType<typeof build>['app'],
  method: string,
  params: Record<string, unknown> = {},
  headers: Record<string, string> = {},
  signal?: AbortSignal,
) {
  const id = nextId++;
  const res = await app.handle(
    new Request('http://localhost/mcp', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
      signal,
    }),
  );
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() };
}

const TOOL = { name: 'probe', arguments: {} };
const admitted = { status: 200, retryAfter: null, body: { admitted: true } };
const notAdmitted = { status: 200, retryAfter: null, body: { admitted: false } };

/** A memory limiter on a clock that stands still: Retry-After is computed from a known "now". */
function memoryLimiter(rpm: number, concurrent: number) {
  return new MemoryLimiter({ enabled: true, rpm, concurrent }, () => 1_000_000);
}

describe('limits plugin', () => {
  test('a tools/call whose client has already gone (its socket has no peer) is refused before admission; a tools/list is still answered', async () => {
    const limiter = memoryLimiter(1, 10);
    const gone = build(limiter, { serverOf: () => ({ requestIP: () => null }) });
    const refused = await call(gone.app, 'tools/call', TOOL);
    const refusedId = nextId - 1;
    const listed = await call(gone.app, 'tools/list');
    // The refusal took no request of the minute (RPM 1): the same client, connected, is admitted.
    const connected = build(limiter, { serverOf: () => ({ requestIP: () => ({ address: '192.0.2.7' }) }) });
    expect({ refused, listed: listed.status, ran: gone.ran, next: await call(connected.app, 'tools/call', TOOL) }).toEqual({
      refused: {
        status: 499,
        retryAfter: null,
        body: { jsonrpc: '2.0', id: refusedId, error: { code: -32600, message: 'Client closed the connection before the call started; nothing was run' } },
      },
      listed: 200,
      ran: ['tools/list'],
      next: admitted,
    });
  });

  test('a tools/call whose address was read while its client was there (allowlist, auth off) is refused if the client has gone by admission', async () => {
    // The socket has a peer for the first question only: the client hung up after the address was read.
    const asked = new Map<Request, number>();
    const serverOf = () => ({
      requestIP: (r: Request) => {
        asked.set(r, (asked.get(r) ?? 0) + 1);
        return asked.get(r) === 1 ? { address: '192.0.2.7' } : null;
      },
    });
    const readsAddressFirst = new Elysia({ name: 'reads-address' }).onRequest(({ request }) => {
      void stateOf(request)!.clientIp;
    });
    const { app, ran } = build(memoryLimiter(10, 10), { serverOf, before: [readsAddressFirst] });
    const refused = await call(app, 'tools/call', TOOL);
    expect({ status: refused.status, body: refused.body, ran, asked: [...asked.values()] }).toEqual({
      status: 499,
      body: { jsonrpc: '2.0', id: nextId - 1, error: { code: -32600, message: 'Client closed the connection before the call started; nothing was run' } },
      ran: [],
      asked: [2],
    });
  });

  test('a tools/call whose request is already aborted is refused before admission', async () => {
    const connected = () => ({ requestIP: () => ({ address: '192.0.2.7' }) });
    const { app, ran } = build(memoryLimiter(10, 10), { serverOf: connected });
    const refused = await call(app, 'tools/call', TOOL, {}, AbortSignal.abort());
    expect({ status: refused.status, ran }).toEqual({ status: 499, ran: [] });
  });

  test('tools/call past the RPM limit: 429 with Retry-After, the handler does not run', async () => {
    const { app, ran } = build(memoryLimiter(2, 10));
    const results = [await call(app, 'tools/call', TOOL), await call(app, 'tools/call', TOOL), await call(app, 'tools/call', TOOL)];
    const refusedId = nextId - 1;
    expect({ results, ran }).toEqual({
      results: [
        admitted,
        admitted,
        {
          status: 429,
          retryAfter: '60',
          body: {
            jsonrpc: '2.0',
            id: refusedId,
            error: { code: -31429, message: 'Too many requests: requests-per-minute limit reached', data: { retryAfterSeconds: 60, reason: 'rpm' } },
          },
        },
      ],
      ran: ['tools/call', 'tools/call'],
    });
  });

  test('past the concurrency limit: 429 with Retry-After 1; a released slot admits the next call', async () => {
    const { app, ran, held } = build(memoryLimiter(100, 1));
    const first = await call(app, 'tools/call', TOOL, { 'x-hold': '1' });
    const second = await call(app, 'tools/call', TOOL);
    const secondId = nextId - 1;
    held.shift()!.release();
    const third = await call(app, 'tools/call', TOOL);
    expect({ results: [first, second, third], ran }).toEqual({
      results: [
        admitted,
        {
          status: 429,
          retryAfter: '1',
          body: {
            jsonrpc: '2.0',
            id: secondId,
            error: { code: -31429, message: 'Too many requests: concurrent call limit reached', data: { retryAfterSeconds: 1, reason: 'concurrency' } },
          },
        },
        admitted,
      ],
      ran: ['tools/call', 'tools/call'],
    });
  });

  test('each client has its own window', async () => {
    const { app, ran } = build(memoryLimiter(1, 10));
    const results = [await call(app, 'tools/call', TOOL, { 'x-client': 'a' }), await call(app, 'tools/call', TOOL, { 'x-client': 'b' })];
    expect({ results, ran }).toEqual({ results: [admitted, admitted], ran: ['tools/call', 'tools/call'] });
  });

  test('initialize, tools/list, ping and an unknown tool are never limited', async () => {
    const { app, ran } = build(memoryLimiter(1, 1));
    await call(app, 'tools/call', TOOL, { 'x-hold': '1' }); // uses up both the RPM window and the slot
    const results = [
      await call(app, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } }),
      await call(app, 'tools/list'),
      await call(app, 'ping'),
      await call(app, 'tools/call', { name: 'no-such-tool', arguments: {} }),
    ];
    expect({ results, ran }).toEqual({
      results: [notAdmitted, notAdmitted, notAdmitted, notAdmitted],
      ran: ['tools/call', 'initialize', 'tools/list', 'ping', 'tools/call'],
    });
  });

  test('a tools/call whose params the dispatcher refuses (-32602) takes no admission, as over stdio', async () => {
    const { app, ran } = build(memoryLimiter(1, 1));
    const results = [
      await call(app, 'tools/call', { name: 'probe', arguments: [] }),
      await call(app, 'tools/call', { name: 'probe', arguments: null }),
      await call(app, 'tools/call', { name: 'probe', arguments: 'x' }),
      await call(app, 'tools/call', TOOL),
    ];
    expect({ results, ran }).toEqual({ results: [notAdmitted, notAdmitted, notAdmitted, admitted], ran: ['tools/call', 'tools/call', 'tools/call', 'tools/call'] });
  });

  test('a tool the client may not call: 403, nothing counted, the handler does not run', async () => {
    const limiter = memoryLimiter(1, 1);
    const { app, ran } = build(limiter, { allowedTools: new Set(['other']) });
    const res = await call(app, 'tools/call', TOOL);
    expect({ res, ran, windowStillFree: limiter.acquire('c1').ok }).toEqual({
      res: {
        status: 403,
        retryAfter: null,
        body: { jsonrpc: '2.0', id: nextId - 1, error: { code: -32003, message: "Forbidden: client 'c1' may not call tool 'probe'", data: { reason: 'tool', tool: 'probe' } } },
      },
      ran: [],
      windowStillFree: true,
    });
  });

  test('the limit store is down (deny): 503 with Retry-After, the handler does not run', async () => {
    // A real Redis limiter pointed at a loopback port nothing listens on: connections are refused at once.
    const closed = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
    const port = closed.port;
    closed.stop(true);
    const redis = new RedisLimiter(
      { enabled: true, rpm: 10, concurrent: 1, leaseSeconds: 30, onStoreError: 'deny', url: `redis://127.0.0.1:${port}` },
      logger.withTag('limits'),
    );
    try {
      const { app, ran } = build(redis);
      const res = await call(app, 'tools/call', TOOL);
      expect({ res, ran }).toEqual({
        res: {
          status: 503,
          retryAfter: '2',
          body: {
            jsonrpc: '2.0',
            id: nextId - 1,
            error: { code: -31503, message: 'Service unavailable: rate-limit store unavailable', data: { retryAfterSeconds: 2, reason: 'store_unavailable' } },
          },
        },
        ran: [],
      });
    } finally {
      await redis.close();
    }
  });

  test('the audit log cannot be written (HIDE_AUDIT_ON_ERROR=refuse): 503 with Retry-After and reason audit, the handler does not run, no slot taken', async () => {
    let failing = true;
    const { app, ran } = build(memoryLimiter(1, 1), { auditFailing: () => failing });
    const refused = await call(app, 'tools/call', TOOL);
    expect({ refused, ran }).toEqual({
      refused: {
        status: 503,
        retryAfter: '1',
        body: { jsonrpc: '2.0', id: nextId - 1, error: { code: -31503, message: 'Service unavailable: audit log not writable', data: { retryAfterSeconds: 1, reason: 'audit' } } },
      },
      ran: [],
    });
    // The refusal took neither the one request of the minute nor the slot.
    failing = false;
    expect([(await call(app, 'tools/call', TOOL)).status, ran]).toEqual([200, ['tools/call']]);
  });

  test('hook scope: nested inside another plugin, the limits still apply to the outer app', async () => {
    const { app, ran } = build(memoryLimiter(1, 10), { wrap: true });
    const results = [await call(app, 'tools/call', TOOL), await call(app, 'tools/call', TOOL)];
    expect({ statuses: results.map((r) => [r.status, r.retryAfter]), ran }).toEqual({ statuses: [[200, null], [429, '60']], ran: ['tools/call'] });
  });
});
