/**
 * What an authorization server (or whoever runs one) can make this server
 * fetch and hold. Its discovery document names the key set URL: a `file:`
 * or `data:` URL is not followed (a `file:///dev/zero` key set used to be
 * read without end, gigabytes, while every token waited). Its answers are
 * cut off past 1 MiB, whether announced by Content-Length or streamed
 * without one, so a huge key set, metadata document or introspection answer
 * is neither held nor parsed; tokens then get a 503, not a hang. Answers
 * are asked for and taken uncompressed only.
 */
import { afterAll, expect, test } from 'bun:test';
import { brotliCompressSync } from 'node:zlib';
import { keysOutcome, startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { tempDir } from '../helpers/server.ts';

const dir = tempDir();
const started: ServerProcess[] = [];
afterAll(async () => {
  for (const s of started) await s.stop();
});

const TWO_MIB = 'x'.repeat(2 * 1024 * 1024);

/** 64 KiB chunks for as long as the reader takes them, with no Content-Length. */
function endless(): Response {
  const chunk = new TextEncoder().encode(`{"keys":[],"pad":"${'y'.repeat(64 * 1024)}`);
  return new Response(new ReadableStream({ pull: (c) => c.enqueue(chunk) }), { headers: { 'content-type': 'application/json' } });
}

/** A plain-HTTP issuer on loopback whose answers `route` decides (null: the ordinary ones). */
function issuer(route: (path: string, origin: string, req: Request) => Response | null) {
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(req: Request): Response {
      const { pathname, origin } = new URL(req.url);
      const own = route(pathname, origin, req);
      if (own) return own;
      if (pathname === '/.well-known/oauth-authorization-server') return Response.json({ issuer: origin, jwks_uri: `${origin}/jwks` });
      if (pathname === '/jwks') return Response.json({ keys: [{ kty: 'RSA', kid: 'k1', use: 'sig', n: 'AQAB', e: 'AQAB' }] });
      return new Response('not found', { status: 404 });
    },
  });
  return { server, url: `http://127.0.0.1:${server.port}` };
}

async function serverFor(issuerUrl: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const s = await startServerProcess({
    cwd: dir,
    env: { HIDE_AUTH_MODE: 'oauth', HIDE_OAUTH_ISSUERS: issuerUrl, HIDE_OAUTH_RESOURCE: 'http://127.0.0.1:1/mcp', HIDE_SANDBOX: 'off', HIDE_AUDIT_LOG_ENABLED: 'false', ...env },
  });
  started.push(s);
  return s;
}

const readiness = (s: ServerProcess) => keysOutcome(s, 20_000);

/** A syntactically whole RS256 JWT with a made-up signature: enough to make the server look for the issuer's keys. */
function forgedToken(iss: string): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' })}.${part({ iss, sub: 'a', aud: 'http://127.0.0.1:1/mcp', exp: 4_000_000_000 })}.${'A'.repeat(342)}`;
}

/** A tools/list with `token` as the bearer credential. */
function listWith(s: ServerProcess, token: string): Promise<Response> {
  return fetch(`${s.url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
}

test.each([
  ['file:///dev/zero', 'file:///dev/zero'],
  ['file:///etc/passwd', 'file:///etc/passwd'],
  ['data:', 'data:application/json,{"keys":[]}'],
])('a discovery document naming a %s key set URL is refused, not followed', async (_name, jwksUri) => {
  const idp = issuer((path, origin) => (path === '/.well-known/oauth-authorization-server' ? Response.json({ issuer: origin, jwks_uri: jwksUri }) : null));
  try {
    const s = await serverFor(idp.url);
    expect(await readiness(s)).toContain('not authorization server metadata with an http(s) jwks_uri');
    const res = await listWith(s, forgedToken(idp.url));
    expect([res.status, res.headers.get('retry-after')]).toEqual([503, '5']);
  } finally {
    idp.server.stop(true);
  }
}, 40_000);

test.each([
  ['a key set announced at 2 MiB', '/jwks', () => new Response(TWO_MIB, { headers: { 'content-type': 'application/json' } })],
  ['a key set streamed without end', '/jwks', endless],
  ['a metadata document streamed without end', '/.well-known/oauth-authorization-server', endless],
])('%s is cut off at 1 MiB: no keys, and tokens get a 503', async (_name, where, answer) => {
  const idp = issuer((path) => (path === where ? answer() : null));
  try {
    const s = await serverFor(idp.url);
    expect(await readiness(s)).toContain('answered more than 1048576 bytes');
    const res = await listWith(s, forgedToken(idp.url));
    expect(res.status).toBe(503);
  } finally {
    idp.server.stop(true);
  }
}, 40_000);

// Bun inflates a compressed body ahead of its reader: 2 KB of brotli grew past a gigabyte before the cap could count it.
test.each(['br', 'zstd', 'gzip'])('a key set sent compressed (%s, a few KB inflating to 32 MiB) is refused unread; the server asks for identity', async (encoding) => {
  const inflated = new Uint8Array(32 * 1024 * 1024);
  const body = encoding === 'br' ? brotliCompressSync(inflated) : encoding === 'zstd' ? Bun.zstdCompressSync(inflated) : Bun.gzipSync(inflated);
  let asked = '';
  const idp = issuer((path, _origin, req) => {
    if (path !== '/jwks') return null;
    asked = req.headers.get('accept-encoding') ?? '';
    return new Response(body, { headers: { 'content-type': 'application/json', 'content-encoding': encoding } });
  });
  try {
    const s = await serverFor(idp.url);
    expect(await readiness(s)).toContain(`answered compressed (${encoding}) although asked for identity`);
    expect(asked).toBe('identity');
    expect((await listWith(s, forgedToken(idp.url))).status).toBe(503);
  } finally {
    idp.server.stop(true);
  }
}, 40_000);

// Each token with an unknown kid would be tried against every key of a large set; a set with no signing key would
// leave the server "ready" while every token failed as signed by an unknown key.
test.each([
  ['more than 100 keys', Array.from({ length: 101 }, (_, i) => ({ kty: 'oct', kid: `k${i}`, k: 'AAAA' })), 'holds 101 keys; at most 100 are taken'],
  ['no keys', [], 'holds no signing key'],
  ['only encryption keys', [{ kty: 'RSA', kid: 'e1', use: 'enc', n: 'AQAB', e: 'AQAB' }], 'holds no signing key'],
])('a key set with %s is refused: not ready, and tokens get a 503 rather than "unknown key"', async (_name, keys, why) => {
  const idp = issuer((path) => (path === '/jwks' ? Response.json({ keys }) : null));
  try {
    const s = await serverFor(idp.url);
    expect(await readiness(s)).toContain(why);
    expect((await listWith(s, forgedToken(idp.url))).status).toBe(503);
  } finally {
    idp.server.stop(true);
  }
}, 40_000);

test('an introspection answer streamed without end is cut off at 1 MiB: the opaque token gets a 503 that says so', async () => {
  const idp = issuer((path) => (path === '/introspect' ? endless() : null));
  try {
    const s = await serverFor(idp.url, {
      HIDE_OAUTH_INTROSPECTION_URL: `${idp.url}/introspect`,
      HIDE_OAUTH_INTROSPECTION_CLIENT_ID: 'hide',
      HIDE_OAUTH_INTROSPECTION_CLIENT_SECRET: 'a-client-secret-of-enough-length-0123',
    });
    const res = await listWith(s, 'an-opaque-token-0123456789');
    const json = (await res.json()) as { error: { message: string } };
    expect([res.status, json.error.message]).toEqual([503, expect.stringContaining('introspection endpoint answered too much')]);
  } finally {
    idp.server.stop(true);
  }
}, 40_000);
