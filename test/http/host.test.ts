/**
 * The Host plugin (src/http/plugins/host.ts), the DNS-rebinding defence that
 * needs no Origin header: on a loopback-bound server a Host that is not a
 * loopback name or a configured one gets 403 before routing, on every path,
 * and no handler runs. Real HostPolicy and SecurityPipeline, requests through
 * app.handle (the check reads a header only).
 */
import { describe, expect, test } from 'bun:test';
import { configureLogger } from '../../src/core/log.ts';
import { hostCheck } from '../../src/http/plugins/host.ts';
import { HostPolicy } from '../../src/security/host.ts';
import { pluginApp, probeRoutes, testPipeline } from './harness.ts';

configureLogger({ level: 'silent', format: 'json' });

function build(policy: HostPolicy, wrap = false) {
  const security = testPipeline({ hosts: policy });
  const ran: string[] = [];
  const app = probeRoutes(pluginApp(hostCheck(security), { wrap }), ran);
  return { app, ran };
}

async function call(app: ReturnType<typeof build>['app'], path: string, host: string, method = 'POST') {
  const res = await app.handle(new Request(`http://${host}${path}`, { method, headers: { host, 'x-correlation-id': 'host-test' } }));
  return { status: res.status, body: await res.json() };
}

const ok = { status: 200, body: { ok: true } };
const forbidden = { status: 403, body: { jsonrpc: '2.0', id: null, error: { code: -32003, message: 'Forbidden: Host is not allowed', data: { reason: 'host' } } } };

describe('host plugin on a loopback-bound server', () => {
  test.each(['localhost:5000', '127.0.0.1:5000', '[::1]:5000', 'localhost'])('Host %s passes', async (host) => {
    const { app, ran } = build(new HostPolicy([], true));
    expect({ res: await call(app, '/mcp', host), ran }).toEqual({ res: ok, ran: ['/mcp'] });
  });

  test.each(['evil.example', 'evil.example:5000', 'localhost.evil.example:5000'])('Host %s is refused with 403 and the handler does not run', async (host) => {
    const { app, ran } = build(new HostPolicy([], true));
    expect({ res: await call(app, '/mcp', host), ran }).toEqual({ res: forbidden, ran: [] });
  });

  test('/health is guarded too: after rebinding, the page would be same-origin with it', async () => {
    const { app, ran } = build(new HostPolicy([], true));
    expect({ res: await call(app, '/health', 'evil.example:5000', 'GET'), ran }).toEqual({ res: forbidden, ran: [] });
  });

  test('a configured name passes', async () => {
    const { app, ran } = build(new HostPolicy(['ide.example.com'], true));
    expect({ results: [await call(app, '/mcp', 'ide.example.com'), await call(app, '/mcp', 'evil.example')], ran }).toEqual({ results: [ok, forbidden], ran: ['/mcp'] });
  });

  test('hook scope: nested inside another plugin, the check still guards the outer app', async () => {
    const { app, ran } = build(new HostPolicy([], true), true);
    expect({ res: await call(app, '/mcp', 'evil.example'), ran }).toEqual({ res: forbidden, ran: [] });
  });
});

test('host plugin on a server bound elsewhere, nothing configured: any Host passes', async () => {
  const { app, ran } = build(new HostPolicy([], false));
  expect({ res: await call(app, '/mcp', 'evil.example'), ran }).toEqual({ res: ok, ran: ['/mcp'] });
});
