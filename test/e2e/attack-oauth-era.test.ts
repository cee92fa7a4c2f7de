/**
 * Attacks on the OAuth resource server and the 2026-07-28 message handling,
 * each made against the real server on loopback (a real oidc-provider signs
 * the tokens; forgeries use its very keys or strangers' keys) and each
 * asserting the safe outcome: forged or misdirected tokens refused, the key
 * set fetched at a bounded rate, cached grants dropped on expiry and key
 * rotation, scopes matched exactly, principals from different issuers (or a
 * token and an API key) never sharing an identity, tokens kept out of the
 * audit log and the server log, only bearer values sent to introspection
 * (once per token, a bounded number at a time), and body/header mismatches
 * refused before anything runs.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { base64url, exportJWK, SignJWT } from 'jose';
import { freePort, newSigningKey, type SigningKey, TestIdp } from '../helpers/oidc.ts';
import { MODERN_META, rpc, startServer, type TestServer, tempDir, waitFor } from '../helpers/server.ts';
import { clearOfMinuteEnd } from '../helpers/wait.ts';
import { MAX_ID_CHARS } from '../../src/mcp/protocol.ts';

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const now = () => Math.floor(Date.now() / 1000);

/** Everything the server process writes to stderr (its log), kept while this file runs. */
const logged: string[] = [];
const realWrite = process.stderr.write.bind(process.stderr);
beforeAll(() => {
  process.stderr.write = ((chunk: string | Uint8Array) => {
    logged.push(typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk));
    return true;
  }) as typeof process.stderr.write;
});
afterAll(() => {
  process.stderr.write = realWrite;
});

async function startOAuthHide(env: Record<string, string> = {}, idps?: TestIdp[]) {
  let port = freePort();
  let resource = `http://127.0.0.1:${port}/mcp`;
  const list = idps ?? [await TestIdp.start(resource)];
  // The resource names the port before the server listens on it: another test's listener may take it meanwhile.
  for (let attempt = 1; ; attempt++) {
    for (const i of list) i.resource = resource;
    try {
      return await listenOAuthHide(env, list, port, resource);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE' || attempt === 5) throw err;
      port = freePort();
      resource = `http://127.0.0.1:${port}/mcp`;
    }
  }
}

async function listenOAuthHide(env: Record<string, string>, list: TestIdp[], port: number, resource: string) {
  const server = await startServer(
    {
      HIDE_AUTH_MODE: 'oauth',
      HIDE_OAUTH_RESOURCE: resource,
      HIDE_OAUTH_ISSUERS: JSON.stringify(list.map((i) => i.issuer)),
      HIDE_SANDBOX: 'off',
      HIDE_OAUTH_CLOCK_LEEWAY_SECONDS: '0',
      HIDE_LOG_LEVEL: 'debug',
      // The attacks all come from 127.0.0.1, and the tests read the refusal lines one by one.
      HIDE_AUDIT_REFUSALS_PER_ADDRESS: '100000',
      HIDE_AUDIT_REFUSALS_PER_MINUTE: '100000',
      ...env,
    },
    { port },
  );
  server.rt.ops.lifecycle.markReady();
  // Every issuer's keys are in before the attacks start, so fetch counts only count the attacks.
  await waitFor(async () => (await fetch(`${server.url}/ready`)).status === 200, 10_000, 'signing keys');
  return { idp: list[0]!, idps: list, server, resource };
}

function shell(s: TestServer, headers: Record<string, string>, command: string, args: string[], id?: number) {
  return fetch(s.mcpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: id ?? Math.floor(Math.random() * 1e9), method: 'tools/call', params: { name: 'shell_execute', arguments: { command, arguments: args, timeoutSeconds: 60 } } }),
  });
}

async function echoStatus(s: TestServer, token: string): Promise<number> {
  return (await rpc(s.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: ['x'] } }, bearer(token))).status;
}

function auditText(s: TestServer): string {
  return existsSync(s.auditFile) ? readFileSync(s.auditFile, 'utf8') : '';
}

async function auditLines(s: TestServer): Promise<Array<Record<string, any>>> {
  await s.rt.audit.flush();
  return auditText(s)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

const baseClaims = (idp: TestIdp, resource: string) => ({
  sub: 'exec-bot',
  client_id: 'exec-bot',
  scope: 'hide:read hide:write hide:exec',
  iss: idp.issuer,
  aud: resource,
  iat: now(),
  exp: now() + 600,
});

function sign(claims: Record<string, unknown>, key: SigningKey, header: Record<string, unknown> = {}, crit?: Record<string, boolean>) {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt', ...header } as never).sign(key.privateKey, crit ? { crit } : undefined);
}

/** A compact JWS put together by hand: header and payload as given, any signature bytes. */
function handmade(header: unknown, payload: unknown, signature = ''): string {
  return `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}.${signature}`;
}

async function hmac(alg: 'SHA-256', secret: Uint8Array<ArrayBuffer>, data: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: alg }, false, ['sign']);
  return base64url.encode(new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(data))));
}

describe('forged tokens against one issuer', () => {
  let idp: TestIdp;
  let server: TestServer;
  let resource: string;
  /** A loopback server an attacker would point `jku`/`x5u` at; it counts requests. */
  let lure: Server;
  let lureHits = 0;
  let lureUrl = '';

  beforeAll(async () => {
    ({ idp, server, resource } = await startOAuthHide());
    lure = createServer((_req, res) => {
      lureHits++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}');
    });
    await new Promise<void>((r) => lure.listen(0, '127.0.0.1', () => r()));
    lureUrl = `http://127.0.0.1:${(lure.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await server.stop();
    await idp.stop();
    lure.closeAllConnections();
    await new Promise<void>((r) => lure.close(() => r()));
  });

  test('a genuine token works (the baseline the forgeries differ from)', async () => {
    expect(await echoStatus(server, await idp.token('exec-bot'))).toBe(200);
    expect(await echoStatus(server, await sign(baseClaims(idp, resource), idp.keys[0]!))).toBe(200);
  });

  // Some issuers mark their ID and refresh JWTs in the payload (Keycloak's typ ID or Refresh, Cognito's token_use id):
  // signed by the issuer and naming this resource, such a token is still no access token.
  test('a signed JWT whose claims call it an ID or refresh token is refused; one they call an access token works', async () => {
    const withClaims = async (claims: Record<string, unknown>) => echoStatus(server, await sign({ ...baseClaims(idp, resource), ...claims }, idp.keys[0]!));
    expect({
      typID: await withClaims({ typ: 'ID' }),
      typRefresh: await withClaims({ typ: 'Refresh' }),
      tokenUseId: await withClaims({ token_use: 'id' }),
      tokenUseIdToken: await withClaims({ token_use: 'urn:ietf:params:oauth:token-type:id_token' }),
      typBearer: await withClaims({ typ: 'Bearer' }),
      tokenUseAccess: await withClaims({ token_use: 'access' }),
    }).toEqual({ typID: 401, typRefresh: 401, tokenUseId: 401, tokenUseIdToken: 401, typBearer: 200, tokenUseAccess: 200 });
  });

  const forgeries: Array<[string, () => Promise<string>]> = [
    [
      'HS256 keyed with the public JWK (JSON) as the secret',
      async () => {
        const jwk = JSON.stringify(await exportJWK(idp.keys[0]!.publicKey));
        const h = { alg: 'HS256', kid: idp.keys[0]!.kid };
        const input = `${base64url.encode(JSON.stringify(h))}.${base64url.encode(JSON.stringify(baseClaims(idp, resource)))}`;
        return `${input}.${await hmac('SHA-256', new TextEncoder().encode(jwk), input)}`;
      },
    ],
    ['alg none with an empty signature', async () => handmade({ alg: 'none', kid: idp.keys[0]!.kid }, baseClaims(idp, resource))],
    ['alg "None"', async () => handmade({ alg: 'None' }, baseClaims(idp, resource))],
    [
      'alg "rs256" (case variant) over a real RS256 signature',
      async () => {
        const [, p, s] = (await sign(baseClaims(idp, resource), idp.keys[0]!)).split('.');
        return `${base64url.encode(JSON.stringify({ alg: 'rs256', kid: idp.keys[0]!.kid }))}.${p}.${s}`;
      },
    ],
    [
      'ES256 header over the issuer RSA kid (algorithm swap)',
      async () => {
        const [, p, s] = (await sign(baseClaims(idp, resource), idp.keys[0]!)).split('.');
        return `${base64url.encode(JSON.stringify({ alg: 'ES256', kid: idp.keys[0]!.kid }))}.${p}.${s}`;
      },
    ],
    [
      'embedded jwk header carrying the attacker key',
      async () => {
        const k = await newSigningKey();
        return sign(baseClaims(idp, resource), k, { kid: undefined, jwk: await exportJWK(k.publicKey) });
      },
    ],
    [
      'jku header pointing at an attacker key set',
      async () => {
        const k = await newSigningKey();
        return sign(baseClaims(idp, resource), k, { jku: `${lureUrl}/jwks` });
      },
    ],
    [
      'x5u header pointing at an attacker certificate',
      async () => {
        const k = await newSigningKey();
        return sign(baseClaims(idp, resource), k, { x5u: `${lureUrl}/cert.pem` });
      },
    ],
    ['crit naming an extension the server does not know', () => sign(baseClaims(idp, resource), idp.keys[0]!, { crit: ['urn:attack'], 'urn:attack': true }, { 'urn:attack': true })],
    ['kid with a path (../../jwks)', async () => sign(baseClaims(idp, resource), await newSigningKey(), { kid: `../../jwks#${idp.keys[0]!.kid}` })],
    ['kid not a string (object)', async () => handmade({ alg: 'RS256', kid: { $ne: null } }, baseClaims(idp, resource), 'AAAA')],
    ['iss with a trailing slash', () => sign({ ...baseClaims(idp, resource), iss: `${idp.issuer}/` }, idp.keys[0]!)],
    ['iss in upper case', () => sign({ ...baseClaims(idp, resource), iss: idp.issuer.toUpperCase() }, idp.keys[0]!)],
    ['iss as an array naming the issuer', () => sign({ ...baseClaims(idp, resource), iss: [idp.issuer] }, idp.keys[0]!)],
    ['aud an array without this resource', () => sign({ ...baseClaims(idp, resource), aud: ['https://elsewhere.example/mcp', `${resource}/`] }, idp.keys[0]!)],
    ['aud with a trailing slash', () => sign({ ...baseClaims(idp, resource), aud: `${resource}/` }, idp.keys[0]!)],
    ['no exp', () => sign({ ...baseClaims(idp, resource), exp: undefined }, idp.keys[0]!)],
    ['exp as a string', () => sign({ ...baseClaims(idp, resource), exp: String(now() + 600) }, idp.keys[0]!)],
    ['no sub', () => sign({ ...baseClaims(idp, resource), sub: undefined }, idp.keys[0]!)],
    // Every token with sub "" would be one client: its limits, its processes, its calls to cancel.
    ['empty sub', () => sign({ ...baseClaims(idp, resource), sub: '' }, idp.keys[0]!)],
    // A client id is written to logs and names the client's launcher and limits; one starting with NUL is the
    // server's own version-probe owner.
    ['sub with a NUL (the version probe\'s owner)', () => sign({ ...baseClaims(idp, resource), sub: '\u0000version-probe' }, idp.keys[0]!)],
    ['sub with a line break', () => sign({ ...baseClaims(idp, resource), sub: 'alice\n{"event_type":"x"}' }, idp.keys[0]!)],
    ['sub with a Unicode line separator', () => sign({ ...baseClaims(idp, resource), sub: 'alice\u2028{"event_type":"x"}' }, idp.keys[0]!)],
    ['sub with a right-to-left override (shown as another name)', () => sign({ ...baseClaims(idp, resource), sub: 'bob\u202eecila' }, idp.keys[0]!)],
    // Shown exactly as alice, or as nobody: another client that looks like one already there.
    ['sub with a zero-width space', () => sign({ ...baseClaims(idp, resource), sub: 'alice\u200b' }, idp.keys[0]!)],
    ['sub with a soft hyphen', () => sign({ ...baseClaims(idp, resource), sub: 'al\u00adice' }, idp.keys[0]!)],
    ['sub with a byte-order mark', () => sign({ ...baseClaims(idp, resource), sub: '\ufeffalice' }, idp.keys[0]!)],
    ['sub with a lone surrogate', () => sign({ ...baseClaims(idp, resource), sub: 'alice\ud800' }, idp.keys[0]!)],
    ['sub of a space', () => sign({ ...baseClaims(idp, resource), sub: ' ' }, idp.keys[0]!)],
    ['a payload that is not JSON', async () => `${base64url.encode(JSON.stringify({ alg: 'RS256', kid: idp.keys[0]!.kid }))}.${base64url.encode('not json')}.AAAA`],
    [
      'two signatures glued (JSON serialization smuggled in the payload)',
      async () => {
        const real = await sign(baseClaims(idp, resource), idp.keys[0]!);
        return `${real}.${real.split('.')[2]}`;
      },
    ],
  ];

  test.each(forgeries)('%s: 401, one auth_failure line, nothing runs, nothing fetched from the lure', async (name, make) => {
    const token = await make();
    const marker = `ran-${name.replace(/\W+/g, '-').slice(0, 40)}`;
    const before = (await auditLines(server)).length;
    const res = await shell(server, bearer(token), 'touch', [marker]);
    const body = (await res.json()) as any;
    expect({ status: res.status, code: body.error?.code }).toEqual({ status: 401, code: -32001 });
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_(token|request)"/);
    const lines = (await auditLines(server)).slice(before);
    expect(lines.map((l) => l.event_type)).toEqual(['auth_failure']);
    expect(existsSync(join(server.workspace, marker))).toBe(false);
    expect(lureHits).toBe(0);
    expect(auditText(server)).not.toContain(token);
  });

  test('aud as an array that includes this resource is accepted (RFC 7519), an exact string match per element', async () => {
    expect(await echoStatus(server, await sign({ ...baseClaims(idp, resource), aud: ['https://elsewhere.example/mcp', resource] }, idp.keys[0]!))).toBe(200);
  });

  test('huge tokens, genuinely signed or not, are refused with a 4xx, never a 5xx', async () => {
    for (const pad of [9_000, 12_500, 20_000]) {
      const padded = await sign({ ...baseClaims(idp, resource), pad: 'x'.repeat(pad) }, idp.keys[0]!);
      const r = await shell(server, bearer(padded), 'echo', ['x']);
      // Under 16 KiB it is a valid token; past that the server's header limit (431) or the JWT size bound (401) stops it.
      expect([padded.length <= 16 * 1024 ? 200 : 401, 431]).toContain(r.status);
    }
    const r2 = await fetch(server.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer('a'.repeat(200_000)) }, body: '{}' });
    expect(r2.status).toBeGreaterThanOrEqual(400);
    expect(r2.status).toBeLessThan(500);
  });

  test('a flood of tokens with unknown kids (sequential and concurrent) fetches the key set at most once per cooldown', async () => {
    const hits = idp.jwksHits;
    const strangers = await Promise.all(Array.from({ length: 5 }, () => newSigningKey()));
    const tokens = await Promise.all(Array.from({ length: 40 }, (_, i) => sign(baseClaims(idp, resource), strangers[i % 5]!, { kid: `unknown-${i}` })));
    for (const t of tokens.slice(0, 10)) expect(await echoStatus(server, t)).toBe(401);
    const statuses = await Promise.all(tokens.slice(10).map((t) => echoStatus(server, t)));
    expect(new Set(statuses)).toEqual(new Set([401]));
    // The keys were loaded at start, within the default 30 s cooldown: no fetch at all.
    expect(idp.jwksHits).toBe(hits);
    expect(await echoStatus(server, await idp.token('exec-bot'))).toBe(200);
  });

  test('a cached grant ends at exp: an accepted token stops working once it expires (leeway 0)', async () => {
    const token = await sign({ ...baseClaims(idp, resource), exp: now() + 2 }, idp.keys[0]!);
    expect(await echoStatus(server, token)).toBe(200);
    await waitFor(async () => (await echoStatus(server, token)) === 401, 10_000, 'the cached grant to end at exp');
    const [last] = (await auditLines(server)).slice(-1);
    expect(last).toMatchObject({ event_type: 'auth_failure', error: 'token expired' });
  });

  test('scope tricks: only exact, space-separated scope names grant tools', async () => {
    const c = baseClaims(idp, resource);
    const exec = async (claims: Record<string, unknown>) => echoStatus(server, await sign({ ...c, scope: undefined, ...claims }, idp.keys[0]!));
    expect(await exec({ scope: 'hide:execute' })).toBe(403);
    expect(await exec({ scope: 'HIDE:EXEC' })).toBe(403);
    expect(await exec({ scope: 'hide:read\thide:exec' })).toBe(403);
    expect(await exec({ scope: 'hide:read,hide:exec' })).toBe(403);
    expect(await exec({ scope: ' hide:exec ' })).toBe(200);
    expect(await exec({ scope: '', scp: 'hide:exec' })).toBe(403);
    expect(await exec({ scope: { 0: 'hide:exec' } })).toBe(403);
    expect(await exec({ scp: ['hide:exec'] })).toBe(200);
  });

  test('scope tricks: a list element holding a space does not reuse the grant of the two scopes it spells', async () => {
    const c = baseClaims(idp, resource);
    // A genuine hide:read + hide:exec grant is computed first, and remembered.
    expect(await echoStatus(server, await idp.token('exec-bot', { scope: 'hide:read hide:exec' }))).toBe(200);
    // One unknown scope named "hide:exec hide:read" must grant nothing.
    const r = await rpc(server.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: ['x'] } }, bearer(await sign({ ...c, scope: undefined, scp: ['hide:exec hide:read'] }, idp.keys[0]!)));
    expect({ status: r.status, reason: r.body.error?.data?.reason }).toEqual({ status: 403, reason: 'scope' });
  });

  // Every token with one sub is one client; one that may not run a command must not stop one either.
  test('a token of the same sub without hide:exec cannot cancel the command another token of that sub runs', async () => {
    const c = baseClaims(idp, resource);
    const exec = bearer(await sign({ ...c, scope: 'hide:exec' }, idp.keys[0]!));
    const readOnly = bearer(await sign({ ...c, scope: 'hide:read' }, idp.keys[0]!));
    const none = bearer(await sign({ ...c, scope: '' }, idp.keys[0]!));
    await cancellationDoesNotCross(server, exec, readOnly, 61, 'scope-read');
    await cancellationDoesNotCross(server, exec, none, 62, 'scope-none');
  });

  // One user's two apps (or two MCP clients of one app registered apart) number their requests from 0 alike: a
  // cancellation of one must not end the other's call that has the same id. A refreshed token of the same app still can.
  test("one sub's two OAuth clients: one cannot cancel the other's call of the same id; a new token of the same client can", async () => {
    const c = baseClaims(idp, resource);
    const appA = bearer(await sign({ ...c, client_id: 'app-a' }, idp.keys[0]!));
    const appB = bearer(await sign({ ...c, client_id: 'app-b' }, idp.keys[0]!));
    await cancellationDoesNotCross(server, appA, appB, 64, 'oauth-app');
    const marker = `sleep 0.05${process.pid}refreshed`;
    const call = shell(server, appA, 'sh', ['-c', `while :; do ${marker}; done`], 65).then((r) => r.json() as Promise<any>);
    await waitFor(() => pgrepCount(marker) >= 1 || null, 10_000, 'the call to start');
    const refreshed = bearer(await sign({ ...c, client_id: 'app-a', iat: now() + 1 }, idp.keys[0]!));
    expect((await fetch(server.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...refreshed }, body: cancelNote(65) })).status).toBe(202);
    expect((await call).result?.isError).toBe(true);
    await waitFor(() => pgrepCount(marker) === 0 || null, 10_000, 'the process group killed');
  });

  test('the token appears neither in the audit log nor in the server log (debug level), whatever path it took', async () => {
    const good = await idp.token('exec-bot');
    const forged = await sign(baseClaims(idp, resource), await newSigningKey());
    await echoStatus(server, good);
    await echoStatus(server, forged);
    await rpc(server.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: [good] } }, bearer(good));
    await rpc(server.mcpUrl, 'tools/list', undefined, { authorization: `bearer ${good}` });
    await rpc(server.mcpUrl, 'tools/list', undefined, { 'x-api-key': good });
    await server.rt.audit.flush();
    for (const t of [good, forged]) {
      const signature = t.split('.')[2]!;
      expect(auditText(server)).not.toContain(signature);
      expect(logged.join('')).not.toContain(signature);
    }
  });

  test('a genuinely signed token bound to a key (DPoP cnf.jkt) is refused as a bearer token, with the reason audited', async () => {
    const bound = await sign({ ...baseClaims(idp, resource), cnf: { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' } }, idp.keys[0]!);
    const before = (await auditLines(server)).length;
    const r = await rpc(server.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: ['x'] } }, bearer(bound));
    const reason = 'token is bound to a key (cnf), and this server checks no proof of possession';
    expect({ status: r.status, message: r.body.error?.message }).toEqual({ status: 401, message: `Unauthorized: ${reason}` });
    expect((await auditLines(server)).slice(before).map((l) => [l.event_type, l.error])).toEqual([['auth_failure', reason]]);
  });

  test('a genuinely signed JWT typed as another kind (a DPoP proof, a logout token) is refused; at+jwt, JWT or no type pass', async () => {
    const status = async (header: Record<string, unknown>) => {
      const token = await sign(baseClaims(idp, resource), idp.keys[0]!, header);
      return (await rpc(server.mcpUrl, 'tools/list', undefined, bearer(token))).status;
    };
    const passing = [{}, { typ: 'JWT' }, { typ: 'application/AT+JWT' }, { typ: undefined }];
    expect(await Promise.all(passing.map(status))).toEqual([200, 200, 200, 200]);
    const before = (await auditLines(server)).length;
    const refused = [{ typ: 'dpop+jwt' }, { typ: 'logout+jwt' }, { typ: 'secevent+jwt' }, { typ: 7 }];
    expect(await Promise.all(refused.map(status))).toEqual([401, 401, 401, 401]);
    const reason = 'token is typed (typ) as another kind of JWT, not an access token';
    expect((await auditLines(server)).slice(before).map((l) => [l.event_type, l.error])).toEqual(refused.map(() => ['auth_failure', reason]));
  });

  test('a genuine token in the query string, or beside a forged one on a second Authorization line, never authenticates', async () => {
    const good = await idp.token('exec-bot');
    const forged = await sign(baseClaims(idp, resource), await newSigningKey());
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const q = await fetch(`${server.mcpUrl}?access_token=${good}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect({ status: q.status, challenge: q.headers.get('www-authenticate')?.includes('error=') }).toEqual({ status: 401, challenge: false });
    const q2 = await fetch(`${server.mcpUrl}?access_token=${good}`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(forged) }, body });
    expect(q2.status).toBe(401);
    // A proxy in front may check one line and pass both: whichever order, the pair is no credential.
    for (const [a, b] of [[good, forged], [forged, good]]) {
      const raw = await rawHttp(server.url, `POST /mcp HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${a}\r\nAuthorization: Bearer ${b}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 401 Unauthorized');
    }
  });

  test('the metadata document and challenges never reflect an attacker Host or X-Forwarded-Host', async () => {
    const evil = { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', forwarded: 'host=evil.example' };
    const meta = await fetch(`${server.url}/.well-known/oauth-protected-resource/mcp`, { headers: evil });
    expect(JSON.stringify(await meta.json())).not.toContain('evil.example');
    const challenge = await rpc(server.mcpUrl, 'tools/list', undefined, evil);
    expect(challenge.status).toBe(401);
    expect(challenge.headers.get('www-authenticate')).toContain(`resource_metadata="${server.url}/.well-known/oauth-protected-resource/mcp"`);
    // A foreign Host on a loopback bind is refused outright (DNS rebinding), the document included.
    const raw = await rawHttp(server.url, `GET /.well-known/oauth-protected-resource HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
    expect(raw).not.toContain('"resource":"http://evil.example');
  });
});

describe('signing keys and the verified-token cache', () => {
  test('a token of a key the issuer dropped stops working as soon as the new key set is fetched, cached grant or not', async () => {
    const { idp, server, resource } = await startOAuthHide({ HIDE_OAUTH_JWKS_COOLDOWN_SECONDS: '0' });
    try {
      const old = await sign(baseClaims(idp, resource), idp.keys[0]!);
      expect(await echoStatus(server, old)).toBe(200); // now cached
      await idp.rotate();
      idp.dropOldKeys();
      // The first token of the new key is an unknown kid: one fetch, a new key set.
      expect(await echoStatus(server, await idp.token('exec-bot'))).toBe(200);
      expect(await echoStatus(server, old)).toBe(401);
    } finally {
      await server.stop();
      await idp.stop();
    }
  });
});

/** One raw HTTP/1.1 exchange over a socket, for what fetch will not send (duplicate headers, a foreign Host). */
function rawHttp(base: string, request: string): Promise<string> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect(Number(u.port), u.hostname, () => sock.end(request));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    sock.on('error', reject);
  });
}

function pgrepCount(pattern: string): number {
  const r = Bun.spawnSync(['pgrep', '-f', pattern]);
  return r.stdout.toString().split('\n').filter((l) => l.trim() !== '').length;
}

const cancelNote = (requestId: unknown) => JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason: 'attack' } });

/**
 * The victim starts a call with `id` that waits for a release file; the
 * attacker sends `notifications/cancelled` for that id; the call must run on
 * to its normal end once released.
 */
async function cancellationDoesNotCross(s: TestServer, victim: Record<string, string>, attacker: Record<string, string>, id: number, tag: string, requestIds: unknown[] = [id]) {
  const marker = `sleep 0.05${process.pid}${tag}`;
  const release = join(s.workspace, `release-${tag}`);
  const call = shell(s, victim, 'sh', ['-c', `while [ ! -e ${release} ]; do ${marker}; done; echo released`], id).then((r) => r.json() as Promise<any>);
  await waitFor(() => pgrepCount(marker) >= 1 || null, 10_000, 'the victim call to start');
  for (const rid of requestIds) {
    const res = await fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...attacker }, body: cancelNote(rid) });
    expect(res.status).toBe(202);
  }
  writeFileSync(release, '');
  const done = await call;
  expect(done.result?.structuredContent).toMatchObject({ stdout: 'released\n', exitCode: 0 });
}

describe('two issuers, one whose key set cannot be fetched', () => {
  test("the server is ready and the other issuer's tokens work; the unreachable issuer's tokens are refused (closed)", async () => {
    const up = await TestIdp.start('pending');
    const down = await TestIdp.start('pending');
    down.jwksDown = true;
    // Resolves only once /ready answers 200: the issuer that has keys is enough.
    const { server } = await startOAuthHide({}, [up, down]);
    try {
      expect(await echoStatus(server, await up.token('exec-bot'))).toBe(200);
      // Refused (closed): with no keys for its issuer the token cannot be checked, 503 to retry.
      expect(await echoStatus(server, await down.token('exec-bot'))).toBe(503);
      expect((await fetch(`${server.url}/ready`)).status).toBe(200);
    } finally {
      await server.stop();
      await up.stop();
      await down.stop();
    }
  });
});

describe('identities: a sub is unique only within its issuer', () => {
  let idpA: TestIdp;
  let idpB: TestIdp;
  let server: TestServer;
  let resource: string;

  beforeAll(async () => {
    idpA = await TestIdp.start('pending');
    idpB = await TestIdp.start('pending');
    ({ server, resource } = await startOAuthHide({}, [idpA, idpB]));
  });
  afterAll(async () => {
    await server.stop();
    await idpA.stop();
    await idpB.stop();
  });

  test("a token naming issuer B but signed with issuer A's key is refused", async () => {
    const token = await sign({ ...baseClaims(idpB, resource) }, idpA.keys[0]!);
    expect(await echoStatus(server, token)).toBe(401);
    expect(await echoStatus(server, await idpB.token('exec-bot'))).toBe(200);
  });

  test('the same sub from two issuers is two clients: distinct audit client ids, and B cannot cancel A\'s call', async () => {
    const a = await idpA.token('exec-bot');
    const b = await idpB.token('exec-bot');
    const before = (await auditLines(server)).length;
    expect(await echoStatus(server, a)).toBe(200);
    expect(await echoStatus(server, b)).toBe(200);
    const ids = (await auditLines(server)).slice(before).map((l) => l.client_id);
    expect(ids).toEqual([`${idpA.issuer}#exec-bot`, `${idpB.issuer}#exec-bot`]);
    await cancellationDoesNotCross(server, bearer(a), bearer(b), 41, 'iss');
  });
});

describe('identities: both mode, an API key client and a token with the same name', () => {
  let idp: TestIdp;
  let server: TestServer;
  const KEY = 'k'.repeat(43);

  beforeAll(async () => {
    const keys = join(tempDir('hide-attack-keys-'), 'keys.json');
    writeFileSync(keys, JSON.stringify({ clients: [{ client_id: 'exec-bot', api_key: KEY, enabled: true }] }));
    ({ idp, server } = await startOAuthHide({ HIDE_AUTH_MODE: 'both', HIDE_API_KEYS_FILE: keys }));
  });
  afterAll(async () => {
    await server.stop();
    await idp.stop();
  });

  test('the token cannot cancel the key client\'s call (nor the key the token\'s), and the audit tells them apart', async () => {
    const token = await idp.token('exec-bot');
    await cancellationDoesNotCross(server, { 'x-api-key': KEY }, bearer(token), 51, 'both1');
    await cancellationDoesNotCross(server, bearer(token), { 'x-api-key': KEY }, 52, 'both2');
    const calls = (await auditLines(server)).filter((l) => l.event_type === 'tool_call').map((l) => l.client_id);
    expect(calls).toEqual(['exec-bot', `${idp.issuer}#exec-bot`]);
  });

  test('credential placement: token in X-API-Key refused, key in Bearer accepted, key and token together refused', async () => {
    const token = await idp.token('exec-bot');
    expect((await rpc(server.mcpUrl, 'tools/list', undefined, { 'x-api-key': token })).status).toBe(401);
    expect((await rpc(server.mcpUrl, 'tools/list', undefined, { 'x-mcp-api-key': token })).status).toBe(401);
    expect((await rpc(server.mcpUrl, 'tools/list', undefined, bearer(KEY))).status).toBe(200);
    expect((await rpc(server.mcpUrl, 'tools/list', undefined, { 'x-api-key': KEY, ...bearer(token) })).status).toBe(401);
    expect((await rpc(server.mcpUrl, 'tools/list', undefined, { 'x-api-key': KEY, ...bearer(KEY) })).status).toBe(200);
    expect((await rpc(server.mcpUrl, 'tools/list', undefined, { authorization: `Basic ${btoa(`x:${KEY}`)}` })).status).toBe(401);
  });

  test('the key client cannot cancel its own call by the id as a string, or a different number', async () => {
    await cancellationDoesNotCross(server, { 'x-api-key': KEY }, { 'x-api-key': KEY }, 53, 'both3', ['53', 53.0000001, 530, null, { id: 53 }]);
  });
});

describe('2026-07-28 headers and bodies', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ HIDE_SANDBOX: 'off' });
  });
  afterAll(() => server.stop());

  const b64 = (s: string) => `=?base64?${Buffer.from(s).toString('base64')}?=`;
  const touch = (marker: string) => ({ name: 'shell_execute', arguments: { command: 'touch', arguments: [marker] } });

  /** Sends a tools/call that would create `marker` and expects a -32020 refusal with nothing run. */
  async function refusedMismatch(era: 'legacy' | 'modern', marker: string, headers: Record<string, string>) {
    const r = await rpc(server.mcpUrl, 'tools/call', touch(marker), headers, era);
    expect({ status: r.status, code: r.body.error?.code }).toEqual({ status: 400, code: -32020 });
    expect(existsSync(join(server.workspace, marker))).toBe(false);
  }

  for (const era of ['legacy', 'modern'] as const) {
    test(`${era}: Mcp-Name naming a read tool over a body that runs a command is refused before anything runs`, async () => {
      await refusedMismatch(era, `m1-${era}`, { 'mcp-name': 'read_file' });
      await refusedMismatch(era, `m2-${era}`, { 'mcp-name': b64('read_file') });
      // The sentinel is case-sensitive: an upper-case one is a plain value, which differs from the body.
      await refusedMismatch(era, `m3-${era}`, { 'mcp-name': `=?BASE64?${Buffer.from('shell_execute').toString('base64')}?=` });
      await refusedMismatch(era, `m4-${era}`, { 'mcp-name': '=?base64?***?=' });
      await refusedMismatch(era, `m5-${era}`, { 'mcp-name': 'shell_execute, read_file' });
      await refusedMismatch(era, `m6-${era}`, { 'mcp-method': 'tools/list' });
      await refusedMismatch(era, `m7-${era}`, { 'mcp-name': b64('shell_execute\u0000') });
    });
  }

  test('the base64 form of the right name is accepted', async () => {
    const r = await rpc(server.mcpUrl, 'tools/call', touch('ok-b64'), { 'mcp-name': b64('shell_execute') }, 'modern');
    expect(r.status).toBe(200);
  });

  test('duplicate Mcp-Name / Mcp-Method lines on the wire (a proxy may read either) are refused', async () => {
    for (const [i, dup] of [
      'Mcp-Name: read_file\r\nMcp-Name: shell_execute',
      'Mcp-Name: shell_execute\r\nMcp-Name: read_file',
      'Mcp-Name: shell_execute\r\nMcp-Method: tools/list\r\nMcp-Method: tools/call',
    ].entries()) {
      const marker = `dup-${i}`;
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { ...touch(marker), _meta: MODERN_META } });
      const host = new URL(server.url).host;
      const head = `POST /mcp HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nAccept: application/json\r\nMCP-Protocol-Version: 2026-07-28\r\n${dup.includes('Mcp-Method') ? '' : 'Mcp-Method: tools/call\r\n'}${dup}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
      const raw = await rawHttp(server.url, head + body);
      expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
      expect(raw).toContain('-32020');
      expect(existsSync(join(server.workspace, marker))).toBe(false);
    }
  });

  test('_meta with __proto__ and constructor keys: no pollution, no era switch, no 5xx', async () => {
    const body = `{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"_meta":{"__proto__":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","polluted":true},"constructor":{"prototype":{"polluted":true}},"progressToken":{"__proto__":{"polluted":true}}}}}`;
    const res = await fetch(server.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const out = (await res.json()) as any;
    expect(res.status).toBe(200);
    expect(out.result.resultType).toBeUndefined(); // still the handshake era
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const again = await rpc(server.mcpUrl, 'tools/list', {}, {}, 'modern');
    expect(again.body.result.tools.length).toBeGreaterThan(0);
  });

  test('methods named after Object.prototype members are unknown methods, not header mismatches', async () => {
    for (const method of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const r = await rpc(server.mcpUrl, method, {}, {}, 'modern');
      expect({ method, status: r.status, code: r.body.error?.code }).toEqual({ method, status: 404, code: -32601 });
    }
  });

  test('a huge or deeply nested _meta is answered with a 4xx or a result, never a 5xx', async () => {
    const wide = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]));
    const r1 = await rpc(server.mcpUrl, 'tools/list', { _meta: { ...MODERN_META, ...wide } }, {}, 'modern');
    // More values than any message needs: refused before the parse would build them.
    expect([r1.status, r1.body.error?.code]).toEqual([400, -32600]);
    const deep = `${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}`;
    const body = `{"jsonrpc":"2.0","id":8,"method":"tools/list","params":{"_meta":${deep}}}`;
    const res = await fetch(server.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBeLessThan(500);
    const big = await fetch(server.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{"_meta":{"x":"${'y'.repeat(5 * 1024 * 1024)}"}}}` });
    expect(big.status).toBe(413);
  });

  test('progressToken tricks: an object or float token asks for nothing; a 1 MiB token asks for nothing and is never echoed back', async () => {
    for (const progressToken of [{ a: 1 }, 1.5, [1], null, true]) {
      const r = await rpc(server.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: ['p'] }, _meta: { progressToken } });
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toStartWith('application/json');
    }
    const token = 't'.repeat(1024 * 1024);
    const res = await fetch(server.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'echo', arguments: ['p'] }, _meta: { progressToken: token } } }),
    });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text.length).toBeLessThan(64 * 1024);
    expect(text.split('event: message').length - 1).toBe(1);
  });

  test('ids are echoed exactly, whatever their form; a non-integer number is refused', async () => {
    for (const id of ['9007199254740993', '-9007199254740993', '0', '""', '"\\u0000\\u2028x"', `"${'i'.repeat(MAX_ID_CHARS)}"`, '123456789012345678901234567890']) {
      const res = await fetch(server.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"jsonrpc":"2.0","id":${id},"method":"tools/list"}` });
      const text = await res.text();
      expect(res.status).toBe(200);
      expect(text.startsWith(`{"jsonrpc":"2.0","id":${JSON.stringify(JSON.parse(id))},`) || text.startsWith(`{"jsonrpc":"2.0","id":${id},`)).toBe(true);
    }
    // Not a whole number, or longer than any answer should carry back.
    for (const id of ['1.5', `"${'i'.repeat(MAX_ID_CHARS + 1)}"`]) {
      const bad = await fetch(server.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"jsonrpc":"2.0","id":${id},"method":"tools/list"}` });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as any).id).toBeNull();
    }
  });
});

/**
 * Stands in for an authorization server's introspection endpoint, answering
 * `answer()` to every request; `env` points hide at it.
 */
function introspectionStandIn(answer: (req: Request) => Response | Promise<Response>): { env: Record<string, string>; asked(): number; stop(): void } {
  let asked = 0;
  const endpoint = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: (req) => {
      asked++;
      return answer(req);
    },
  });
  return {
    asked: () => asked,
    env: {
      HIDE_OAUTH_INTROSPECTION_URL: `http://127.0.0.1:${endpoint.port}/introspect`,
      HIDE_OAUTH_INTROSPECTION_CLIENT_ID: 'hide',
      HIDE_OAUTH_INTROSPECTION_CLIENT_SECRET: 'hide-secret',
    },
    stop: () => endpoint.stop(true),
  };
}

/**
 * An oauth-mode server beside a stand-in introspection endpoint, for the tests of one describe: started before
 * them, stopped after. `answer` may read the returned `resource` and `idp`: they are set before any request
 * reaches the endpoint.
 */
function hideWithIntrospection(answer: (req: Request) => Response | Promise<Response>, env: Record<string, string> = {}): { server: TestServer; idp: TestIdp; resource: string } {
  const hide = {} as { server: TestServer; idp: TestIdp; resource: string };
  let introspection: ReturnType<typeof introspectionStandIn>;
  beforeAll(async () => {
    introspection = introspectionStandIn(answer);
    const { server, idp, resource } = await startOAuthHide({ ...introspection.env, ...env });
    Object.assign(hide, { server, idp, resource });
  });
  afterAll(async () => {
    await hide.server.stop();
    await hide.idp.stop();
    introspection.stop();
  });
  return hide;
}

describe('introspection answers from a misbehaving authorization server', () => {
  /** What the stand-in endpoint answers; each test sets it. */
  let answer: () => Response = () => Response.json({ active: false });
  let introspection: ReturnType<typeof introspectionStandIn>;
  let server: TestServer;
  let idp: TestIdp;
  let resource: string;
  let n = 0;

  beforeAll(async () => {
    introspection = introspectionStandIn(() => answer());
    ({ idp, server, resource } = await startOAuthHide(introspection.env));
  });
  afterAll(async () => {
    await server.stop();
    await idp.stop();
    introspection.stop();
  });

  const active = () => ({ active: true, sub: 'opaque-user', scope: 'hide:exec', aud: resource, iss: idp.issuer, exp: now() + 600 });
  // A fresh opaque token each time, so no cached answer decides.
  const opaque = () => `opaque-token-${++n}-0123456789abcdef`;

  test('a well-formed active answer is accepted (the baseline)', async () => {
    answer = () => Response.json(active());
    expect(await echoStatus(server, opaque())).toBe(200);
  });

  const refused: Array<[string, () => Response, string]> = [
    // An answer that says active but carries times that say otherwise is judged by its times, as a JWT would be.
    ['active with exp in the past', () => Response.json({ ...active(), exp: now() - 3600 }), 'token expired'],
    ['active with nbf in the future', () => Response.json({ ...active(), nbf: now() + 3600 }), 'token not yet valid (nbf)'],
    ['exp as a string (in the past)', () => Response.json({ ...active(), exp: String(now() - 3600) }), 'token claim exp invalid'],
    ['exp as an object', () => Response.json({ ...active(), exp: { valueOf: now() + 600 } }), 'token claim exp invalid'],
    ['nbf as a string (in the future)', () => Response.json({ ...active(), nbf: String(now() + 3600) }), 'token claim nbf invalid'],
    ['active without aud', () => Response.json({ ...active(), aud: undefined }), 'token is not for this resource (aud)'],
    ['active as the string "true"', () => Response.json({ ...active(), active: 'true' }), 'token is not active'],
    ['an untrusted iss', () => Response.json({ ...active(), iss: 'https://elsewhere.example' }), 'token issuer is not trusted (iss)'],
    ['active, bound to a client certificate (cnf)', () => Response.json({ ...active(), cnf: { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' } }), 'token is bound to a key (cnf), and this server checks no proof of possession'],
  ];

  test('an endpoint that answers HTML is no verdict on the token: 503 to retry, with the reason audited', async () => {
    answer = () => new Response('<html>hi</html>', { headers: { 'content-type': 'text/html' } });
    const before = (await auditLines(server)).length;
    const r = await rpc(server.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: ['x'] } }, bearer(opaque()));
    const reason = 'introspection endpoint answered something other than JSON';
    expect({ status: r.status, data: r.body.error?.data }).toEqual({ status: 503, data: { retryAfterSeconds: 5, reason: 'token_check' } });
    expect((await auditLines(server)).slice(before).map((l) => [l.event_type, l.error])).toEqual([['auth_failure', reason]]);
  });

  test('a redirect from the endpoint is not followed: the token and the client secret never reach where it points', async () => {
    let lureHits = 0;
    const lure = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: () => {
        lureHits++;
        return Response.json(active());
      },
    });
    try {
      for (const status of [302, 307, 308]) {
        answer = () => new Response(null, { status, headers: { location: `http://127.0.0.1:${lure.port}/introspect` } });
        const r = await rpc(server.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: ['x'] } }, bearer(opaque()));
        // No answer about the token: 503 to retry (as any endpoint failure), and nothing sent on.
        expect({ status: r.status, message: r.body.error?.message }).toEqual({
          status: 503,
          message: `Service unavailable: the access token cannot be checked now (introspection endpoint answered HTTP ${status})`,
        });
      }
      expect(lureHits).toBe(0);
    } finally {
      lure.stop(true);
    }
  });

  test.each(refused)('%s: 401 with the reason audited', async (_name, make, reason) => {
    answer = make;
    const before = (await auditLines(server)).length;
    const r = await rpc(server.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: ['x'] } }, bearer(opaque()));
    expect({ status: r.status, message: r.body.error?.message }).toEqual({ status: 401, message: `Unauthorized: ${reason}` });
    expect((await auditLines(server)).slice(before).map((l) => [l.event_type, l.error])).toEqual([['auth_failure', reason]]);
  });
});

describe('both mode with introspection: a bearer value the key store knows is a key, whatever its shape', () => {
  const DOTTED = 'team.build-bot.0123456789abcdefghij';
  const DISABLED = 'disabled-key-0123456789abcdefghijkl';
  let asked = 0;
  let introspection: ReturnType<typeof introspectionStandIn>;
  let server: TestServer;
  let idp: TestIdp;

  beforeAll(async () => {
    introspection = introspectionStandIn(() => {
      asked++;
      return Response.json({ active: false });
    });
    const keys = join(tempDir('hide-attack-keys-'), 'keys.json');
    writeFileSync(
      keys,
      JSON.stringify({
        clients: [
          { client_id: 'dotted', api_key: DOTTED, enabled: true },
          { client_id: 'retired', api_key: DISABLED, enabled: false },
        ],
      }),
    );
    ({ idp, server } = await startOAuthHide({
      HIDE_AUTH_MODE: 'both',
      HIDE_API_KEYS_FILE: keys,
      ...introspection.env,
    }));
  });
  afterAll(async () => {
    await server.stop();
    await idp.stop();
    introspection.stop();
  });

  test('a keys-file key with two dots (the compact JWT form) works in Authorization: Bearer as in X-API-Key', async () => {
    expect((await rpc(server.mcpUrl, 'tools/list', undefined, { 'x-api-key': DOTTED })).status).toBe(200);
    const r = await rpc(server.mcpUrl, 'tools/list', undefined, bearer(DOTTED));
    expect({ status: r.status, error: r.body.error?.message }).toEqual({ status: 200, error: undefined });
  });

  test('a disabled key in Bearer is refused as a disabled key and never sent to the introspection endpoint', async () => {
    const before = (await auditLines(server)).length;
    const r = await rpc(server.mcpUrl, 'tools/list', undefined, bearer(DISABLED));
    expect({ status: r.status, message: r.body.error?.message }).toEqual({ status: 401, message: 'Unauthorized: API key is disabled' });
    expect(asked).toBe(0);
    expect((await auditLines(server)).slice(before).map((l) => [l.event_type, l.error])).toEqual([['auth_failure', 'API key is disabled']]);
    // A value nobody knows still goes to introspection: it may be an opaque token.
    expect((await rpc(server.mcpUrl, 'tools/list', undefined, bearer('unknown-opaque-value-0123456789'))).status).toBe(401);
    expect(asked).toBe(1);
  });
});

describe("introspection with two issuers, HIDE_OAUTH_INTROSPECTION_ISSUER naming A: its answers are A's users, never B's", () => {
  let idpA: TestIdp;
  let idpB: TestIdp;
  let server: TestServer;
  let iss: unknown;

  beforeAll(async () => {
    idpA = await TestIdp.start('pending');
    idpB = await TestIdp.start('pending');
    // A's own endpoint, named in A's metadata, answering for a token of whoever it likes.
    idpA.introspectionAnswer = () => ({ active: true, sub: 'victim', scope: 'hide:exec', aud: idpA.resource, exp: now() + 600, ...(iss === undefined ? {} : { iss }) });
    const env = { ...idpA.introspectionEnv(), HIDE_OAUTH_INTROSPECTION_ISSUER: idpA.issuer };
    ({ server } = await startOAuthHide(env, [idpA, idpB]));
  });
  afterAll(async () => {
    await server.stop();
    await idpA.stop();
    await idpB.stop();
  });

  test("naming issuer B it is refused; naming A, or no issuer, it is A's victim", async () => {
    // Both issuers' metadata known, as after the first token of each.
    expect(await echoStatus(server, await idpA.token('exec-bot'))).toBe(200);
    expect(await echoStatus(server, await idpB.token('exec-bot'))).toBe(200);
    const outcome = async (named: unknown, token: string) => {
      iss = named;
      const before = (await auditLines(server)).length;
      const status = await echoStatus(server, token);
      const [line] = (await auditLines(server)).slice(before);
      return [status, line?.client_id ?? null, line?.error ?? null];
    };
    expect(await outcome(idpB.issuer, 'opaque-token-naming-b-0123456789')).toEqual([401, null, "introspection answer names an issuer (iss) other than the endpoint's own"]);
    expect(await outcome(idpA.issuer, 'opaque-token-naming-a-0123456789')).toEqual([200, `${idpA.issuer}#victim`, null]);
    expect(await outcome(undefined, 'opaque-token-naming-none-0123456789')).toEqual([200, `${idpA.issuer}#victim`, null]);
  });
});

/**
 * Issuer A, made by hand: discovery (and everything else) answers 503 while `down`, else metadata naming its own
 * key set and introspection endpoint; the endpoint calls every token active for `ivan`, without `iss`.
 */
async function handMadeIssuer(resource: () => string) {
  const key = await newSigningKey();
  const jwk = { ...(await exportJWK(key.publicKey)), kid: key.kid, alg: 'RS256', use: 'sig' };
  const state = { down: true };
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: (req) => {
      const { origin, pathname } = new URL(req.url);
      if (state.down) return new Response(null, { status: 503 });
      if (pathname === '/jwks') return Response.json({ keys: [jwk] });
      if (pathname === '/introspect') return Response.json({ active: true, sub: 'ivan', scope: 'hide:exec', aud: resource(), exp: now() + 600 });
      return Response.json({ issuer: origin, jwks_uri: `${origin}/jwks`, introspection_endpoint: `${origin}/introspect` });
    },
  });
  const issuer = `http://127.0.0.1:${server.port}`;
  return { issuer, state, introspect: `${issuer}/introspect`, stop: () => server.stop(true) };
}

/** Issuer B, whose metadata names `endpoint` (another issuer's) as its own introspection endpoint. */
async function claimingIssuer(endpoint: string) {
  const key = await newSigningKey();
  const jwk = { ...(await exportJWK(key.publicKey)), kid: key.kid, alg: 'RS256', use: 'sig' };
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: (req) => {
      const { origin, pathname } = new URL(req.url);
      if (pathname === '/jwks') return Response.json({ keys: [jwk] });
      return Response.json({ issuer: origin, jwks_uri: `${origin}/jwks`, introspection_endpoint: endpoint });
    },
  });
  return { issuer: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) };
}

describe("introspection with two issuers, B's metadata naming A's endpoint as its own, A down at start", () => {
  let a: Awaited<ReturnType<typeof handMadeIssuer>>;
  let b: Awaited<ReturnType<typeof claimingIssuer>>;
  const servers: TestServer[] = [];
  let resource = '';

  const start = async (env: Record<string, string>) => {
    const list = [{ issuer: a.issuer }, { issuer: b.issuer }] as unknown as TestIdp[];
    const started = await startOAuthHide({ HIDE_OAUTH_INTROSPECTION_URL: a.introspect, HIDE_OAUTH_INTROSPECTION_CLIENT_ID: 'hide', HIDE_OAUTH_INTROSPECTION_CLIENT_SECRET: 'hide-secret', HIDE_OAUTH_JWKS_COOLDOWN_SECONDS: '0', ...env }, list);
    resource = started.resource;
    servers.push(started.server);
    return started.server;
  };
  const outcome = async (server: TestServer, token: string) => {
    const before = (await auditLines(server)).length;
    const status = await echoStatus(server, token);
    const [line] = (await auditLines(server)).slice(before);
    return [status, line?.client_id ?? null];
  };

  beforeAll(async () => {
    a = await handMadeIssuer(() => resource);
    b = await claimingIssuer(a.introspect);
  });
  afterAll(async () => {
    for (const s of servers) await s.stop();
    a.stop();
    b.stop();
  });

  // Decided by the issuers' metadata (no longer consulted), B seemed the endpoint's only owner while A's metadata was
  // unknown, or spelt the endpoint differently: A's user ivan became B's ivan, whom issuer B could sign a JWT for.
  test('with HIDE_OAUTH_INTROSPECTION_ISSUER naming A, its answers are A\'s users whatever B claims, A down at start or not', async () => {
    a.state.down = true;
    const server = await start({ HIDE_OAUTH_INTROSPECTION_ISSUER: a.issuer });
    a.state.down = false;
    expect(await outcome(server, 'opaque-token-of-ivan-0123456789')).toEqual([200, `${a.issuer}#ivan`]);
  });
});

describe('introspection: an answer that says the token is no access token', () => {
  // The token names what its answer says of it: `kind~<field>~<value, base64url>~…`.
  const hide = hideWithIntrospection(async (req) => {
    const [, field, value] = (new URLSearchParams(await req.text()).get('token') ?? '').split('~');
    const claim = field === 'none' ? {} : { [field!]: Buffer.from(value!, 'base64url').toString() };
    return Response.json({ active: true, sub: 'opaque-user', scope: 'hide:exec', aud: hide.resource, iss: hide.idp.issuer, exp: now() + 600, ...claim });
  });

  // An endpoint answers for refresh tokens too (Hydra's token_use, Keycloak's typ): long-lived, meant for the token
  // endpoint alone, one taken here as a bearer token worked for its whole life.
  test('a refresh, offline or ID token is refused; an access or Bearer one, or one of no stated kind, is taken', async () => {
    const status = (field: string, value: string) => echoStatus(hide.server, `kind~${field}~${Buffer.from(value).toString('base64url')}~0123456789`);
    expect({
      token_use_refresh: await status('token_use', 'refresh_token'),
      token_type_refresh: await status('token_type', 'refresh_token'),
      typ_Refresh: await status('typ', 'Refresh'),
      typ_Offline: await status('typ', 'Offline'),
      typ_ID: await status('typ', 'ID'),
      // Other spellings of an ID token: only the words for an access token are taken.
      urn_id_token: await status('token_type', 'urn:ietf:params:oauth:token-type:id_token'),
      IDToken: await status('token_use', 'IDToken'),
      id_token_dash: await status('token_use', 'id_token'),
      token_use_access: await status('token_use', 'access_token'),
      token_type_Bearer: await status('token_type', 'Bearer'),
      typ_Bearer: await status('typ', 'Bearer'),
      none: await status('none', 'x'),
    }).toEqual({
      token_use_refresh: 401,
      token_type_refresh: 401,
      typ_Refresh: 401,
      typ_Offline: 401,
      typ_ID: 401,
      urn_id_token: 401,
      IDToken: 401,
      id_token_dash: 401,
      token_use_access: 200,
      token_type_Bearer: 200,
      typ_Bearer: 200,
      none: 200,
    });
    const refused = (await auditLines(hide.server)).filter((l) => l.event_type === 'auth_failure').map((l) => l.error);
    expect(refused).toContain('introspection says the token is not an access token (token_use)');
  });
});

describe('introspection: made-up tokens from one address', () => {
  /** Tokens the endpoint was asked about. */
  const asked: string[] = [];
  const hide = hideWithIntrospection(
    async (req) => {
      const token = new URLSearchParams(await req.text()).get('token') ?? '';
      asked.push(token);
      return Response.json(token.startsWith('real-') ? { active: true, sub: 'opaque-user', scope: 'hide:exec', aud: hide.resource, iss: hide.idp.issuer, exp: now() + 600 } : { active: false });
    },
    { HIDE_OAUTH_INTROSPECTION_PER_ADDRESS: '3' },
  );

  test('past its budget of new tokens a minute an address gets 429 without the endpoint being asked; tokens known already go on', async () => {
    await clearOfMinuteEnd();
    expect(await echoStatus(hide.server, 'real-token-0123456789abcdef')).toBe(200);
    // Three new tokens a minute: the fourth is refused (a minute that ends on the way gives a fresh three, once).
    let refused: Awaited<ReturnType<typeof rpc>> | null = null;
    let sent = 0;
    const before = (await auditLines(hide.server)).length;
    while (refused === null && sent < 8) {
      const r = await rpc(hide.server.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: ['x'] } }, bearer(`made-up-token-${++sent}-0123456789`));
      if (r.status !== 401) refused = r;
    }
    expect(sent).toBeLessThanOrEqual(7);
    expect({ status: refused!.status, code: refused!.body.error?.code, reason: refused!.body.error?.data?.reason }).toEqual({ status: 429, code: -31429, reason: 'token_checks' });
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThan(0);
    // The refused token was never sent to the endpoint.
    expect(asked).not.toContain(`made-up-token-${sent}-0123456789`);
    expect(asked).toHaveLength(sent);
    const limited = (await auditLines(hide.server)).slice(before).filter((l) => l.event_type === 'rate_limit_exceeded');
    expect(limited.map((l) => l.result?.reason)).toEqual(['token_checks']);
    // The line names the address, never the token.
    expect(limited[0]!.client_ip).toBe('127.0.0.1');
    expect(JSON.stringify(limited)).not.toContain(`made-up-token-${sent}-`);
    expect(logged.join('')).not.toContain(`made-up-token-${sent}-`);
    // Answered before, it costs the endpoint nothing: the address's budget does not apply.
    expect(await echoStatus(hide.server, 'real-token-0123456789abcdef')).toBe(200);
    expect(await echoStatus(hide.server, 'made-up-token-1-0123456789')).toBe(401);
    expect(asked).toHaveLength(sent);
    // No proxy is trusted: X-Forwarded-For does not buy a fresh budget.
    const forwarded = await rpc(hide.server.mcpUrl, 'tools/list', undefined, { ...bearer(`made-up-token-${sent + 1}-0123456789`), 'x-forwarded-for': '203.0.113.50' });
    expect(forwarded.status).toBe(429);
    expect(asked).toHaveLength(sent);
  }, 30_000);
});

describe('introspection budget behind a trusted proxy: the client address X-Forwarded-For names', () => {
  const hide = hideWithIntrospection(() => Response.json({ active: false }), { HIDE_OAUTH_INTROSPECTION_PER_ADDRESS: '1', HIDE_TRUSTED_PROXIES: '["127.0.0.1"]' });
  let sent = 0;

  const newToken = async (forwardedFor: string) =>
    (await rpc(hide.server.mcpUrl, 'tools/list', undefined, { ...bearer(`made-up-token-${++sent}-0123456789`), 'x-forwarded-for': forwardedFor })).status;

  test('each client has its own budget; the same client written otherwise, or with a made-up hop on the left, shares it', async () => {
    await clearOfMinuteEnd();
    // Budget 1: the second new token is refused (a minute that ends on the way gives one more, once).
    let status = 401;
    for (let i = 0; status === 401 && i < 3; i++) status = await newToken('203.0.113.1');
    expect(status).toBe(429);
    expect(await newToken('::ffff:203.0.113.1')).toBe(429);
    expect(await newToken('198.51.100.7, 203.0.113.1')).toBe(429);
    // Another client behind the proxy is not held to it.
    expect(await newToken('203.0.113.2')).toBe(401);
    // An IPv6 client's /64 is one budget.
    expect(await newToken('2001:db8:1:2::1')).toBe(401);
    expect(await newToken('2001:db8:1:2:ffff::9')).toBe(429);
    expect(await newToken('2001:db8:1:3::1')).toBe(401);
  }, 30_000);
});

describe('introspection: a known token whose answer ages out, from an address whose budget others spent', () => {
  /** Tokens the endpoint was asked about. */
  const asked: string[] = [];
  /** The first answer about the real token expires soon, so its cached answer ages out within the test. */
  let firstExp = 0;
  const hide = hideWithIntrospection(
    async (req) => {
      const token = new URLSearchParams(await req.text()).get('token') ?? '';
      asked.push(token);
      if (!token.startsWith('real-')) return Response.json({ active: false });
      const exp = firstExp === 0 ? (firstExp = now() + 2) : now() + 600;
      return Response.json({ active: true, sub: 'opaque-user', scope: 'hide:exec', aud: hide.resource, iss: hide.idp.issuer, exp });
    },
    { HIDE_OAUTH_INTROSPECTION_PER_ADDRESS: '3' },
  );

  test('the client goes on: its token is checked again without the spent budget', async () => {
    const real = 'real-token-0123456789abcdef';
    expect(await echoStatus(hide.server, real)).toBe(200);
    // Someone else at the address spends its budget with made-up tokens.
    let status = 401;
    for (let i = 1; status === 401 && i <= 8; i++) status = await echoStatus(hide.server, `made-up-token-${i}-0123456789`);
    expect(status).toBe(429);
    await waitFor(() => Date.now() > firstExp * 1000, 10_000, 'the first answer to age out');
    expect(await echoStatus(hide.server, real)).toBe(200);
    // Checked again, not served from the aged-out answer: a revoked token would stop here.
    expect(asked.filter((t) => t === real)).toHaveLength(2);
  });
});

describe('introspection: what is sent to the endpoint, and how often', () => {
  /** The `token` form field of every request the endpoint got. */
  const asked: string[] = [];
  const hide = hideWithIntrospection(async (req) => {
    asked.push(new URLSearchParams(await req.text()).get('token') ?? '');
    // Slow enough that a burst of calls all arrive before the first answer.
    await Bun.sleep(50);
    return Response.json({ active: true, sub: 'opaque-user', scope: 'hide:exec', aud: hide.resource, iss: hide.idp.issuer, exp: now() + 600 });
  });

  test('other Authorization schemes (Basic user:password, a lower-case bearer) are refused and never sent to the endpoint', async () => {
    asked.length = 0;
    const jwt = await hide.idp.token('exec-bot');
    const basic = `Basic ${btoa('alice:hunter2-password')}`;
    for (const authorization of [basic, `Digest username="alice", response="6629fae49393a05397450978507c4ef1"`, `bearer ${jwt}`, `Bearer ${jwt}, Basic ${btoa('a:b')}`]) {
      const before = (await auditLines(hide.server)).length;
      const r = await rpc(hide.server.mcpUrl, 'tools/list', undefined, { authorization });
      expect({ status: r.status, challenge: r.headers.get('www-authenticate') }).toMatchObject({ status: 401, challenge: expect.stringContaining('error="invalid_token"') });
      expect((await auditLines(hide.server)).slice(before).map((l) => l.event_type)).toEqual(['auth_failure']);
    }
    expect(asked).toEqual([]);
    // The control: an opaque token in the Bearer form is what the endpoint is for.
    expect(await echoStatus(hide.server, 'opaque-control-0123456789')).toBe(200);
    expect(asked).toEqual(['opaque-control-0123456789']);
  });

  test('a burst of concurrent calls with one new opaque token asks the endpoint once', async () => {
    asked.length = 0;
    const statuses = await Promise.all(Array.from({ length: 20 }, () => echoStatus(hide.server, 'opaque-burst-0123456789')));
    expect(new Set(statuses)).toEqual(new Set([200]));
    expect(asked).toEqual(['opaque-burst-0123456789']);
  });
});

describe('introspection: the client credentials as RFC 6749 section 2.3.1 sends them', () => {
  test('an id and a secret holding ":", "%", "+" and spaces are form-encoded before Basic, so the endpoint reads them back exactly', async () => {
    const clientId = 'hide:resource server';
    const clientSecret = 's3cret:with%25 plus+and space';
    /** The endpoint's side: split at the first ":", then form-decode each part. */
    const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    const seen: Array<[string, string]> = [];
    let resource = '';
    let issuer = '';
    const introspection = introspectionStandIn((req) => {
      const basic = atob((req.headers.get('authorization') ?? '').replace(/^Basic /, ''));
      const colon = basic.indexOf(':');
      seen.push([formDecode(basic.slice(0, colon)), formDecode(basic.slice(colon + 1))]);
      if (seen.at(-1)![0] !== clientId || seen.at(-1)![1] !== clientSecret) return new Response(null, { status: 401 });
      return Response.json({ active: true, sub: 'opaque-user', scope: 'hide:exec', aud: resource, iss: issuer, exp: now() + 600 });
    });
    const started = await startOAuthHide({ ...introspection.env, HIDE_OAUTH_INTROSPECTION_CLIENT_ID: clientId, HIDE_OAUTH_INTROSPECTION_CLIENT_SECRET: clientSecret });
    ({ resource } = started);
    issuer = started.idp.issuer;
    try {
      expect(await echoStatus(started.server, 'opaque-credentials-0123456789')).toBe(200);
      expect(seen).toEqual([[clientId, clientSecret]]);
    } finally {
      await started.server.stop();
      await started.idp.stop();
      introspection.stop();
    }
  });
});

describe('discovery: a metadata document that names another issuer', () => {
  test('is not used: no signing keys, /ready says why, and a token signed with the keys it points at is refused', async () => {
    const key = await newSigningKey();
    const publicJwk = { ...(await exportJWK(key.publicKey)), kid: key.kid, alg: 'RS256', use: 'sig' };
    const standIn = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: (req): Response => {
        const path = new URL(req.url).pathname;
        if (path === '/jwks') return Response.json({ keys: [publicJwk] });
        if (path.includes('/.well-known/')) return Response.json({ issuer: 'https://elsewhere.example', jwks_uri: `http://127.0.0.1:${standIn.port}/jwks` });
        return new Response(null, { status: 404 });
      },
    });
    const issuer = `http://127.0.0.1:${standIn.port}`;
    const port = freePort();
    const resource = `http://127.0.0.1:${port}/mcp`;
    const server = await startServer(
      { HIDE_AUTH_MODE: 'oauth', HIDE_OAUTH_RESOURCE: resource, HIDE_OAUTH_ISSUERS: JSON.stringify([issuer]), HIDE_SANDBOX: 'off', HIDE_OAUTH_CLOCK_LEEWAY_SECONDS: '0' },
      { port },
    );
    server.rt.ops.lifecycle.markReady();
    try {
      const reasons = await waitFor(async () => {
        const res = await fetch(`${server.url}/ready`);
        const body = (await res.json()) as { reasons?: string[] };
        return res.status === 503 && body.reasons?.find((r) => r.includes('names issuer https://elsewhere.example'));
      }, 10_000, '/ready to name the mismatched issuer');
      expect(reasons).toContain(issuer);
      const token = await sign({ sub: 'mallory', scope: 'hide:exec', iss: issuer, aud: resource, iat: now(), exp: now() + 600 }, key);
      // Never accepted: the issuer has no keys, so the token cannot be checked (503, retry), whatever signed it.
      expect(await echoStatus(server, token)).toBe(503);
    } finally {
      await server.stop();
      standIn.stop(true);
    }
  });
});

describe('introspection against an endpoint that holds its answers', () => {
  let server: TestServer;
  let idp: TestIdp;
  let resource: string;
  /** Requests the endpoint holds, unanswered until released. */
  let held = 0;
  let release: () => void = () => {};
  let released = new Promise<void>((r) => {
    release = r;
  });
  let introspection: ReturnType<typeof introspectionStandIn>;

  beforeAll(async () => {
    introspection = introspectionStandIn(async () => {
      held++;
      await released;
      held--;
      return Response.json({ active: true, sub: 'opaque-user', scope: 'hide:exec', aud: resource, iss: idp.issuer, exp: now() + 600 });
    });
    // Callers are told apart by X-Forwarded-For, which the loopback proxy is trusted to set.
    ({ idp, server, resource } = await startOAuthHide({ ...introspection.env, HIDE_TRUSTED_PROXIES: '127.0.0.1' }));
  });
  afterAll(async () => {
    release();
    await server.stop();
    await idp.stop();
    introspection.stop();
  });

  /** A tool call with `token`, as if from `address` behind the trusted proxy. */
  const from = (address: string, token: string) =>
    rpc(server.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: ['x'] } }, { ...bearer(token), 'x-forwarded-for': address });
  const busy = (why: string) => [503, `Service unavailable: the access token cannot be checked now (introspection endpoint busy (${why}); retry)`];

  test('made-up tokens open at most 8 questions per address and 48 in all (16 stay for tokens answered before); the rest are refused at once; held tokens work once answered', async () => {
    const flood = Array.from({ length: 48 }, (_, i) => from(`198.51.100.${i % 6}`, `made-up-token-${i}-0123456789`));
    await waitFor(() => held === 48, 10_000, '48 questions held by the endpoint');
    const before = (await auditLines(server)).length;
    // One more from an address already holding 8, and new tokens from a fresh address: not asked about, refused
    // without waiting for the endpoint (503, retry).
    const sameAddress = await from('198.51.100.0', 'one-more-made-up-0123456789');
    const fresh = await Promise.all(Array.from({ length: 4 }, (_, i) => from('203.0.113.9', `more-made-up-${i}-0123456789`)));
    expect([sameAddress, ...fresh].map((r) => [r.status, r.body.error?.message])).toEqual([busy('48 questions about new tokens open'), ...Array(4).fill(busy('48 questions about new tokens open'))]);
    expect((await auditLines(server)).slice(before).map((l) => l.event_type)).toEqual(Array(5).fill('auth_failure'));
    expect(held).toBe(48);
    release();
    expect((await Promise.all(flood)).map((r) => r.status)).toEqual(Array(48).fill(200));
    // A refusal for being busy is not remembered, nor taken from the address's budget: the same token is asked about now.
    expect((await from('203.0.113.9', 'more-made-up-0-0123456789')).status).toBe(200);
  });

  test('one address holding 8 questions open is refused a ninth; another address is still asked', async () => {
    released = new Promise<void>((r) => {
      release = r;
    });
    const eight = Array.from({ length: 8 }, (_, i) => from('198.51.100.77', `eight-made-up-${i}-0123456789`));
    await waitFor(() => held === 8, 10_000, '8 questions held by the endpoint');
    const ninth = await from('198.51.100.77', 'ninth-made-up-0123456789');
    expect([ninth.status, ninth.body.error?.message]).toEqual(busy('8 questions open for this address'));
    const other = from('198.51.100.78', 'other-address-0123456789');
    await waitFor(() => held === 9, 10_000, 'the other address asked about');
    release();
    expect((await Promise.all([...eight, other])).map((r) => r.status)).toEqual(Array(9).fill(200));
  });
});

describe('opaque tokens from a real authorization server, in the audit log', () => {
  test("a caller's opaque token put in its own arguments is masked by value, as a key is; a made-up one is not", async () => {
    const idp = await TestIdp.start('pending', { opaque: true });
    const { server } = await startOAuthHide(
      idp.introspectionEnv(),
      [idp],
    );
    try {
      const token = await idp.token('exec-bot');
      expect(token.split('.').length).toBe(1);
      // As an agent would: a CLI that takes the token as a plain argument, or a URL carrying it in its path.
      const args = [token, `https://ci.example/hooks/${token}`, 'made-up-but-long-0123456789abcdef'];
      const before = (await auditLines(server)).length;
      const r = await rpc(server.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: args } }, bearer(token));
      expect(r.status).toBe(200);
      const [line] = (await auditLines(server)).slice(before);
      expect(line!.arguments.arguments).toEqual(['[REDACTED]', 'https://ci.example/hooks/[REDACTED]', 'made-up-but-long-0123456789abcdef']);
      expect(auditText(server)).not.toContain(token);
    } finally {
      await server.stop();
      await idp.stop();
    }
  });
});
