/**
 * The IP-filter plugin (src/http/plugins/ip-filter.ts): a client address
 * outside the allowlist gets 403 before routing, and the route never runs;
 * X-Forwarded-For counts only from a trusted proxy; /health is not guarded.
 *
 * These tests listen on port 0 instead of using app.handle: the client
 * address comes from `server.requestIP(request)` (read by the request-state
 * hook), which exists only on a listening server. The peer is always
 * 127.0.0.1, so other client addresses are made the way production sees
 * them: through X-Forwarded-For from 127.0.0.1 as a trusted proxy.
 */
import { describe, expect, test } from 'bun:test';
import { configureLogger } from '../../src/core/log.ts';
import { ipFilter } from '../../src/http/plugins/ip-filter.ts';
import { stateOf } from '../../src/http/request-state.ts';
import { IpFilter, type IpFilterOptions } from '../../src/security/ip.ts';
import { pluginApp, testPipeline } from './harness.ts';

configureLogger({ level: 'silent', format: 'json' });

/** The smallest app using the plugin, listening on 127.0.0.1:0; disposed with `await using`. */
function serve(rules: IpFilterOptions, wrap = false) {
  const filter = new IpFilter(rules);
  const security = testPipeline({ ipFilter: filter });
  const ran: string[] = [];
  let server: { requestIP(r: Request): { address: string } | null } | null = null;
  // wrap: its onRequest must still reach this app's routes.
  const app = pluginApp(ipFilter(security), { wrap, ipFilter: filter, serverOf: () => server })
    .post(
      '/mcp',
      ({ request }) => {
        ran.push(stateOf(request)!.clientIp);
        return { clientIp: stateOf(request)!.clientIp };
      },
      { parse: 'none' },
    )
    .get('/health', () => {
      ran.push('/health');
      return { ok: true };
    })
    .listen({ hostname: '127.0.0.1', port: 0 });
  server = app.server;
  const url = `http://127.0.0.1:${app.server!.port}`;
  return {
    ran,
    async call(path: string, headers: Record<string, string> = {}, method = 'POST') {
      const res = await fetch(`${url}${path}`, { method, headers });
      return { status: res.status, body: await res.json() };
    },
    async [Symbol.asyncDispose]() {
      await app.server?.stop(true);
    },
  };
}

const forbidden = { status: 403, body: { jsonrpc: '2.0', id: null, error: { code: -32003, message: 'Forbidden: client IP is not allowed', data: { reason: 'ip' } } } };

describe('ip-filter plugin', () => {
  test('an empty allowlist lets every address through', async () => {
    await using s = serve({});
    expect({ res: await s.call('/mcp'), ran: s.ran }).toEqual({ res: { status: 200, body: { clientIp: '127.0.0.1' } }, ran: ['127.0.0.1'] });
  });

  test('an allowed peer passes', async () => {
    await using s = serve({ allow: ['127.0.0.0/8'] });
    expect({ res: await s.call('/mcp'), ran: s.ran }).toEqual({ res: { status: 200, body: { clientIp: '127.0.0.1' } }, ran: ['127.0.0.1'] });
  });

  test('a peer outside the allowlist gets 403 and the handler does not run; /health still answers', async () => {
    await using s = serve({ allow: ['10.0.0.0/8'] });
    const results = [await s.call('/mcp'), await s.call('/health', {}, 'GET')];
    expect({ results, ran: s.ran }).toEqual({ results: [forbidden, { status: 200, body: { ok: true } }], ran: ['/health'] });
  });

  test('X-Forwarded-For from an untrusted peer is ignored', async () => {
    await using s = serve({ allow: ['10.0.0.0/8'] });
    expect({ res: await s.call('/mcp', { 'x-forwarded-for': '10.1.2.3' }), ran: s.ran }).toEqual({ res: forbidden, ran: [] });
  });

  test('through a trusted proxy, the forwarded client address is the one filtered', async () => {
    await using s = serve({ allow: ['10.0.0.0/8'], trustedProxies: ['127.0.0.1'] });
    const results = [await s.call('/mcp', { 'x-forwarded-for': '10.1.2.3' }), await s.call('/mcp', { 'x-forwarded-for': '10.1.2.3, 192.0.2.1' })];
    expect({ results, ran: s.ran }).toEqual({ results: [{ status: 200, body: { clientIp: '10.1.2.3' } }, forbidden], ran: ['10.1.2.3'] });
  });

  test('hook scope: nested inside another plugin, the filter still guards the outer app', async () => {
    await using s = serve({ allow: ['10.0.0.0/8'] }, true);
    expect({ res: await s.call('/mcp'), ran: s.ran }).toEqual({ res: forbidden, ran: [] });
  });
});
