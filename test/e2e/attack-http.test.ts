/**
 * Attacks on the HTTP pipeline from the network side, through real servers
 * and, where fetch would hide the shape, raw sockets: an X-Forwarded-For
 * longer than the hops we read (it made the client the trusted proxy itself,
 * which an allowlist may admit), a keyed client hanging up half-way
 * through its body (each one was a 500 and an "unexpected error" log line
 * with no text), and a keyless flood of refusals that rotated real tool
 * calls out of the audit log (or, throttled by address, hid a key's refusals).
 */
import { describe, expect, test } from 'bun:test';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { startServerProcess } from '../helpers/process.ts';
import { rpc, startServer, tempDir, waitFor } from '../helpers/server.ts';

const KEY = 'attack-http-key-0123456789abcdefghijklmnop';

/** Opens a raw TCP connection to the server at `url`. */
async function rawSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return socket;
}

const metricLines = async (url: string, prefix: string) =>
  (await (await fetch(`${url}/metrics`)).text()).split('\n').filter((l) => l.startsWith(prefix));

describe('X-Forwarded-For through a trusted proxy whose own network is allowed', () => {
  // A proxy on 127.0.0.1 (the peer) in front of clients that must come from 127.0.0.0/8 (the proxy's network).
  const env = { HIDE_TRUSTED_PROXIES: '127.0.0.1', HIDE_ALLOWED_CLIENT_IPS: '127.0.0.0/8' };
  const outsider = '203.0.113.9';

  test('the client the proxy names is filtered, however many hops the client wrote left of it', async () => {
    await using s = await startServer(env);
    // The proxy appends the address it saw; everything left of it is the client's own text.
    for (const written of [0, 10, 63, 64, 65, 200]) {
      const forwarded = [...Array.from({ length: written }, (_, i) => `10.0.${i % 250}.1`), outsider].join(', ');
      const r = await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-Forwarded-For': forwarded });
      expect([written, r.status, r.body.error?.data?.reason]).toEqual([written, 403, 'ip']);
    }
    const lines = await waitFor(
      () => {
        const found = readFileSync(s.auditFile, 'utf8').split('\n').filter((l) => l.includes('"ip_denied"'));
        return found.length === 6 ? found : null;
      },
      3000,
      'six ip_denied lines',
    );
    for (const line of lines!) expect(JSON.parse(line).client_ip).toBe(outsider);
    // An allowed client behind the same proxy still passes, with or without hops of its own.
    expect((await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-Forwarded-For': '127.0.0.9' })).status).toBe(200);
    expect((await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-Forwarded-For': `${'198.51.100.1, '.repeat(70)}127.0.0.9` })).status).toBe(200);
  });
});

describe('a keyed client that hangs up half-way through its body', () => {
  test.each([
    ['a declared Content-Length', 'Content-Length: 5000\r\n\r\n{"jsonrpc":"2.0",'],
    ['a chunked body', 'Transfer-Encoding: chunked\r\n\r\n11\r\n{"jsonrpc":"2.0",\r\n'],
  ])('%s: counted as 499 (client closed), never as a 500 (a server error)', async (_what, rest) => {
    const dir = tempDir('attack-http-');
    const keysFile = join(dir, 'keys.json');
    writeFileSync(keysFile, JSON.stringify({ clients: [{ client_id: 'mallory', api_key: KEY, enabled: true }] }), { mode: 0o600 });
    await using s = await startServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keysFile });
    const N = 5;
    for (let i = 0; i < N; i++) {
      const socket = await rawSocket(s.url);
      socket.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${KEY}\r\nContent-Type: application/json\r\n${rest}`);
      // Pending: the key was checked and the body read began (the hooks up to it run in one turn).
      await waitFor(() => s.pendingRequests() === 1, 3000, 'the request to be taken');
      socket.destroy();
      await waitFor(() => s.pendingRequests() === 0, 3000, 'the request to end');
    }
    const counted = await metricLines(s.url, 'hide_http_requests_total{route="/mcp"');
    expect(counted).toEqual([`hide_http_requests_total{route="/mcp",status="499"} ${N}`]);
    // The server and the client's key still work.
    expect((await rpc(s.mcpUrl, 'ping', undefined, { 'X-API-Key': KEY })).status).toBe(200);
  });
});

describe('a flood of refused requests against the audit log', () => {
  test('a client with no key cannot fill the audit log (and rotate real tool calls out of it); /metrics still counts every refusal', async () => {
    const dir = tempDir('attack-http-');
    const keysFile = join(dir, 'keys.json');
    writeFileSync(keysFile, JSON.stringify({ clients: [{ client_id: 'alice', api_key: KEY, enabled: true }] }), { mode: 0o600 });
    await using s = await startServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keysFile });
    const FLOOD = 400;
    // Keep-alive connections, each refusal a ~100-byte request: the cheapest way to make the server write a line.
    await Promise.all(
      Array.from({ length: 8 }, async (_, c) => {
        for (let i = 0; i < FLOOD / 8; i++) {
          const r = await fetch(s.mcpUrl, { method: 'POST', headers: { 'x-api-key': `guess-${c}-${i}`, 'content-type': 'application/json' }, body: '{}' });
          expect(r.status).toBe(401);
          await r.arrayBuffer();
        }
      }),
    );
    const call = await rpc(s.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'true', correlationId: 'after-the-flood' } }, { 'X-API-Key': KEY });
    expect(call.status).toBe(200);
    await s.rt.audit.flush();
    const lines = readFileSync(s.auditFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
    const failures = lines.filter((l) => l.event_type === 'auth_failure');
    const oneByOne = failures.filter((l) => l.correlation_id !== null);
    const summaries = failures.filter((l) => l.correlation_id === null);
    // HIDE_AUDIT_REFUSALS_PER_ADDRESS defaults to 60.
    expect(oneByOne).toHaveLength(60);
    expect(summaries).toHaveLength(1);
    expect(summaries[0].result).toMatchObject({ suppressed: FLOOD - oneByOne.length, sources: 1, top: [{ client_ip: '127.0.0.1', count: FLOOD - oneByOne.length }] });
    expect(lines.some((l) => l.event_type === 'tool_call' && l.correlation_id === 'after-the-flood')).toBe(true);
    expect(await metricLines(s.url, 'hide_auth_failures_total')).toEqual([`hide_auth_failures_total ${FLOOD}`]);
  });

  test("nor fill the server's stderr: a refusal's warning is printed only with its audit line, and the rest in one summary line", async () => {
    const dir = tempDir('attack-http-');
    const server = await startServerProcess({ cwd: dir, env: { HIDE_AUTH_ENABLED: 'true', HIDE_API_KEY: KEY, HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl') } });
    const FLOOD = 600;
    try {
      await Promise.all(
        Array.from({ length: 8 }, async (_, c) => {
          for (let i = 0; i < FLOOD / 8; i++) {
            const r = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { 'x-api-key': `guess-${c}-${i}`, 'content-type': 'application/json' }, body: '{}' });
            expect(r.status).toBe(401);
            await r.arrayBuffer();
          }
        }),
      );
    } finally {
      // The summary of the window is written (and printed) as the server closes its audit log.
      await server.stop();
    }
    const warnings = server
      .logs()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; tag?: string; msg: string })
      .filter((l) => l.tag === 'security');
    const oneByOne = warnings.filter((l) => l.msg === 'API key authentication failed: invalid API key. Client IP: 127.0.0.1');
    // HIDE_AUDIT_REFUSALS_PER_ADDRESS defaults to 60: as many warnings as audit lines, then one line for the rest.
    expect(oneByOne).toHaveLength(60);
    expect(warnings.filter((l) => !oneByOne.includes(l)).map((l) => [l.level, l.msg.replace(/ in the last \d+ s /, ' in the last N s ')])).toEqual([
      [
        'warn',
        `${FLOOD - 60} more auth_failure events in the last N s were not written one by one (at most 60 per address or signed-in client and 600 from all addresses per minute); most from 127.0.0.1 (${FLOOD - 60})`,
      ],
    ]);
  });

  test("keyless requests from the key holder's own address cannot hide which key was refused which tool", async () => {
    const dir = tempDir('attack-http-');
    const keysFile = join(dir, 'keys.json');
    writeFileSync(keysFile, JSON.stringify({ clients: [{ client_id: 'mallory', api_key: KEY, enabled: true, tools: ['check_file_exists'] }] }), { mode: 0o600 });
    await using s = await startServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keysFile, HIDE_AUDIT_REFUSALS_PER_ADDRESS: '5' });
    // First spend the address's share of refusal lines with no key at all: cheap, and nothing links it to the key.
    for (let i = 0; i < 10; i++) expect((await rpc(s.mcpUrl, 'ping', undefined, { 'X-API-Key': `guess-${i}` })).status).toBe(401);
    // Then probe the tools the key may not call.
    for (const name of ['shell_execute', 'write_file', 'process_start']) {
      expect((await rpc(s.mcpUrl, 'tools/call', { name, arguments: {} }, { 'X-API-Key': KEY })).status).toBe(403);
    }
    await s.rt.audit.flush();
    const lines = readFileSync(s.auditFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
    const denied = lines.filter((l) => l.event_type === 'permission_denied');
    expect(denied.map((l) => [l.client_id, l.tool_name])).toEqual([
      ['mallory', 'shell_execute'],
      ['mallory', 'write_file'],
      ['mallory', 'process_start'],
    ]);
  });
});
