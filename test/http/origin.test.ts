/**
 * The Origin plugin (src/http/plugins/origin.ts), the DNS-rebinding defence:
 * a browser Origin that the policy does not allow gets 403 before routing;
 * no Origin (agents, SDK clients) passes; /health is not guarded. Real
 * OriginPolicy and SecurityPipeline, requests through app.handle (the check
 * reads a header only, so no socket is needed).
 */
import { describe, expect, test } from 'bun:test';
import { configureLogger } from '../../src/core/log.ts';
import { originCheck } from '../../src/http/plugins/origin.ts';
import { OriginPolicy } from '../../src/security/origin.ts';
import { pluginApp, probeRoutes, testPipeline } from './harness.ts';

configureLogger({ level: 'silent', format: 'json' });

/** @param configured explicit allowed origins, or null for the loopback default of a loopback-bound server */
function build(configured: string[] | null, wrap = false) {
  const security = testPipeline({ origins: new OriginPolicy(configured, true) });
  const ran: string[] = [];
  // wrap: its onRequest must still reach this app's routes.
  const app = probeRoutes(pluginApp(originCheck(security), { wrap }), ran);
  return { app, ran };
}

async function call(app: ReturnType<typeof build>['app'], path: string, origin: string | null, method = 'POST') {
  const headers: Record<string, string> = { 'x-correlation-id': 'origin-test' };
  if (origin !== null) headers.origin = origin;
  const res = await app.handle(new Request(`http://localhost${path}`, { method, headers }));
  return { status: res.status, body: await res.json() };
}

const ok = { status: 200, body: { ok: true } };
const forbidden = { status: 403, body: { jsonrpc: '2.0', id: null, error: { code: -32003, message: 'Forbidden: Origin is not allowed', data: { reason: 'origin' } } } };

describe('origin plugin, default policy on a loopback-bound server', () => {
  test.each([
    ['no Origin header', null],
    ['http://localhost:5173', 'http://localhost:5173'],
    ['http://127.0.0.1:3000', 'http://127.0.0.1:3000'],
    ['http://[::1]:8080', 'http://[::1]:8080'],
  ])('%s passes', async (_name, origin) => {
    const { app, ran } = build(null);
    expect({ res: await call(app, '/mcp', origin), ran }).toEqual({ res: ok, ran: ['/mcp'] });
  });

  test.each([
    'https://evil.example',
    'http://localhost.evil.example',
    'http://127.0.0.1.nip.io',
    'null',
    'file://localhost',
    // A loopback host under a scheme no web page is served by: an extension's or a socket's origin is not a local page.
    'ws://localhost:1',
    'ftp://127.0.0.1',
    'chrome-extension://localhost',
  ])('Origin %s is refused with 403 and the handler does not run', async (origin) => {
    const { app, ran } = build(null);
    expect({ res: await call(app, '/mcp', origin), ran }).toEqual({ res: forbidden, ran: [] });
  });

  test('/health is not guarded', async () => {
    const { app, ran } = build(null);
    expect({ res: await call(app, '/health', 'https://evil.example', 'GET'), ran }).toEqual({ res: ok, ran: ['/health'] });
  });
});

describe('origin plugin, configured origins', () => {
  test('only the listed origins pass; the loopback default no longer applies', async () => {
    const { app, ran } = build(['https://ide.example.com/']);
    const results = [await call(app, '/mcp', 'https://IDE.example.com'), await call(app, '/mcp', 'http://localhost:5173'), await call(app, '/mcp', 'https://ide.example.com.evil')];
    expect({ results, ran }).toEqual({ results: [ok, forbidden, forbidden], ran: ['/mcp'] });
  });

  test('hook scope: nested inside another plugin, the check still guards the outer app', async () => {
    const { app, ran } = build(null, true);
    expect({ res: await call(app, '/mcp', 'https://evil.example'), ran }).toEqual({ res: forbidden, ran: [] });
  });
});
