/**
 * The security pipeline end to end, through real servers: the seeds' exact
 * configurations, an auth-bypass suite, IP allowlist with proxies, limits that
 * count exactly, Origin, and an audit log that holds one whole line per event
 * and none of the planted secrets. Each request is sent in both eras (the
 * handshake era and 2026-07-28) against the same server: the pipeline runs
 * before the era is known, so refusals made before the body is read have the
 * same body in both, and the limits count both eras together.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startServerProcess } from '../helpers/process.ts';
import { ERAS, frame, rpc, startServer, type TestEra, tempDir, waitFor } from '../helpers/server.ts';

const ALL_TOOLS = [
  'check_file_exists',
  'edit_file',
  'list_directory',
  'process_kill',
  'process_list',
  'process_read',
  'process_start',
  'process_write',
  'read_file',
  'search_files',
  'shell_execute',
  'shell_execute_json',
  'shell_get_available_tools',
  'write_file',
];

const SEED_CURL_BODY = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}';

/** The seed's curl call: its own bytes in the handshake era, the same message framed as 2026-07-28 in the other. */
function seedCurl(url: string, headers: Record<string, string>, era: TestEra = 'legacy') {
  const request = era === 'legacy' ? { body: SEED_CURL_BODY, headers } : frame(era, JSON.parse(SEED_CURL_BODY), headers);
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...request.headers }, body: request.body });
}

/** The same request once in each era, one after the other, against one server. */
async function inEachEra(url: string, method: string, params?: unknown, headers: Record<string, string> = {}) {
  const out = [];
  for (const era of ERAS) out.push({ era, ...(await rpc(url, method, params, headers, era)) });
  return out;
}
const statusInEachEra = async (...args: Parameters<typeof inEachEra>) => (await inEachEra(...args)).map((r) => r.status);
const inBoth = <T>(value: T) => ERAS.map(() => value);

describe('seed 000: single key from Authentication__ApiKey__*', () => {
  const K = 'seed-000-secret-key-Zx81';
  let server: Awaited<ReturnType<typeof startServerProcess>>;
  beforeAll(async () => {
    const dir = tempDir();
    server = await startServerProcess({
      cwd: dir,
      env: { Authentication__ApiKey__Enabled: 'true', Authentication__ApiKey__Key: K, HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl') },
    });
  });
  afterAll(() => server.stop());

  describe.each(ERAS)('%s', (era) => {
    test('the curl example with X-API-Key works', async () => {
      const res = await seedCurl(`${server.url}/`, { 'X-API-Key': K }, era);
      expect(res.status).toBe(200);
      const result = ((await res.json()) as any).result;
      expect(result.tools.map((t: { name: string }) => t.name).sort()).toEqual(ALL_TOOLS);
      expect(result.resultType).toBe(era === 'modern' ? 'complete' : undefined);
    });

    test('missing or wrong key → 401 with WWW-Authenticate and a JSON-RPC body; the log names 127.0.0.1', async () => {
      const times = (line: string) => server.logs().split(line).length - 1;
      const invalid = 'API key authentication failed: invalid API key. Client IP: 127.0.0.1';
      const missing = 'API key authentication failed: missing API key. Client IP: 127.0.0.1';
      const before = { invalid: times(invalid), missing: times(missing) };
      for (const headers of [{}, { 'X-API-Key': 'wrong' }] as Array<Record<string, string>>) {
        const res = await seedCurl(`${server.url}/`, headers, era);
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toContain('Bearer');
        const body = (await res.json()) as any;
        // id is null in both eras: an unauthenticated body is never parsed.
        expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32001, data: { header: 'X-API-Key' } } });
      }
      await waitFor(() => times(invalid) > before.invalid, 3000, 'log line');
      expect(times(missing)).toBeGreaterThan(before.missing);
      expect(server.logs()).not.toContain(K);
    });
  });

  test('/health answers without a key', async () => {
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
  });
});

describe('OAuth mode: a refused credential is logged with the client IP', () => {
  let server: Awaited<ReturnType<typeof startServerProcess>>;
  beforeAll(async () => {
    const dir = tempDir();
    // No authorization server need answer: a header that is not `Bearer <token>` is refused before one is asked.
    server = await startServerProcess({
      cwd: dir,
      env: {
        HIDE_AUTH_MODE: 'oauth',
        HIDE_OAUTH_RESOURCE: 'http://127.0.0.1/mcp',
        HIDE_OAUTH_ISSUERS: 'http://127.0.0.1:9/realms/none',
        HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'),
      },
    });
  });
  afterAll(() => server.stop());

  // The warning line is `OAuth authentication failed: <reason>. Client IP: <ip>`, and every log line passes the
  // redactor: a reason worded like a header (`Authorization: Bearer <token>`) had its rest masked, the IP with it.
  test('a Basic Authorization header: the warning line names 127.0.0.1', async () => {
    const res = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Basic ${btoa('alice:pw')}` },
      body: SEED_CURL_BODY,
    });
    expect(res.status).toBe(401);
    await waitFor(() => server.logs().includes('OAuth authentication failed'), 3000, 'log line');
    const line = server.logs().split('\n').find((l) => l.includes('OAuth authentication failed')) ?? '';
    expect(line).toContain('Client IP: 127.0.0.1');
  });
});

describe('seed 001: keys file with per-client keys, hot reload', () => {
  const enabledKey = 'client-one-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const disabledKey = 'client-two-key-bbbbbbbbbbbbbbbbbbbbbbbbbbbb';
  const laterKey = 'client-three-key-cccccccccccccccccccccccccc';
  let keysFile: string;
  let s: Awaited<ReturnType<typeof startServer>>;
  const clients = [
    { api_key: enabledKey, client_id: 'claude-desktop', description: 'Claude Desktop', enabled: true },
    { api_key: disabledKey, client_id: 'old-laptop', description: 'revoked', enabled: false },
  ];
  beforeAll(async () => {
    const dir = tempDir();
    keysFile = join(dir, '.mcp_keys.json');
    writeFileSync(keysFile, JSON.stringify({ clients }));
    s = await startServer({ SECURITY_AUTH_ENABLED: 'true', SECURITY_API_KEYS_FILE: keysFile });
  });
  afterAll(() => s.stop());

  test.each(ERAS)('%s: the enabled key works with X-MCP-API-Key and with Authorization: Bearer', async (era) => {
    expect((await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-MCP-API-Key': enabledKey }, era)).status).toBe(200);
    expect((await rpc(s.mcpUrl, 'tools/list', undefined, { Authorization: `Bearer ${enabledKey}` }, era)).status).toBe(200);
  });

  // The SDK v1 client speaks the handshake era only.
  test('the SDK client authenticates with a Bearer header', async () => {
    const client = new Client({ name: 't', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(s.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${enabledKey}` } } }),
    );
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(ALL_TOOLS);
    await client.close();
  });

  test.each(ERAS)('%s: the disabled key gets 401', async (era) => {
    const r = await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-MCP-API-Key': disabledKey }, era);
    expect(r.status).toBe(401);
  });

  test('a client added to the file works within 2 s in both eras; removed, it fails — no restart', async () => {
    const statuses = () => statusInEachEra(s.mcpUrl, 'tools/list', undefined, { 'X-API-Key': laterKey });
    expect(await statuses()).toEqual(inBoth(401));
    writeFileSync(keysFile, JSON.stringify({ clients: [...clients, { api_key: laterKey, client_id: 'later', enabled: true }] }));
    await waitFor(async () => (await statuses()).every((status) => status === 200), 2000, 'new key accepted');
    writeFileSync(keysFile, JSON.stringify({ clients }));
    await waitFor(async () => (await statuses()).every((status) => status === 401), 2000, 'removed key refused');
  });

  test('a broken file keeps the last good keys, and the audit log says the reload failed', async () => {
    const dir = tempDir();
    const file = join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify({ clients }));
    const server = await startServerProcess({
      cwd: dir,
      env: { HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: file, HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'), HIDE_LOG_LEVEL: 'info' },
    });
    try {
      writeFileSync(file, '{"clients": [ broken');
      // The reload was tried and refused: only then does the old key prove anything.
      await waitFor(() => server.logs().includes('keys file reload failed, keeping the last good keys'), 5000, 'the failed reload');
      expect(await statusInEachEra(`${server.url}/mcp`, 'tools/list', undefined, { 'X-API-Key': enabledKey })).toEqual(inBoth(200));
      // An edit that revoked a key and failed revoked nothing: an auditor must see that it failed, not only the log.
      const reloaded = () =>
        readFileSync(join(dir, 'audit.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { event_type: string; result: unknown; error: string | null })
          .filter((l) => l.event_type === 'keys_reloaded');
      await waitFor(() => reloaded().length > 0, 5000, 'the audit line');
      const reloads = reloaded();
      expect(reloads.map((l) => [l.result, l.error?.startsWith('keys file reload failed, keeping the last good keys: ')])).toEqual([[null, true]]);
    } finally {
      await server.stop();
    }
  });
});

describe('auth-bypass suite', () => {
  const KEY = 'bypass-suite-key-0123456789abcdefghijklmn';
  let s: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    // Every attempt comes from 127.0.0.1: more refusals than one address gets written one by one by default.
    s = await startServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEY: KEY, HIDE_AUDIT_REFUSALS_PER_ADDRESS: '1000' });
  });
  afterAll(() => s.stop());

  const listMessage = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
  /** An attempt's body is a message (framed for the era) or null for none. */
  const attempts: Array<[string, () => { path?: string; method?: string; headers?: Record<string, string>; body?: object | null }]> = [
    ['no key', () => ({})],
    ['empty key', () => ({ headers: { 'X-API-Key': '' } })],
    // HTTP strips leading/trailing whitespace from header values (RFC 9110 §5.5),
    // so whitespace can only matter inside the value.
    ['key with an embedded space', () => ({ headers: { 'X-API-Key': `${KEY.slice(0, 10)} ${KEY.slice(10)}` } })],
    ['key plus space and junk', () => ({ headers: { 'X-API-Key': `${KEY} x` } })],
    ['key prefix', () => ({ headers: { 'X-API-Key': KEY.slice(0, -1) } })],
    ['key with extra char', () => ({ headers: { 'X-API-Key': `${KEY}x` } })],
    ['wrong case', () => ({ headers: { 'X-API-Key': KEY.toUpperCase() } })],
    ['two values in one header', () => ({ headers: { 'X-API-Key': `wrong, ${KEY}` } })],
    ['good key + wrong key in another header', () => ({ headers: { 'X-API-Key': KEY, 'X-MCP-API-Key': 'wrong' } })],
    ['key in the query string (access_token)', () => ({ path: `/mcp?access_token=${KEY}` })],
    ['key in the query string (api_key)', () => ({ path: `/mcp?api_key=${KEY}&x-api-key=${KEY}` })],
    // The bearer extractor falls back to ?access_token= when Authorization is not `Bearer …`: that value must not count.
    ['key in the query string beside a Basic Authorization header', () => ({ path: `/mcp?access_token=${KEY}`, headers: { Authorization: `Basic ${btoa('x:y')}` } })],
    ['key in the query string beside a lower-case bearer Authorization header', () => ({ path: `/mcp?access_token=${KEY}`, headers: { Authorization: 'bearer wrong' } })],
    ['/MCP', () => ({ path: '/MCP' })],
    ['/mcp/', () => ({ path: '/mcp/' })],
    ['//mcp', () => ({ path: '//mcp' })],
    ['/%6dcp', () => ({ path: '/%6dcp' })],
    ['/mcp%2f', () => ({ path: '/mcp%2f' })],
    ['/%2fmcp', () => ({ path: '/%2fmcp' })],
    ['/mcp/..', () => ({ path: '/health/../mcp' })],
    ['HEAD /mcp', () => ({ method: 'HEAD', body: null })],
    ['OPTIONS /mcp', () => ({ method: 'OPTIONS', body: null })],
    ['GET /mcp', () => ({ method: 'GET', body: null })],
    ['Basic scheme', () => ({ headers: { Authorization: `Basic ${btoa(`x:${KEY}`)}` } })],
    ['lowercase bearer scheme', () => ({ headers: { Authorization: `bearer ${KEY}` } })],
    ['Bearer without space', () => ({ headers: { Authorization: `Bearer${KEY}` } })],
    ['Bearer with two spaces', () => ({ headers: { Authorization: `Bearer  ${KEY}` } })],
    ['Bearer with the key twice', () => ({ headers: { Authorization: `Bearer ${KEY} ${KEY}` } })],
    ['the bare key in Authorization, no scheme', () => ({ headers: { Authorization: KEY } })],
    ['overlong key', () => ({ headers: { 'X-API-Key': KEY.repeat(1000) } })],
    ['key in the JSON body', () => ({ body: { ...listMessage, params: { api_key: KEY, access_token: KEY } } })],
    ['NUL after the key', () => ({ headers: { 'X-API-Key': `${KEY}%00` } })],
  ];

  const UNAUTHORIZED = (reason: string) => ({ reason });
  const MISSING = UNAUTHORIZED('missing API key');
  const MALFORMED = UNAUTHORIZED('Authorization header is not "Bearer <credential>"');
  /** What each attempt must get: 401 with the reason (default: invalid key), or a 404 / 431 before authentication. */
  const OUTCOME: Record<string, { reason: string } | 404 | 431> = {
    'no key': MISSING,
    'empty key': MISSING,
    'good key + wrong key in another header': UNAUTHORIZED('conflicting credentials in more than one header'),
    'key in the query string (access_token)': MISSING,
    'key in the query string (api_key)': MISSING,
    '/MCP': 404,
    '/mcp/': MISSING,
    '//mcp': MISSING,
    '/%6dcp': 404,
    '/mcp%2f': 404,
    '/%2fmcp': 404,
    '/mcp/..': MISSING,
    'HEAD /mcp': MISSING,
    'OPTIONS /mcp': MISSING,
    'GET /mcp': MISSING,
    'overlong key': 431,
    'key in the JSON body': MISSING,
    'Basic scheme': MALFORMED,
    'lowercase bearer scheme': MALFORMED,
    'Bearer without space': MALFORMED,
    'Bearer with two spaces': MALFORMED,
    'Bearer with the key twice': MALFORMED,
    'the bare key in Authorization, no scheme': MALFORMED,
    'key in the query string beside a Basic Authorization header': MALFORMED,
    'key in the query string beside a lower-case bearer Authorization header': MALFORMED,
  };

  // Every refusal here comes before the body is read, so both eras get the same answer, id null.
  describe.each(ERAS)('%s', (era) => {
    test.each(attempts)('%s gets nothing', async (_name, make) => {
      const a = make();
      const request = frame(era, a.body ?? listMessage, a.headers);
      const res = await fetch(`${s.url}${a.path ?? '/mcp'}`, {
        method: a.method ?? 'POST',
        headers: { 'content-type': 'application/json', ...request.headers },
        body: a.body === null ? undefined : request.body,
      });
      const text = await res.text();
      const want = OUTCOME[_name] ?? UNAUTHORIZED('invalid API key');
      const got = { status: res.status, challenge: res.headers.get('www-authenticate'), body: text === '' ? null : JSON.parse(text) };
      if (want === 404) {
        expect(got).toEqual({ status: 404, challenge: null, body: { jsonrpc: '2.0', id: null, error: { code: -32601, message: 'Not found: MCP is served at POST /mcp and POST /' } } });
      } else if (want === 431) {
        // Bun refuses the request line and headers before hide sees them.
        expect(got).toEqual({ status: 431, challenge: null, body: null });
      } else {
        // HEAD carries no body.
        const body = a.method === 'HEAD' ? null : { jsonrpc: '2.0', id: null, error: { code: -32001, message: `Unauthorized: ${want.reason}`, data: { header: 'X-API-Key' } } };
        expect(got).toEqual({ status: 401, challenge: 'Bearer realm="hide", error="invalid_token"', body });
      }
    });
  });

  test(`the suite has ${attempts.length} (>= 20) attempts per era, each 401 left one auth_failure audit line, and the real key still works`, async () => {
    expect(attempts.length).toBeGreaterThanOrEqual(20);
    const refused = attempts.filter(([name]) => typeof (OUTCOME[name] ?? UNAUTHORIZED('')) === 'object').length * ERAS.length;
    const failures = () => readFileSync(s.auditFile, 'utf8').split('\n').filter((l) => l.includes('"event_type":"auth_failure"')).length;
    await waitFor(() => failures() === refused, 3000, `${refused} auth_failure lines`);
    expect(await statusInEachEra(s.mcpUrl, 'tools/list', undefined, { 'X-API-Key': KEY })).toEqual(inBoth(200));
    expect(failures()).toBe(refused);
  });
});

describe('IP allowlist and trusted proxies', () => {
  test('["10.0.0.0/8"] refuses 127.0.0.1 even with X-Forwarded-For from an untrusted peer', async () => {
    await using s = await startServer({ HIDE_ALLOWED_CLIENT_IPS: '["10.0.0.0/8"]' });
    const refused = await inEachEra(s.mcpUrl, 'tools/list', undefined, { 'X-Forwarded-For': '10.1.2.3' });
    // Refused before the body is read: id null in both eras.
    expect(refused.map((r) => [r.status, r.body.error.code, r.body.id])).toEqual(inBoth([403, -32003, null]));
    // Audit lines are flushed once per event-loop turn: wait for the lines.
    const denied = () => readFileSync(s.auditFile, 'utf8').split('\n').filter((l) => l.includes('"ip_denied"'));
    const lines = await waitFor(() => (denied().length === ERAS.length ? denied() : null), 3000, 'ip_denied lines');
    for (const line of lines!) expect(JSON.parse(line)).toMatchObject({ event_type: 'ip_denied', client_ip: '127.0.0.1' });
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });

  test('with 127.0.0.1 as trusted proxy the same request is allowed', async () => {
    await using s = await startServer({ HIDE_ALLOWED_CLIENT_IPS: '10.0.0.0/8', HIDE_TRUSTED_PROXIES: '127.0.0.1' });
    expect(await statusInEachEra(s.mcpUrl, 'tools/list', undefined, { 'X-Forwarded-For': '10.1.2.3' })).toEqual(inBoth(200));
    expect(await statusInEachEra(s.mcpUrl, 'tools/list', undefined, { 'X-Forwarded-For': '::ffff:10.1.2.3' })).toEqual(inBoth(200));
    // The IPv4-compatible form is the IPv6 address ::a01:203, not 10.1.2.3, however it is written; a zone, or a dotted part
    // that is not four decimal numbers, is no client address at all.
    for (const compatible of ['::10.1.2.3', '::a01:203', '0:0:0:0:0:0:10.1.2.3', '::10.1.2.3%eth0', '::ffff:10.1.2.3%1', '::0x0a.1.2.3', '::ffff:0x0a.1.2.3', '::00010.1.2.3']) {
      expect(await statusInEachEra(s.mcpUrl, 'tools/list', undefined, { 'X-Forwarded-For': compatible })).toEqual(inBoth(403));
    }
    // A spoofed left-most entry does not help: the right-most untrusted hop is the client.
    expect(await statusInEachEra(s.mcpUrl, 'tools/list', undefined, { 'X-Forwarded-For': '10.1.2.3, 192.168.9.9' })).toEqual(inBoth(403));
    expect(await statusInEachEra(s.mcpUrl, 'tools/list')).toEqual(inBoth(403));
  });

  test('["127.0.0.0/8","::1"] allows loopback', async () => {
    await using s = await startServer({ SECURITY_ALLOWED_CLIENT_IPS: '["127.0.0.0/8","::1"]' });
    expect(await statusInEachEra(s.mcpUrl, 'tools/list')).toEqual(inBoth(200));
  });

  test('a bad allowlist entry stops the start', async () => {
    await expect(startServer({ HIDE_ALLOWED_CLIENT_IPS: '10.0.0.0/33' })).rejects.toThrow(/10\.0\.0\.0\/33/);
  });
});

/**
 * One server per limit, each burst mixing both eras: the limiter counts them
 * together (switching eras buys no extra calls), and with more calls of each
 * era than the limit admits, each era gets refusals of its own.
 */
describe('limits', () => {
  const eraOfCall = (i: number) => ERAS[i % ERAS.length]!;
  const call = (url: string, era: TestEra, args: Record<string, unknown> = { command: 'true' }) =>
    rpc(url, 'tools/call', { name: 'shell_execute', arguments: args }, {}, era);
  const refusalsByEra = (results: Array<{ status: number }>) => ERAS.map((era) => results.filter((r, i) => r.status === 429 && eraOfCall(i) === era).length);

  test('RPM 5: exactly 5 of 20 concurrent calls (10 per era) succeed; 15 get 429 with an honest Retry-After', async () => {
    await using s = await startServer({ HIDE_RATE_LIMIT_ENABLED: 'true', HIDE_RATE_LIMIT_RPM: '5', HIDE_RATE_LIMIT_CONCURRENT: '100' });
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => call(s.mcpUrl, eraOfCall(i))));
    const admitted = results.filter((r) => r.status === 200);
    expect(admitted).toHaveLength(5);
    for (const r of admitted) expect(r.body.result.resultType).toBe(eraOfCall(results.indexOf(r)) === 'modern' ? 'complete' : undefined);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(15);
    for (const count of refusalsByEra(results)) expect(count).toBeGreaterThanOrEqual(5);
    for (const r of refused) {
      // Refused after the body was read: the id is echoed.
      expect([r.body.error.code, r.body.id]).toEqual([-31429, r.id]);
      const retry = Number(r.headers.get('retry-after'));
      // The window frees when the oldest of the 5 admitted calls is 60 s old.
      expect(retry).toBeGreaterThanOrEqual(59 - Math.ceil((Date.now() - started) / 1000));
      expect(retry).toBeLessThanOrEqual(60);
    }
    // tools/list is not a tool call: it is never limited.
    expect(await statusInEachEra(s.mcpUrl, 'tools/list')).toEqual(inBoth(200));
  });

  test('concurrency 2: exactly 2 of 6 parallel sleep 1 calls (3 per era) run, 4 get 429', async () => {
    await using s = await startServer({ HIDE_RATE_LIMIT_ENABLED: 'true', HIDE_RATE_LIMIT_RPM: '1000', HIDE_RATE_LIMIT_CONCURRENT: '2' });
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => call(s.mcpUrl, eraOfCall(i), { command: 'sleep', arguments: ['1'] })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(2);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(4);
    for (const count of refusalsByEra(results)) expect(count).toBeGreaterThanOrEqual(1);
    for (const r of refused) expect([r.headers.get('retry-after'), r.body.id]).toEqual(['1', r.id]);
    // Slots are released: the next call runs, in each era.
    for (const era of ERAS) expect((await call(s.mcpUrl, era)).status).toBe(200);
  });

  test('a call refused for its Accept header (406) neither keeps a slot nor spends a request of its minute', async () => {
    await using s = await startServer({ HIDE_RATE_LIMIT_ENABLED: 'true', HIDE_RATE_LIMIT_RPM: '2', HIDE_RATE_LIMIT_CONCURRENT: '1' });
    for (let i = 0; i < 3; i++) {
      const refused = await inEachEra(s.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'true' } }, { accept: 'text/html' });
      expect(refused.map((r) => [r.status, r.body.id])).toEqual(refused.map((r) => [406, r.id]));
    }
    for (const era of ERAS) expect((await call(s.mcpUrl, era)).status).toBe(200);
  });
});

describe('Origin (DNS rebinding)', () => {
  test('a foreign Origin gets 403; a loopback Origin and no Origin pass', async () => {
    await using s = await startServer();
    expect(await statusInEachEra(s.mcpUrl, 'tools/list', undefined, { Origin: 'http://evil.example' })).toEqual(inBoth(403));
    expect(await statusInEachEra(s.mcpUrl, 'tools/list', undefined, { Origin: 'http://localhost:3000' })).toEqual(inBoth(200));
    expect(await statusInEachEra(s.mcpUrl, 'tools/list')).toEqual(inBoth(200));
    const denied = () => readFileSync(s.auditFile, 'utf8').split('\n').filter((l) => l.includes('"event_type":"origin_denied"')).length;
    await waitFor(() => denied() === ERAS.length, 3000, 'origin_denied lines');
  });
  test('configured origins replace the loopback default', async () => {
    await using s = await startServer({ HIDE_ALLOWED_ORIGINS: 'https://ide.example.com' });
    expect(await statusInEachEra(s.mcpUrl, 'tools/list', undefined, { Origin: 'https://ide.example.com' })).toEqual(inBoth(200));
    expect(await statusInEachEra(s.mcpUrl, 'tools/list', undefined, { Origin: 'http://localhost' })).toEqual(inBoth(403));
  });
});

describe('start-up refusals', () => {
  test('auth on with no usable key refuses to start', async () => {
    await expect(startServer({ HIDE_AUTH_ENABLED: 'true' })).rejects.toThrow(/no usable key/);
  });
});
