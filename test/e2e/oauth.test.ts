/**
 * hide as an OAuth 2.1 resource server, against a real authorization server
 * (oidc-provider on loopback, resource indicators on, client credentials):
 * discovery, challenges, scopes as tool permissions, every forged token we
 * can think of, key rotation, the key set endpoint down, the MCP SDK's own
 * OAuth client, and `both` mode beside API keys.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { base64url, exportSPKI, SignJWT, UnsecuredJWT } from 'jose';
import { CLIENTS, freePort, newSigningKey, TestIdp } from '../helpers/oidc.ts';
import { rpc, startServer, type TestServer, waitFor } from '../helpers/server.ts';

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

interface AuditLine {
  event_type: string;
  client_id: string | null;
  tool_name: string | null;
  error: string | null;
  oauth?: { issuer: string; client_id: string | null; scopes: string[] };
  arguments: unknown;
}

function auditLines(s: TestServer): AuditLine[] {
  if (!existsSync(s.auditFile)) return [];
  return readFileSync(s.auditFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditLine);
}

/** Lines in the audit log once everything queued so far is written. */
async function auditCount(s: TestServer): Promise<number> {
  await s.rt.audit.flush();
  return auditLines(s).length;
}

/** Waits until the audit log holds `n` more lines than `before`, and returns the new ones. */
async function newAuditLines(s: TestServer, before: number, n: number): Promise<AuditLine[]> {
  await waitFor(() => auditLines(s).length >= before + n, 5000, `${n} audit lines`);
  return auditLines(s).slice(before);
}

/** A hide in OAuth mode whose resource URL is its own /mcp. */
async function startOAuthHide(env: Record<string, string> = {}, idpFor?: (resource: string) => Promise<TestIdp>) {
  let port = freePort();
  let resource = `http://127.0.0.1:${port}/mcp`;
  const idp = await (idpFor ?? TestIdp.start)(resource);
  // The resource names the port before the server listens on it: another test's listener may take it meanwhile.
  for (let attempt = 1; ; attempt++) {
    idp.resource = resource;
    try {
      const server = await startServer(
        { HIDE_AUTH_MODE: 'oauth', HIDE_OAUTH_RESOURCE: resource, HIDE_OAUTH_ISSUERS: idp.issuer, HIDE_SANDBOX: 'off', HIDE_OAUTH_JWKS_COOLDOWN_SECONDS: '0', ...env },
        { port },
      );
      server.rt.ops.lifecycle.markReady();
      return { idp, server, resource };
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE' || attempt === 5) throw err;
      port = freePort();
      resource = `http://127.0.0.1:${port}/mcp`;
    }
  }
}

function echo(s: TestServer, token: string, text = 'hello') {
  return rpc(s.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: [text] } }, bearer(token));
}

describe('oauth mode against a real authorization server', () => {
  let idp: TestIdp;
  let server: TestServer;
  let resource: string;

  beforeAll(async () => {
    ({ idp, server, resource } = await startOAuthHide());
  });
  afterAll(async () => {
    await server.stop();
    await idp.stop();
  });

  test('RFC 9728 metadata at the well-known path and its /mcp form, open without credentials', async () => {
    const expected = {
      resource,
      authorization_servers: [idp.issuer],
      scopes_supported: ['hide:read', 'hide:write', 'hide:exec'],
      bearer_methods_supported: ['header'],
      resource_name: 'hide (headless IDE MCP server)',
    };
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const res = await fetch(`${server.url}${path}`);
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: expected });
    }
  });

  test('a browser preflight for the metadata (a client sending MCP-Protocol-Version) is allowed, and the document then read', async () => {
    const path = `${server.url}/.well-known/oauth-protected-resource/mcp`;
    const origin = { origin: 'https://inspector.example' };
    const pre = await fetch(path, { method: 'OPTIONS', headers: { ...origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'mcp-protocol-version' } });
    expect({ status: pre.status, origin: pre.headers.get('access-control-allow-origin'), methods: pre.headers.get('access-control-allow-methods'), headers: pre.headers.get('access-control-allow-headers') }).toEqual({
      status: 204,
      origin: '*',
      methods: 'GET',
      headers: '*',
    });
    const res = await fetch(path, { headers: { ...origin, 'mcp-protocol-version': '2025-11-25' } });
    expect({ status: res.status, origin: res.headers.get('access-control-allow-origin'), resource: ((await res.json()) as { resource: string }).resource }).toEqual({ status: 200, origin: '*', resource });
  });

  test('401 without credentials: resource_metadata and scope, no error; with a bad token: invalid_token', async () => {
    const meta = `${server.url}/.well-known/oauth-protected-resource/mcp`;
    const none = await rpc(server.mcpUrl, 'tools/list');
    expect({ status: none.status, challenge: none.headers.get('www-authenticate'), code: none.body.error.code }).toEqual({
      status: 401,
      challenge: `Bearer resource_metadata="${meta}", scope="hide:read hide:write hide:exec"`,
      code: -32001,
    });
    const bad = await rpc(server.mcpUrl, 'tools/list', undefined, bearer('not-a-token'));
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toStartWith(`Bearer resource_metadata="${meta}", scope="hide:read hide:write hide:exec", error="invalid_token"`);
  });

  test('a token with hide:exec runs echo; the audit line names sub and the OAuth client, never the token', async () => {
    const token = await idp.token('exec-bot');
    const before = await auditCount(server);
    const r = await echo(server, token, 'from-oauth');
    expect({ status: r.status, stdout: r.body.result.structuredContent.stdout }).toEqual({ status: 200, stdout: 'from-oauth\n' });
    const [line] = await newAuditLines(server, before, 1);
    expect(line).toMatchObject({
      event_type: 'tool_call',
      client_id: 'exec-bot',
      tool_name: 'shell_execute',
      oauth: { issuer: idp.issuer, client_id: 'exec-bot', scopes: ['hide:read', 'hide:write', 'hide:exec'] },
    });
    expect(readFileSync(server.auditFile, 'utf8')).not.toContain(token);
  });

  test('a token passed as a tool argument is masked by value in the audit line', async () => {
    const token = await idp.token('exec-bot');
    const before = await auditCount(server);
    await echo(server, token, token);
    const [line] = await newAuditLines(server, before, 1);
    expect(JSON.stringify(line!.arguments)).not.toContain(token.split('.')[1]!);
    expect(readFileSync(server.auditFile, 'utf8')).not.toContain(token);
  });

  test('hide:read lists only read tools and is refused shell_execute with 403 insufficient_scope', async () => {
    const token = await idp.token('reader');
    const list = await rpc(server.mcpUrl, 'tools/list', undefined, bearer(token));
    const names: string[] = list.body.result.tools.map((t: { name: string }) => t.name);
    expect(names).not.toContain('shell_execute');
    expect(names).not.toContain('write_file');
    expect(names).toContain('read_file');
    const before = await auditCount(server);
    const r = await echo(server, token);
    expect({ status: r.status, code: r.body.error.code, data: r.body.error.data }).toEqual({
      status: 403,
      code: -32003,
      data: { reason: 'scope', tool: 'shell_execute', scope: 'hide:exec' },
    });
    expect(r.headers.get('www-authenticate')).toStartWith(
      `Bearer resource_metadata="${server.url}/.well-known/oauth-protected-resource/mcp", scope="hide:exec", error="insufficient_scope"`,
    );
    const [line] = await newAuditLines(server, before, 1);
    expect(line).toMatchObject({ event_type: 'permission_denied', client_id: 'reader', tool_name: 'shell_execute' });
  });

  describe('forged and misdirected tokens: 401, one auth_failure line, nothing runs', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const claims = () => ({ sub: 'exec-bot', client_id: 'exec-bot', scope: 'hide:read hide:write hide:exec' });
    const signed = (c: Record<string, unknown>, key = idp.keys[0]!) =>
      new SignJWT(c).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' }).sign(key.privateKey);
    const forgeries: Array<[string, () => Promise<string>, string]> = [
      ['expired', () => signed({ ...claims(), iss: idp.issuer, aud: resource, iat: now() - 7200, exp: now() - 3600 }), 'token expired'],
      ['not yet valid', () => signed({ ...claims(), iss: idp.issuer, aud: resource, iat: now(), nbf: now() + 3600, exp: now() + 7200 }), 'token not yet valid (nbf)'],
      ['wrong issuer', () => signed({ ...claims(), iss: 'http://127.0.0.1:1/other-idp', aud: resource, exp: now() + 600 }), 'token issuer is not trusted (iss)'],
      ['wrong audience', () => signed({ ...claims(), iss: idp.issuer, aud: 'https://elsewhere.example/mcp', exp: now() + 600 }), 'token is not for this resource (aud)'],
      [
        'unknown kid',
        async () => {
          const stranger = await newSigningKey();
          return signed({ ...claims(), iss: idp.issuer, aud: resource, exp: now() + 600 }, stranger);
        },
        'token signed with an unknown key (kid)',
      ],
      [
        'alg none',
        async () => new UnsecuredJWT({ ...claims(), aud: resource }).setIssuer(idp.issuer).setExpirationTime('10m').encode(),
        'token signed with an algorithm that is not allowed',
      ],
      [
        'HS256 signed with the public key as the secret',
        async () => {
          const pem = await exportSPKI(idp.keys[0]!.publicKey);
          return new SignJWT({ ...claims(), iss: idp.issuer, aud: resource, exp: now() + 600 })
            .setProtectedHeader({ alg: 'HS256', kid: idp.keys[0]!.kid })
            .sign(new TextEncoder().encode(pem));
        },
        'token signed with an algorithm that is not allowed',
      ],
      [
        'tampered payload',
        async () => {
          const real = await idp.token('reader');
          const [h, p, s] = real.split('.');
          const payload = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
          payload.scope = 'hide:read hide:write hide:exec';
          return `${h}.${base64url.encode(JSON.stringify(payload))}.${s}`;
        },
        'token signature invalid',
      ],
      ['a token for another resource', () => idp.token('exec-bot', { resource: 'http://127.0.0.1:1/other/mcp' }), 'token is not for this resource (aud)'],
    ];

    test.each(forgeries)('%s', async (name, make, reason) => {
      const token = await make();
      const marker = `ran-${name.replace(/\W+/g, '-')}`;
      const before = await auditCount(server);
      const r = await rpc(server.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'touch', arguments: [marker] } }, bearer(token));
      expect({ status: r.status, code: r.body.error?.code, message: r.body.error?.message }).toEqual({ status: 401, code: -32001, message: `Unauthorized: ${reason}` });
      expect(r.headers.get('www-authenticate')).toContain('error="invalid_token"');
      const lines = await newAuditLines(server, before, 1);
      expect(lines.map((l) => [l.event_type, l.error])).toEqual([['auth_failure', reason]]);
      expect(existsSync(join(server.workspace, marker))).toBe(false);
      expect(readFileSync(server.auditFile, 'utf8')).not.toContain(token);
    });
  });

  test('the MCP SDK client, given only the server URL, discovers the metadata, gets a token and calls a tool', async () => {
    const c = CLIENTS.find((x) => x.id === 'sdk-client')!;
    // A client-credentials client asks for the scopes it is registered for (the SDK sends its metadata's scope).
    const provider = new ClientCredentialsProvider({ clientId: c.id, clientSecret: c.secret, expectedIssuer: idp.issuer, scope: 'hide:read hide:exec' });
    const client = new Client({ name: 'oauth-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(server.mcpUrl), { authProvider: provider });
    try {
      // The first attempt meets the 401 and runs the OAuth flow; the SDK then expects a reconnect.
      await client.connect(transport).catch(async () => {
        await client.connect(new StreamableHTTPClientTransport(new URL(server.mcpUrl), { authProvider: provider }));
      });
      const result = await client.callTool({ name: 'shell_execute', arguments: { command: 'echo', arguments: ['via-sdk'] } });
      expect((result.structuredContent as { stdout: string }).stdout).toBe('via-sdk\n');
      expect(provider.tokens()?.access_token).toBeString();
    } finally {
      await client.close();
    }
  });
});

describe('signing keys', () => {
  test('rotation: a new key works within one refresh, the old one until it is removed', async () => {
    const { idp, server } = await startOAuthHide({ HIDE_OAUTH_JWKS_MAX_AGE_SECONDS: '1' });
    try {
      const old = await idp.token('exec-bot');
      expect((await echo(server, old)).status).toBe(200);
      await idp.rotate();
      const fresh = await idp.token('exec-bot');
      const hits = idp.jwksHits;
      expect((await echo(server, fresh)).status).toBe(200);
      expect(idp.jwksHits).toBeLessThanOrEqual(hits + 1);
      expect((await echo(server, old)).status).toBe(200);
      idp.dropOldKeys();
      // The cache is refreshed once older than its max age; from then on the old key is gone.
      await waitFor(async () => (await echo(server, old)).status === 401, 15_000, 'the old key to be dropped');
      expect((await echo(server, fresh)).status).toBe(200);
    } finally {
      await server.stop();
      await idp.stop();
    }
  });

  test('key set endpoint down: cached keys keep working; an unknown kid is looked up at a bounded rate', async () => {
    const { idp, server } = await startOAuthHide({ HIDE_OAUTH_JWKS_COOLDOWN_SECONDS: '3600' });
    try {
      const token = await idp.token('exec-bot');
      expect((await echo(server, token)).status).toBe(200);
      idp.jwksDown = true;
      const hits = idp.jwksHits;
      const stranger = await newSigningKey();
      const now = Math.floor(Date.now() / 1000);
      for (let i = 0; i < 5; i++) {
        const forged = await new SignJWT({ sub: 'x', iss: idp.issuer, aud: `${server.url}/mcp`, exp: now + 600 })
          .setProtectedHeader({ alg: 'RS256', kid: stranger.kid })
          .sign(stranger.privateKey);
        expect((await echo(server, forged)).status).toBe(401);
      }
      expect(idp.jwksHits).toBe(hits);
      expect((await echo(server, token)).status).toBe(200);
      expect((await fetch(`${server.url}/ready`)).status).toBe(200);
    } finally {
      await server.stop();
      await idp.stop();
    }
  });

  test('no key ever fetched: 503 to retry (fail closed, and no verdict on the token), /ready says why, and recovery once the endpoint answers', async () => {
    const { idp, server } = await startOAuthHide({}, async (resource) => {
      const down = await TestIdp.start(resource);
      down.jwksDown = true;
      return down;
    });
    try {
      const ready = await waitFor(async () => {
        const res = await fetch(`${server.url}/ready`);
        const body = (await res.json()) as { reasons?: string[] };
        return res.status === 503 && body.reasons?.some((r) => r.startsWith('oauth: no signing keys for issuer')) ? body : null;
      }, 10_000, '/ready to report missing keys');
      expect(ready!.reasons!.join(' ')).toContain(idp.issuer);
      const token = await idp.token('exec-bot');
      const before = await auditCount(server);
      const r = await echo(server, token);
      expect({ status: r.status, retryAfter: r.headers.get('retry-after'), www: r.headers.get('www-authenticate') }).toEqual({ status: 503, retryAfter: '5', www: null });
      // Why the keys are missing (the issuer, what its endpoint answered) is the operator's to read, not the caller's.
      expect(r.body.error.message).toBe('Service unavailable: the access token cannot be checked now (signing keys unavailable)');
      const lines = await newAuditLines(server, before, 1);
      expect(lines[0]!.event_type).toBe('auth_failure');
      expect(lines[0]!.error).toStartWith('signing keys unavailable (no signing keys for issuer');
      expect(lines[0]!.error).toContain(idp.issuer);
      idp.jwksDown = false;
      await waitFor(async () => (await echo(server, token)).status === 200, 10_000, 'tokens to work once keys load');
      expect((await fetch(`${server.url}/ready`)).status).toBe(200);
    } finally {
      await server.stop();
      await idp.stop();
    }
  });
});

describe('signing keys down: what a token says of itself is still a verdict', () => {
  // A token whose own claims refuse it (expired, for another resource, bound to a key) is refused whatever its
  // signature: 401, so its client gets a new token instead of retrying one that can never work.
  test('an expired, foreign-audience or bound token gets 401 while the keys are missing; a fitting one 503', async () => {
    const { idp, server, resource } = await startOAuthHide({}, async (resource) => {
      const down = await TestIdp.start(resource);
      down.jwksDown = true;
      return down;
    });
    try {
      const forged = await newSigningKey();
      const seconds = Math.floor(Date.now() / 1000);
      const claims = { iss: idp.issuer, aud: resource, sub: 'someone', iat: seconds, exp: seconds + 600 };
      const made = (extra: Record<string, unknown>) =>
        new SignJWT({ ...claims, ...extra }).setProtectedHeader({ alg: 'RS256', kid: forged.kid, typ: 'at+jwt' }).sign(forged.privateKey);
      const cases = [
        ['expired', await made({ exp: seconds - 3600 }), 401],
        ['for another resource', await idp.token('exec-bot', { resource: 'http://127.0.0.1:1/other/mcp' }), 401],
        ['bound to a key', await made({ cnf: { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' } }), 401],
        ['without exp', await made({ exp: undefined }), 401],
        ['fitting, signature unknowable', await made({}), 503],
        ['real', await idp.token('exec-bot'), 503],
      ] as const;
      const got: [string, number, string | null][] = [];
      for (const [name, token] of cases) {
        const r = await echo(server, token);
        got.push([name, r.status, r.headers.get('retry-after')]);
      }
      expect(got).toEqual(cases.map(([name, , status]) => [name, status, status === 503 ? '5' : null]));
    } finally {
      await server.stop();
      await idp.stop();
    }
  });
});

describe('opaque tokens', () => {
  test('checked by introspection with hide\'s client credentials: a good token runs, a made-up one is refused', async () => {
    const { idp, server } = await startOAuthHide({}, (resource) => TestIdp.start(resource, { opaque: true }));
    await server.stop();
    // The tokens' audience is the first server's URL, configured as is: where this one listens does not matter.
    const resource = `${server.url}/mcp`;
    const introspecting = await startServer(
      {
        HIDE_AUTH_MODE: 'oauth',
        HIDE_OAUTH_RESOURCE: resource,
        HIDE_OAUTH_ISSUERS: idp.issuer,
        HIDE_SANDBOX: 'off',
        ...idp.introspectionEnv(),
      },
    );
    try {
      const token = await idp.token('exec-bot');
      expect(token.split('.').length).toBe(1);
      const ok = await echo(introspecting, token, 'opaque');
      expect({ status: ok.status, stdout: ok.body.result?.structuredContent?.stdout }).toEqual({ status: 200, stdout: 'opaque\n' });
      const before = await auditCount(introspecting);
      const bad = await echo(introspecting, 'made-up-opaque-token-0123456789');
      expect(bad.status).toBe(401);
      const lines = await newAuditLines(introspecting, before, 1);
      expect(lines.map((l) => [l.event_type, l.error])).toEqual([['auth_failure', 'token is not active']]);
      expect(readFileSync(introspecting.auditFile, 'utf8')).not.toContain(token);
    } finally {
      await introspecting.stop();
      await idp.stop();
    }
  });
  test('an introspection endpoint that fails is not remembered: the refused token works once the endpoint answers again', async () => {
    const { idp, server } = await startOAuthHide({}, (resource) => TestIdp.start(resource, { opaque: true }));
    await server.stop();
    const introspecting = await startServer(
      {
        HIDE_AUTH_MODE: 'oauth',
        HIDE_OAUTH_RESOURCE: `${server.url}/mcp`,
        HIDE_OAUTH_ISSUERS: idp.issuer,
        HIDE_SANDBOX: 'off',
        ...idp.introspectionEnv(),
      },
    );
    try {
      const token = await idp.token('exec-bot');
      idp.introspectionDown = true;
      const before = await auditCount(introspecting);
      const down = await echo(introspecting, token);
      // Fail closed while nobody can say whether the token is good...
      // The authorization server's outage is no verdict on the token: 503 to retry, not 401 sending the client to sign in again.
      expect({ status: down.status, retryAfter: down.headers.get('retry-after'), error: down.body.error }).toEqual({
        status: 503,
        retryAfter: '5',
        error: { code: -31503, message: 'Service unavailable: the access token cannot be checked now (introspection endpoint answered HTTP 503)', data: { retryAfterSeconds: 5, reason: 'token_check' } },
      });
      expect((await newAuditLines(introspecting, before, 1)).map((l) => [l.event_type, l.error])).toEqual([['auth_failure', 'introspection endpoint answered HTTP 503']]);
      idp.introspectionDown = false;
      // ...but the failure is no answer about the token, so the very next call asks again.
      const up = await echo(introspecting, token, 'back');
      expect({ status: up.status, stdout: up.body.result?.structuredContent?.stdout }).toEqual({ status: 200, stdout: 'back\n' });
    } finally {
      await introspecting.stop();
      await idp.stop();
    }
  });

  test('an introspection endpoint nobody answers at: 503 naming only that, the fetch error in the audit log', async () => {
    const { idp, server } = await startOAuthHide({}, (resource) => TestIdp.start(resource, { opaque: true }));
    await server.stop();
    const closed = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() });
    const nobody = `http://127.0.0.1:${closed.port}/introspect`;
    await closed.stop(true);
    const introspecting = await startServer({
      HIDE_AUTH_MODE: 'oauth',
      HIDE_OAUTH_RESOURCE: `${server.url}/mcp`,
      HIDE_OAUTH_ISSUERS: idp.issuer,
      HIDE_SANDBOX: 'off',
      HIDE_OAUTH_INTROSPECTION_URL: nobody,
      HIDE_OAUTH_INTROSPECTION_CLIENT_ID: 'hide',
      HIDE_OAUTH_INTROSPECTION_CLIENT_SECRET: 'secret',
    });
    try {
      const before = await auditCount(introspecting);
      const r = await echo(introspecting, 'an-opaque-token-nobody-can-judge');
      expect({ status: r.status, error: r.body.error }).toEqual({
        status: 503,
        error: { code: -31503, message: 'Service unavailable: the access token cannot be checked now (introspection endpoint unreachable)', data: { retryAfterSeconds: 5, reason: 'token_check' } },
      });
      const [line] = await newAuditLines(introspecting, before, 1);
      expect(line!.event_type).toBe('auth_failure');
      expect(line!.error).toStartWith('introspection endpoint unreachable: ');
      expect(line!.error!.length).toBeGreaterThan('introspection endpoint unreachable: '.length);
    } finally {
      await introspecting.stop();
      await idp.stop();
    }
  });
});

describe('both mode', () => {
  const KEY = 'both-mode-api-key-0123456789abcdef';
  test('an API key and a token each work; presenting both is refused as ambiguous', async () => {
    const { idp, server } = await startOAuthHide({ HIDE_AUTH_MODE: 'both', HIDE_API_KEY: KEY });
    try {
      const token = await idp.token('exec-bot');
      const asKey = await rpc(server.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: ['k'] } }, { 'x-api-key': KEY });
      const asBearerKey = await rpc(server.mcpUrl, 'tools/list', undefined, bearer(KEY));
      const asToken = await echo(server, token);
      const before = await auditCount(server);
      const both = await rpc(server.mcpUrl, 'tools/list', undefined, { 'x-api-key': KEY, ...bearer(token) });
      const wrongKey = await rpc(server.mcpUrl, 'tools/list', undefined, { 'x-api-key': 'not-the-key-0123456789' });
      expect([asKey.status, asBearerKey.status, asToken.status, both.status, wrongKey.status]).toEqual([200, 200, 200, 401, 401]);
      expect(both.body.error.message).toStartWith('Unauthorized: ambiguous credentials');
      expect(both.headers.get('www-authenticate')).toContain('error="invalid_request"');
      const lines = await newAuditLines(server, before, 2);
      expect(lines.map((l) => l.event_type)).toEqual(['auth_failure', 'auth_failure']);
      // The reason reads whole in the audit line: no word of it is taken for a credential's value and masked.
      expect(JSON.stringify(lines[0])).toContain('more than one presented');
    } finally {
      await server.stop();
      await idp.stop();
    }
  });
});

describe('long-running processes of a token caller', () => {
  // The process table writes these lines itself (not the security pipeline): they must still say which token called.
  test('the process cap refusal and the process_exit line carry oauth, as every line of a token caller does', async () => {
    const { idp, server } = await startOAuthHide({ HIDE_PROCESS_MAX_PER_CLIENT: '1' });
    try {
      const token = await idp.token('exec-bot');
      const oauth = { issuer: idp.issuer, client_id: 'exec-bot', scopes: ['hide:read', 'hide:write', 'hide:exec'] };
      const start = (correlationId: string) =>
        rpc(server.mcpUrl, 'tools/call', { name: 'process_start', arguments: { command: 'sleep', arguments: ['1000.6161'], correlationId } }, bearer(token));
      const first = await start('oauth-process-first');
      expect(first.body.result.isError).toBe(false);
      const refused = await start('oauth-process-refused');
      expect([refused.status, refused.body.error?.data?.reason]).toEqual([429, 'processes-per-client']);
      const killed = await rpc(server.mcpUrl, 'tools/call', { name: 'process_kill', arguments: { processId: first.body.result.structuredContent.processId, signal: 'SIGKILL' } }, bearer(token));
      expect(killed.body.result.structuredContent.status).toBe('killed');
      const lineOf = (type: string, correlationId: string) => auditLines(server).find((l) => l.event_type === type && (l as { correlation_id?: string }).correlation_id === correlationId);
      await waitFor(() => lineOf('process_exit', 'oauth-process-first'), 5000, 'the process_exit line');
      expect([lineOf('rate_limit_exceeded', 'oauth-process-refused'), lineOf('process_exit', 'oauth-process-first')]).toMatchObject([
        { client_id: 'exec-bot', oauth },
        { client_id: 'exec-bot', oauth },
      ]);
    } finally {
      await server.stop();
      await idp.stop();
    }
  });
});
