/**
 * DNS rebinding against the real server, the way the attack arrives: a page
 * on evil.example whose name now resolves to 127.0.0.1 posts a tool call to
 * the loopback-bound server. Same-origin after the rebinding, it may carry no
 * Origin header at all; its Host still says evil.example. The call is refused
 * with 403 before anything runs, and audited; a configured name passes; a
 * server bound to another address checks no Host.
 */
import { describe, expect, test } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rpc, startServer, waitFor } from '../helpers/server.ts';

const QUIET = { HIDE_SANDBOX: 'off' };

/** A tool call that leaves a file behind if it runs. */
const touch = (name: string) => ({ name: 'shell_execute', arguments: { command: 'touch', arguments: [name] } });

describe('Host check on a loopback-bound server', () => {
  test('Host: evil.example without Origin: 403 / -32003, the command never runs, an audit line and a metric say so', async () => {
    await using s = await startServer(QUIET);
    const r = await rpc(s.mcpUrl, 'tools/call', touch('pwned'), { Host: 'evil.example' });
    const rebound = await rpc(s.mcpUrl, 'tools/call', touch('pwned'), { Host: `evil.example:${new URL(s.url).port}` });
    const health = await fetch(`${s.url}/health`, { headers: { Host: 'evil.example' } });
    expect({ status: r.status, body: r.body, rebound: rebound.status, health: health.status, ran: existsSync(join(s.workspace, 'pwned')) }).toEqual({
      status: 403,
      body: { jsonrpc: '2.0', id: null, error: { code: -32003, message: 'Forbidden: Host is not allowed', data: { reason: 'host' } } },
      rebound: 403,
      health: 403,
      ran: false,
    });
    await waitFor(() => readFileSync(s.auditFile, 'utf8').includes('"event_type":"host_denied"'), 3000, 'host_denied line');
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).toContain('hide_host_denials_total 3');
  });

  test('the loopback names pass, and the call runs', async () => {
    await using s = await startServer(QUIET);
    const port = new URL(s.url).port;
    const statuses = [];
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) statuses.push((await rpc(s.mcpUrl, 'tools/list', undefined, { Host: host })).status);
    const call = await rpc(s.mcpUrl, 'tools/call', touch('made'), { Host: `localhost:${port}` });
    expect({ statuses, call: call.status, ran: existsSync(join(s.workspace, 'made')) }).toEqual({ statuses: [200, 200, 200], call: 200, ran: true });
  });

  test('a configured allowed host passes; others are still refused', async () => {
    await using s = await startServer({ ...QUIET, HIDE_ALLOWED_HOSTS: 'ide.example.com,box.lan:8080' });
    const allowed = await rpc(s.mcpUrl, 'tools/call', touch('via-proxy'), { Host: 'ide.example.com' });
    const wrongPort = await rpc(s.mcpUrl, 'tools/call', touch('wrong-port'), { Host: 'box.lan:8081' });
    const evil = await rpc(s.mcpUrl, 'tools/call', touch('pwned'), { Host: 'evil.example' });
    expect({
      statuses: [allowed.status, wrongPort.status, evil.status],
      ran: ['via-proxy', 'wrong-port', 'pwned'].map((f) => existsSync(join(s.workspace, f))),
    }).toEqual({ statuses: [200, 403, 403], ran: [true, false, false] });
  });
});

// A page on another loopback port (a dev server, a notebook, a local report) is an allowed Origin by default. A body
// with no Content-Type (a Uint8Array, a Blob with no type) makes its POST one a browser sends with no CORS preflight:
// the page could not read the answer, but the call ran.
describe('a browser request with no Content-Type', () => {
  test('is refused with 415 when it carries an Origin, and the command never runs; with the JSON type, or with no Origin, it runs', async () => {
    await using s = await startServer(QUIET);
    const post = (name: string, headers: Record<string, string>) =>
      fetch(s.mcpUrl, { method: 'POST', headers: { Accept: '*/*', ...headers }, body: new TextEncoder().encode(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: touch(name) })) });
    const page = await post('from-page', { Origin: 'http://localhost:3000' });
    const pageJson = await post('from-page-json', { Origin: 'http://localhost:3000', 'Content-Type': 'application/json' });
    const tool = await post('from-tool', {});
    expect({
      page: [page.status, await page.json()],
      statuses: [pageJson.status, tool.status],
      ran: ['from-page', 'from-page-json', 'from-tool'].map((f) => existsSync(join(s.workspace, f))),
    }).toEqual({
      page: [415, { jsonrpc: '2.0', id: 7, error: { code: -32600, message: 'Unsupported Media Type: a request with an Origin must send Content-Type: application/json' } }],
      statuses: [200, 200],
      ran: [false, true, true],
    });
  });
});

test('a server bound to another address checks no Host', async () => {
  // The policy follows the configured bind address; the test still listens on loopback only.
  await using s = await startServer({ ...QUIET, HIDE_HOST: '0.0.0.0', HIDE_ALLOW_UNAUTHENTICATED: 'true' });
  const r = await rpc(s.mcpUrl, 'tools/call', touch('from-anywhere'), { Host: 'evil.example' });
  expect({ status: r.status, ran: existsSync(join(s.workspace, 'from-anywhere')) }).toEqual({ status: 200, ran: true });
});
