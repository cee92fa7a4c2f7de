/**
 * The request-state plugin (src/http/plugins/request-state.ts), the first
 * hook of every request: the path and whether the pipeline guards it, the
 * client address (X-Forwarded-For only from a trusted proxy, looked up only
 * when something reads it), the correlation
 * id (a bad header is replaced, never refused), and the X-Correlation-ID
 * response header on every path except the MCP endpoints.
 *
 * Most tests listen on port 0: the client address comes from
 * `server.requestIP(request)`, which exists only on a listening server. The
 * last one uses app.handle to show what the hook does without a server.
 */
import { describe, expect, test } from 'bun:test';
import { Elysia } from 'elysia';
import { requestState } from '../../src/http/plugins/request-state.ts';
import { stateOf } from '../../src/http/request-state.ts';
import { IpFilter, type IpFilterOptions } from '../../src/security/ip.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function build(rules: IpFilterOptions, serverOf: () => { requestIP(r: Request): { address: string } | null } | null, wrap = false) {
  const plugin = requestState(new IpFilter(rules), serverOf);
  const state = ({ request }: { request: Request }) => {
    const s = stateOf(request);
    return { state: s ? { path: s.path, protectedPath: s.protectedPath, clientIp: s.clientIp, correlationId: s.correlationId, rpcId: s.rpcId } : null };
  };
  return (
    new Elysia()
      // wrap: the plugin one level down, as inside another plugin; its onRequest must still reach this app's routes.
      .use(wrap ? new Elysia({ name: 'wrapper' }).use(plugin) : plugin)
      .post('/mcp', state, { parse: 'none' })
      .post('/', state, { parse: 'none' })
      .get('/health', state)
      .get('/ready', state)
      .get('/metrics', state)
      .get('/other', state)
  );
}

/** The app on 127.0.0.1:0; disposed with `await using`. */
function serve(rules: IpFilterOptions, wrap = false) {
  let server: { requestIP(r: Request): { address: string } | null } | null = null;
  const app = build(rules, () => server, wrap).listen({ hostname: '127.0.0.1', port: 0 });
  server = app.server;
  const url = `http://127.0.0.1:${app.server!.port}`;
  return {
    async call(path: string, headers: Record<string, string> = {}, method = path === '/mcp' || path === '/' ? 'POST' : 'GET') {
      const res = await fetch(`${url}${path}`, { method, headers });
      return { correlationHeader: res.headers.get('x-correlation-id'), ...((await res.json()) as { state: unknown }) };
    },
    async [Symbol.asyncDispose]() {
      await app.server?.stop(true);
    },
  };
}

function state(path: string, protectedPath: boolean, clientIp: string, correlationId: string) {
  return { path, protectedPath, clientIp, correlationId, rpcId: null };
}

describe('request-state plugin', () => {
  test('MCP endpoints: guarded, the peer address, the client correlation id, no response header', async () => {
    await using s = serve({});
    const results = [await s.call('/mcp', { 'x-correlation-id': 'rs-1' }), await s.call('/?x=1', { 'x-correlation-id': 'rs-2' }, 'POST')];
    expect(results).toEqual([
      { correlationHeader: null, state: state('/mcp', true, '127.0.0.1', 'rs-1') },
      { correlationHeader: null, state: state('/', true, '127.0.0.1', 'rs-2') },
    ]);
  });

  test('operations paths are not guarded; every non-MCP path echoes the correlation id', async () => {
    await using s = serve({});
    const results = await Promise.all(['/health', '/ready', '/metrics', '/other'].map((p) => s.call(p, { 'x-correlation-id': `rs${p.replace('/', '-')}` })));
    expect(results).toEqual([
      { correlationHeader: 'rs-health', state: state('/health', false, '127.0.0.1', 'rs-health') },
      { correlationHeader: 'rs-ready', state: state('/ready', false, '127.0.0.1', 'rs-ready') },
      { correlationHeader: 'rs-metrics', state: state('/metrics', false, '127.0.0.1', 'rs-metrics') },
      { correlationHeader: 'rs-other', state: state('/other', true, '127.0.0.1', 'rs-other') },
    ]);
  });

  test('a correlation id header that breaks the rule is replaced by a new id', async () => {
    await using s = serve({});
    const r = await s.call('/health', { 'x-correlation-id': 'has spaces; and=more' });
    const id = (r.state as { correlationId: string }).correlationId;
    expect({ header: r.correlationHeader, matchesUuid: UUID.test(id), state: r.state }).toEqual({
      header: id,
      matchesUuid: true,
      state: state('/health', false, '127.0.0.1', id),
    });
  });

  test('X-Forwarded-For counts only from a trusted proxy, read right to left', async () => {
    await using untrusted = serve({});
    await using trusted = serve({ trustedProxies: ['127.0.0.1', '10.0.0.0/8'] });
    const xff = { 'x-forwarded-for': '203.0.113.9, 198.51.100.7, 10.0.0.2', 'x-correlation-id': 'rs-xff' };
    const results = [await untrusted.call('/mcp', xff), await trusted.call('/mcp', xff)];
    expect(results).toEqual([
      { correlationHeader: null, state: state('/mcp', true, '127.0.0.1', 'rs-xff') },
      { correlationHeader: null, state: state('/mcp', true, '198.51.100.7', 'rs-xff') },
    ]);
  });

  test('hook scope: nested inside another plugin, the state is still set for the outer app', async () => {
    await using s = serve({}, true);
    expect(await s.call('/mcp', { 'x-correlation-id': 'rs-wrap' })).toEqual({ correlationHeader: null, state: state('/mcp', true, '127.0.0.1', 'rs-wrap') });
  });

  test('the peer address is asked of the socket only when something reads it, and then once', async () => {
    let asked = 0;
    const server = { requestIP: () => (asked++, { address: '192.0.2.7' }) };
    const app = new Elysia()
      .use(requestState(new IpFilter({}), () => server))
      .post('/mcp', ({ request }) => ({ correlationId: stateOf(request)!.correlationId }), { parse: 'none' })
      .post('/', ({ request }) => [stateOf(request)!.clientIp, stateOf(request)!.clientIp], { parse: 'none' });
    const call = async (path: string) => (await app.handle(new Request(`http://localhost${path}`, { method: 'POST', headers: { 'x-correlation-id': 'rs-lazy' } }))).json();
    expect([await call('/mcp'), asked]).toEqual([{ correlationId: 'rs-lazy' }, 0]);
    expect([await call('/'), asked]).toEqual([['192.0.2.7', '192.0.2.7'], 1]);
  });

  test("without a listening server (app.handle) the client address is 'unknown'", async () => {
    const app = build({}, () => null);
    const res = await app.handle(new Request('http://localhost/mcp', { method: 'POST', headers: { 'x-correlation-id': 'rs-handle' } }));
    expect(await res.json()).toEqual({ state: state('/mcp', true, 'unknown', 'rs-handle') });
  });
});
