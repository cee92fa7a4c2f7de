/**
 * The security pipeline end to end, through real servers: the seeds' exact
 * configurations, an auth-bypass suite, IP allowlist with proxies, limits that
 * count exactly, Origin, and an audit log that holds one whole line per event
 * and none of the planted secrets.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startServerProcess } from '../helpers/process.ts';
import { rpc, startServer, tempDir, waitFor } from '../helpers/server.ts';

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

function seedCurl(url: string, headers: Record<string, string>) {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: SEED_CURL_BODY });
}

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

  test('the curl example with X-API-Key works', async () => {
    const res = await seedCurl(`${server.url}/`, { 'X-API-Key': K });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).result.tools.map((t: { name: string }) => t.name).sort()).toEqual(ALL_TOOLS);
  });

  test('missing or wrong key → 401 with WWW-Authenticate and a JSON-RPC body; the log names 127.0.0.1', async () => {
    for (const headers of [{}, { 'X-API-Key': 'wrong' }] as Array<Record<string, string>>) {
      const res = await seedCurl(`${server.url}/`, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
      const body = (await res.json()) as any;
      // id is null: an unauthenticated body is never parsed.
      expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32001, data: { header: 'X-API-Key' } } });
    }
    await waitFor(() => server.logs().includes('API key authentication failed: invalid API key. Client IP: 127.0.0.1'), 3000, 'log line');
    expect(server.logs()).toContain('API key authentication failed: missing API key. Client IP: 127.0.0.1');
    expect(server.logs()).not.toContain(K);
  });

  test('/health answers without a key', async () => {
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
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

  test('the enabled key works with X-MCP-API-Key and with Authorization: Bearer', async () => {
    expect((await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-MCP-API-Key': enabledKey })).status).toBe(200);
    expect((await rpc(s.mcpUrl, 'tools/list', undefined, { Authorization: `Bearer ${enabledKey}` })).status).toBe(200);
  });

  test('the SDK client authenticates with a Bearer header', async () => {
    const client = new Client({ name: 't', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(s.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${enabledKey}` } } }),
    );
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(ALL_TOOLS);
    await client.close();
  });

  test('the disabled key gets 401', async () => {
    const r = await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-MCP-API-Key': disabledKey });
    expect(r.status).toBe(401);
  });

  test('a client added to the file works within 2 s; removed, it fails — no restart', async () => {
    expect((await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-API-Key': laterKey })).status).toBe(401);
    writeFileSync(keysFile, JSON.stringify({ clients: [...clients, { api_key: laterKey, client_id: 'later', enabled: true }] }));
    await waitFor(async () => (await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-API-Key': laterKey })).status === 200, 2000, 'new key accepted');
    writeFileSync(keysFile, JSON.stringify({ clients }));
    await waitFor(async () => (await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-API-Key': laterKey })).status === 401, 2000, 'removed key refused');
  });

  test('a broken file keeps the last good keys', async () => {
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
      expect((await rpc(`${server.url}/mcp`, 'tools/list', undefined, { 'X-API-Key': enabledKey })).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});

describe('auth-bypass suite', () => {
  const KEY = 'bypass-suite-key-0123456789abcdefghijklmn';
  let s: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    s = await startServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEY: KEY });
  });
  afterAll(() => s.stop());

  const listBody = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}';
  const attempts: Array<[string, () => { path?: string; method?: string; headers?: Record<string, string>; body?: string | null }]> = [
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
    ['overlong key', () => ({ headers: { 'X-API-Key': KEY.repeat(1000) } })],
    ['key in the JSON body', () => ({ body: `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"api_key":"${KEY}","access_token":"${KEY}"}}` })],
    ['NUL after the key', () => ({ headers: { 'X-API-Key': `${KEY}%00` } })],
  ];

  const UNAUTHORIZED = (reason: string) => ({ reason });
  const MISSING = UNAUTHORIZED('missing API key');
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
  };

  test.each(attempts)('%s gets nothing', async (_name, make) => {
    const a = make();
    const res = await fetch(`${s.url}${a.path ?? '/mcp'}`, {
      method: a.method ?? 'POST',
      headers: { 'content-type': 'application/json', ...a.headers },
      body: a.body === null ? undefined : (a.body ?? listBody),
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

  test(`the suite has ${attempts.length} (>= 20) attempts, each 401 left one auth_failure audit line, and the real key still works`, async () => {
    expect(attempts.length).toBeGreaterThanOrEqual(20);
    const refused = attempts.filter(([name]) => typeof (OUTCOME[name] ?? UNAUTHORIZED('')) === 'object').length;
    const failures = () => readFileSync(s.auditFile, 'utf8').split('\n').filter((l) => l.includes('"event_type":"auth_failure"')).length;
    await waitFor(() => failures() === refused, 3000, `${refused} auth_failure lines`);
    expect((await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-API-Key': KEY })).status).toBe(200);
    expect(failures()).toBe(refused);
  });
});

describe('IP allowlist and trusted proxies', () => {
  test('["10.0.0.0/8"] refuses 127.0.0.1 even with X-Forwarded-For from an untrusted peer', async () => {
    await using s = await startServer({ HIDE_ALLOWED_CLIENT_IPS: '["10.0.0.0/8"]' });
    const r = await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-Forwarded-For': '10.1.2.3' });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe(-32003);
    // Audit lines are flushed once per event-loop turn: wait for the line.
    const line = await waitFor(() => readFileSync(s.auditFile, 'utf8').split('\n').find((l) => l.includes('"ip_denied"')), 3000, 'ip_denied line');
    expect(JSON.parse(line!)).toMatchObject({ event_type: 'ip_denied', client_ip: '127.0.0.1' });
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });

  test('with 127.0.0.1 as trusted proxy the same request is allowed', async () => {
    await using s = await startServer({ HIDE_ALLOWED_CLIENT_IPS: '10.0.0.0/8', HIDE_TRUSTED_PROXIES: '127.0.0.1' });
    expect((await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-Forwarded-For': '10.1.2.3' })).status).toBe(200);
    // A spoofed left-most entry does not help: the right-most untrusted hop is the client.
    expect((await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-Forwarded-For': '10.1.2.3, 192.168.9.9' })).status).toBe(403);
    expect((await rpc(s.mcpUrl, 'tools/list')).status).toBe(403);
  });

  test('["127.0.0.0/8","::1"] allows loopback', async () => {
    await using s = await startServer({ SECURITY_ALLOWED_CLIENT_IPS: '["127.0.0.0/8","::1"]' });
    expect((await rpc(s.mcpUrl, 'tools/list')).status).toBe(200);
  });

  test('a bad allowlist entry stops the start', async () => {
    await expect(startServer({ HIDE_ALLOWED_CLIENT_IPS: '10.0.0.0/33' })).rejects.toThrow(/10\.0\.0\.0\/33/);
  });
});

describe('limits', () => {
  const call = (url: string, args: Record<string, unknown> = { command: 'true' }) =>
    rpc(url, 'tools/call', { name: 'shell_execute', arguments: args });

  test('RPM 5: exactly 5 of 20 concurrent calls succeed; 15 get 429 with an honest Retry-After', async () => {
    await using s = await startServer({ HIDE_RATE_LIMIT_ENABLED: 'true', HIDE_RATE_LIMIT_RPM: '5', HIDE_RATE_LIMIT_CONCURRENT: '100' });
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 20 }, () => call(s.mcpUrl)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(5);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(15);
    for (const r of refused) {
      expect(r.body.error.code).toBe(-32029);
      const retry = Number(r.headers.get('retry-after'));
      // The window frees when the oldest of the 5 admitted calls is 60 s old.
      expect(retry).toBeGreaterThanOrEqual(59 - Math.ceil((Date.now() - started) / 1000));
      expect(retry).toBeLessThanOrEqual(60);
    }
    // tools/list is not a tool call: it is never limited.
    expect((await rpc(s.mcpUrl, 'tools/list')).status).toBe(200);
  });

  test('concurrency 2: exactly 2 of 6 parallel sleep 1 calls run, 4 get 429', async () => {
    await using s = await startServer({ HIDE_RATE_LIMIT_ENABLED: 'true', HIDE_RATE_LIMIT_RPM: '1000', HIDE_RATE_LIMIT_CONCURRENT: '2' });
    const results = await Promise.all(Array.from({ length: 6 }, () => call(s.mcpUrl, { command: 'sleep', arguments: ['1'] })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(2);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(4);
    for (const r of refused) expect(r.headers.get('retry-after')).toBe('1');
    // Slots are released: the next call runs.
    expect((await call(s.mcpUrl)).status).toBe(200);
  });

  test('a call refused after admission (406 Accept) does not keep its slot', async () => {
    await using s = await startServer({ HIDE_RATE_LIMIT_ENABLED: 'true', HIDE_RATE_LIMIT_RPM: '1000', HIDE_RATE_LIMIT_CONCURRENT: '1' });
    for (let i = 0; i < 3; i++) {
      const r = await rpc(s.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'true' } }, { accept: 'text/html' });
      expect(r.status).toBe(406);
    }
    expect((await call(s.mcpUrl)).status).toBe(200);
  });
});

describe('Origin (DNS rebinding)', () => {
  test('a foreign Origin gets 403; a loopback Origin and no Origin pass', async () => {
    await using s = await startServer();
    expect((await rpc(s.mcpUrl, 'tools/list', undefined, { Origin: 'http://evil.example' })).status).toBe(403);
    expect((await rpc(s.mcpUrl, 'tools/list', undefined, { Origin: 'http://localhost:3000' })).status).toBe(200);
    expect((await rpc(s.mcpUrl, 'tools/list')).status).toBe(200);
    await waitFor(() => readFileSync(s.auditFile, 'utf8').includes('"event_type":"origin_denied"'), 3000, 'origin_denied line');
  });
  test('configured origins replace the loopback default', async () => {
    await using s = await startServer({ HIDE_ALLOWED_ORIGINS: 'https://ide.example.com' });
    expect((await rpc(s.mcpUrl, 'tools/list', undefined, { Origin: 'https://ide.example.com' })).status).toBe(200);
    expect((await rpc(s.mcpUrl, 'tools/list', undefined, { Origin: 'http://localhost' })).status).toBe(403);
  });
});

describe('start-up refusals', () => {
  test('auth on with no usable key refuses to start', async () => {
    await expect(startServer({ HIDE_AUTH_ENABLED: 'true' })).rejects.toThrow(/no usable key/);
  });
});
