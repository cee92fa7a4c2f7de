/**
 * The auth plugin (src/http/plugins/auth.ts) on the smallest app that uses
 * it: the request-state hook it reads, the app's error mapping, and a route
 * that records whether it ran. Real KeyStore and SecurityPipeline with a test
 * key; requests through app.handle (no socket needed: auth reads headers only).
 */
import { describe, expect, test } from 'bun:test';
import { configureLogger } from '../../src/core/log.ts';
import { auth } from '../../src/http/plugins/auth.ts';
import { stateOf } from '../../src/http/request-state.ts';
import { KeyStore } from '../../src/security/keys.ts';
import { pluginApp, testPipeline } from './harness.ts';

configureLogger({ level: 'silent', format: 'json' });

const KEY = 'auth-plugin-test-key-0123456789';
const OTHER = 'another-key-that-is-not-configured';
const KEY_HASH = new Bun.CryptoHasher('sha256').update(KEY).digest('hex');
const HEADER = 'X-Custom-Key';
const CHALLENGE = 'Bearer realm="hide", error="invalid_token"';

function build(wrap = false) {
  const security = testPipeline({ authEnabled: true, keyStore: new KeyStore({ apiKey: KEY }) });
  const ran: string[] = [];
  // wrap: its `global` resolve must still reach this app's routes.
  const app = pluginApp(auth(security, HEADER), { wrap })
    .post(
      '/mcp',
      ({ request }) => {
        ran.push('/mcp');
        return { identity: stateOf(request)?.identity ?? null };
      },
      { parse: 'none' },
    )
    .get('/health', ({ request }) => {
      ran.push('/health');
      return { identity: stateOf(request)?.identity ?? null };
    });
  return { app, ran };
}

async function call(app: ReturnType<typeof build>['app'], path: string, headers: Record<string, string> = {}, method = 'POST') {
  const res = await app.handle(new Request(`http://localhost${path}`, { method, headers: { 'x-correlation-id': 'auth-test', ...headers } }));
  return { status: res.status, wwwAuthenticate: res.headers.get('www-authenticate'), body: await res.json() };
}

const granted = { clientId: 'default', apiKeyHash: KEY_HASH, allowedTools: null, readOnly: false };

function refused(message: string) {
  return {
    status: 401,
    wwwAuthenticate: CHALLENGE,
    body: { jsonrpc: '2.0', id: null, error: { code: -32001, message, data: { header: HEADER } } },
  };
}

describe('auth plugin', () => {
  test.each([
    ['the configured header', { [HEADER]: KEY }],
    ['X-API-Key', { 'x-api-key': KEY }],
    ['X-MCP-API-Key', { 'x-mcp-api-key': KEY }],
    ['Authorization: Bearer', { authorization: `Bearer ${KEY}` }],
    ['one key sent in two headers', { 'x-api-key': KEY, authorization: `Bearer ${KEY}` }],
  ])('%s: the key authenticates as its client', async (_name, headers) => {
    const { app, ran } = build();
    expect({ res: await call(app, '/mcp', headers), ran }).toEqual({
      res: { status: 200, wwwAuthenticate: null, body: { identity: granted } },
      ran: ['/mcp'],
    });
  });

  test.each([
    ['no credentials', {}, 'Unauthorized: missing API key'],
    ['a wrong key', { 'x-api-key': OTHER }, 'Unauthorized: invalid API key'],
    ['a lower-case "bearer" scheme', { authorization: `bearer ${KEY}` }, 'Unauthorized: Authorization header is not "Bearer <credential>"'],
    ['an Authorization header that is not Bearer', { authorization: `Basic ${btoa(`u:${KEY}`)}` }, 'Unauthorized: Authorization header is not "Bearer <credential>"'],
    ['the bare key in Authorization, no scheme', { authorization: KEY }, 'Unauthorized: Authorization header is not "Bearer <credential>"'],
    ['two different keys', { 'x-api-key': KEY, 'x-mcp-api-key': OTHER }, 'Unauthorized: conflicting credentials in more than one header'],
  ])('%s: 401 with WWW-Authenticate and the handler does not run', async (_name, headers, message) => {
    const { app, ran } = build();
    expect({ res: await call(app, '/mcp', headers), ran }).toEqual({ res: refused(message), ran: [] });
  });

  test('a key in the query string (?access_token=) never authenticates', async () => {
    const { app, ran } = build();
    expect({ res: await call(app, `/mcp?access_token=${KEY}`), ran }).toEqual({ res: refused('Unauthorized: missing API key'), ran: [] });
  });

  test('/health is not guarded: it answers without a key and carries no identity', async () => {
    const { app, ran } = build();
    expect({ res: await call(app, '/health', {}, 'GET'), ran }).toEqual({
      res: { status: 200, wwwAuthenticate: null, body: { identity: null } },
      ran: ['/health'],
    });
  });

  test('hook scope: nested inside another plugin, the resolve still guards the outer app', async () => {
    const { app, ran } = build(true);
    const results = [await call(app, '/mcp'), await call(app, '/mcp', { 'x-api-key': KEY })];
    expect({ results, ran }).toEqual({
      results: [refused('Unauthorized: missing API key'), { status: 200, wwwAuthenticate: null, body: { identity: granted } }],
      ran: ['/mcp'],
    });
  });
});
