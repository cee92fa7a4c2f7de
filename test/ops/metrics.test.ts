/**
 * /metrics on the real server: the exposition parses as Prometheus text
 * format and its counters equal the calls this test made — requests by route
 * and status, tool calls by outcome, the duration histogram, auth failures,
 * IP denials, rate-limit refusals, audit lines. Every tool gets a duration
 * series, whatever its result carries. Also: the metrics token, and the
 * separate metrics port.
 */
import { describe, expect, test } from 'bun:test';
import { auditLines, exec, freePort, parseProm, rpc, sampleValue, spawnServer, waitFor } from './helpers.ts';

const KEY = 'test-key-0123456789abcdefghijklmnop';
const TOKEN = 'metrics-token-xyz';

describe('/metrics', () => {
  test('counters match the calls made', async () => {
    await using s = await spawnServer({
      HIDE_AUTH_ENABLED: 'true',
      HIDE_API_KEY: KEY,
      HIDE_RATE_LIMIT_ENABLED: 'true',
      HIDE_RATE_LIMIT_RPM: '5',
      HIDE_TRUSTED_PROXIES: '127.0.0.1',
      HIDE_ALLOWED_CLIENT_IPS: '127.0.0.1',
      HIDE_METRICS_TOKEN: TOKEN,
    });
    const key = { 'x-api-key': KEY };
    for (let i = 0; i < 3; i++) expect((await exec(s.url, 'echo', [String(i)], key)).body.result.isError).toBe(false);
    expect((await exec(s.url, 'false', [], key)).body.result.isError).toBe(true);
    expect((await exec(s.url, 'echo', ['five'], key)).status).toBe(200);
    expect((await exec(s.url, 'echo', ['six'], key)).status).toBe(429); // RPM 5
    expect((await rpc(s.url, 'tools/list', undefined, key)).status).toBe(200);
    expect((await rpc(s.url, 'tools/list', undefined, { 'x-api-key': 'wrong' })).status).toBe(401);
    expect((await rpc(s.url, 'tools/list')).status).toBe(401);
    expect((await rpc(s.url, 'tools/list', undefined, { ...key, 'x-forwarded-for': '10.9.8.7' })).status).toBe(403);
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
    expect((await fetch(`${s.url}/ready`)).status).toBe(200);

    const denied = await fetch(`${s.url}/metrics`);
    expect([denied.status, denied.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="hide-metrics"']);
    expect((await fetch(`${s.url}/metrics`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const res = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const { samples, types } = parseProm(await res.text());

    const req = (route: string, status: number) => sampleValue(samples, 'hide_http_requests_total', { route, status: String(status) });
    expect({
      mcp200: req('/mcp', 200),
      mcp429: req('/mcp', 429),
      mcp401: req('/mcp', 401),
      mcp403: req('/mcp', 403),
      health: req('/health', 200),
      ready: req('/ready', 200),
      ok: sampleValue(samples, 'hide_tool_calls_total', { tool: 'shell_execute', outcome: 'ok' }),
      error: sampleValue(samples, 'hide_tool_calls_total', { tool: 'shell_execute', outcome: 'error' }),
      durationCount: sampleValue(samples, 'hide_tool_call_duration_seconds_count', { tool: 'shell_execute' }),
      infBucket: sampleValue(samples, 'hide_tool_call_duration_seconds_bucket', { tool: 'shell_execute', le: '+Inf' }),
      inFlight: sampleValue(samples, 'hide_tool_calls_in_flight'),
      children: sampleValue(samples, 'hide_child_processes'),
      authFailures: sampleValue(samples, 'hide_auth_failures_total'),
      ipDenials: sampleValue(samples, 'hide_ip_denials_total'),
      rpmRefusals: sampleValue(samples, 'hide_rate_limit_refusals_total', { reason: 'rpm' }),
      concurrencyRefusals: sampleValue(samples, 'hide_rate_limit_refusals_total', { reason: 'concurrency' }),
      auditLines: sampleValue(samples, 'hide_audit_lines_written_total'),
      readyGauge: sampleValue(samples, 'hide_ready'),
    }).toEqual({
      mcp200: 6,
      mcp429: 1,
      mcp401: 2,
      mcp403: 1,
      health: 1,
      ready: 1,
      ok: 4,
      error: 1,
      durationCount: 5,
      infBucket: 5,
      inFlight: 0,
      children: 0,
      authFailures: 2,
      ipDenials: 1,
      rpmRefusals: 1,
      concurrencyRefusals: 0,
      // 5 tool calls + 2 auth failures + 1 IP denial + 1 refusal
      auditLines: 9,
      readyGauge: 1,
    } as never);
    expect(types.get('hide_tool_call_duration_seconds')).toBe('histogram');
    // Buckets are cumulative and end at the count.
    const buckets = samples.filter((x) => x.name === 'hide_tool_call_duration_seconds_bucket').map((x) => x.value);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
  }, 20_000);

  test('every tool has a duration series after one call each, refused calls included', async () => {
    await using s = await spawnServer();
    // Known tools get a call that succeeds; a tool added later is still called (with {}, refused as invalid).
    const calls: [string, Record<string, unknown>][] = [
      ['write_file', { path: 'm.txt', content: 'hello' }],
      ['edit_file', { path: 'm.txt', edits: [{ oldText: 'hello', newText: 'bye' }] }],
      ['read_file', { path: 'm.txt' }],
      ['check_file_exists', { fileName: 'm.txt' }],
      ['list_directory', {}],
      ['search_files', { pattern: 'bye' }],
      ['shell_execute', { command: 'true' }],
      ['shell_execute_json', { command: 'echo', arguments: ['{}'] }],
      ['shell_get_available_tools', {}],
    ];
    const listed = (await rpc(s.url, 'tools/list')).body.result.tools.map((t: { name: string }) => t.name) as string[];
    for (const name of listed) {
      const r = await rpc(s.url, 'tools/call', { name, arguments: calls.find(([n]) => n === name)?.[1] ?? {} });
      expect(r.status).toBe(200);
    }
    // One call refused for its arguments is timed too.
    expect((await rpc(s.url, 'tools/call', { name: 'check_file_exists', arguments: { fileName: 7 } })).body.result.isError).toBe(true);

    const { samples } = parseProm(await (await fetch(`${s.url}/metrics`)).text());
    const seen = (name: string) => ({
      calls: sampleValue(samples, 'hide_tool_calls_total', { tool: name }),
      durations: sampleValue(samples, 'hide_tool_call_duration_seconds_count', { tool: name }),
      infBucket: sampleValue(samples, 'hide_tool_call_duration_seconds_bucket', { tool: name, le: '+Inf' }),
    });
    const expected = (name: string) => {
      const n = name === 'check_file_exists' ? 2 : 1;
      return { calls: n, durations: n, infBucket: n };
    };
    expect(listed).toEqual(expect.arrayContaining(calls.map(([n]) => n)));
    expect(Object.fromEntries(listed.map((n) => [n, seen(n)]))).toEqual(Object.fromEntries(listed.map((n) => [n, expected(n)])));
  }, 20_000);

  test('HIDE_METRICS_PORT serves /metrics on its own listener only', async () => {
    const port = freePort();
    await using s = await spawnServer({ HIDE_METRICS_PORT: String(port) });
    expect((await exec(s.url, 'echo', ['x'])).status).toBe(200);
    expect((await fetch(`${s.url}/metrics`)).status).toBe(404);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    const { samples } = parseProm(await res.text());
    expect(sampleValue(samples, 'hide_tool_calls_total', { tool: 'shell_execute', outcome: 'ok' })).toBe(1);
    expect((await fetch(`http://127.0.0.1:${port}/mcp`)).status).toBe(404);
  }, 20_000);

  test('the separate listener answers only to a loopback Host, as the main port does: a rebound name is refused and audited', async () => {
    const port = freePort();
    await using s = await spawnServer({ HIDE_METRICS_PORT: String(port) });
    const at = (host: string) => fetch(`http://127.0.0.1:${port}/metrics`, { headers: { Host: host } }).then(async (r) => [r.status, (await r.text()).startsWith('#')]);
    expect([await at('evil.example'), await at(`evil.example:${port}`), await at(`localhost:${port}`), await at(`127.0.0.1:${port}`)]).toEqual([
      [403, false],
      [403, false],
      [200, true],
      [200, true],
    ]);
    await waitFor(() => auditLines(s.auditFile).filter((l) => l.event_type === 'host_denied').length === 2, 3000, 'two host_denied lines');
  }, 20_000);

  test('HIDE_METRICS_TOKEN guards the separate listener too', async () => {
    const port = freePort();
    const token = 'metrics-token-0123456789abcdef';
    await using s = await spawnServer({ HIDE_METRICS_PORT: String(port), HIDE_METRICS_TOKEN: token });
    const at = (headers: Record<string, string>) => fetch(`http://127.0.0.1:${port}/metrics`, { headers }).then(async (r) => [r.status, (await r.text()).startsWith('#')]);
    expect([await at({}), await at({ authorization: 'Bearer wrong' }), await at({ authorization: `Bearer ${token}` })]).toEqual([
      [401, false],
      [401, false],
      [200, true],
    ]);
  }, 20_000);
});
