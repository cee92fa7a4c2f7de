/**
 * Both revisions of MCP from one endpoint, through the real server: a request
 * whose `_meta` names 2026-07-28 gets the stateless revision (server/discover,
 * `resultType`, caching hints, removed methods as 404, Mcp-* headers checked
 * against the body), and everything else keeps the handshake era exactly as
 * before — the seeds' curl call with no headers included. Over stdio the same
 * core answers the same way. A refusal never runs a command and echoes the id.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_PROTOCOL_VERSIONS } from '../../src/mcp/protocol.ts';
import { asModern, MODERN, MODERN_META, rpc, startServer, tempDir, type TestServer } from '../helpers/server.ts';
import { startStdio } from '../helpers/stdio.ts';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(() => s.stop());

let nextId = 1000;
/** One POST with exactly these headers and params (no framing added). */
async function post(method: string, params: unknown, headers: Record<string, string>, id: number | string = nextId++) {
  const res = await fetch(s.mcpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const modern = (method: string, params: unknown = {}, extra: Record<string, string> = {}, id?: number | string) => {
  const m = asModern(method, params, extra);
  return post(method, m.params, m.headers, id);
};

const marker = (name: string) => join(s.workspace, name);
const touch = (name: string) => ({ name: 'shell_execute', arguments: { command: 'touch', arguments: [marker(name)] } });

describe('2026-07-28', () => {
  test('server/discover names every version we speak, our capabilities and identity, with caching hints', async () => {
    const r = await modern('server/discover', {}, {}, 'discover-1');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id: 'discover-1',
      result: {
        resultType: 'complete',
        supportedVersions: [...ALL_PROTOCOL_VERSIONS],
        capabilities: { tools: { listChanged: false } },
        _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'hide' } },
        cacheScope: 'public',
      },
    });
    expect(r.body.result.supportedVersions[0]).toBe(MODERN);
    expect(r.body.result.ttlMs).toBeGreaterThanOrEqual(0);
    expect(typeof r.body.result.instructions).toBe('string');
  });

  test('tools/list: resultType, ttlMs, cacheScope, and the same tools in the same order as the handshake era', async () => {
    const [m, l] = [await modern('tools/list'), await rpc(s.mcpUrl, 'tools/list')];
    expect(m.status).toBe(200);
    expect(m.body.result).toMatchObject({ resultType: 'complete', cacheScope: 'public' });
    expect(Number.isInteger(m.body.result.ttlMs) && m.body.result.ttlMs >= 0).toBe(true);
    expect(m.body.result.tools.map((t: { name: string }) => t.name)).toEqual(l.body.result.tools.map((t: { name: string }) => t.name));
    expect(l.body.result.resultType).toBeUndefined();
    // Stable: the same bytes every time.
    expect(JSON.stringify((await modern('tools/list')).body.result)).toBe(JSON.stringify(m.body.result));
  });

  test('tools/call runs the command and says resultType: complete', async () => {
    const r = await modern('tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: ['hi'] } });
    expect(r.status).toBe(200);
    expect(r.body.result).toMatchObject({ resultType: 'complete', isError: false, structuredContent: { stdout: 'hi\n', exitCode: 0 } });
  });

  test('a tool input error is a tool result the model can act on; an unknown tool stays -32602', async () => {
    const bad = await modern('tools/call', { name: 'shell_execute', arguments: {} });
    expect(bad.body.result).toMatchObject({ resultType: 'complete', isError: true });
    expect(bad.body.result.structuredContent.error).toStartWith('Invalid arguments for tool shell_execute: ');
    const unknown = await modern('tools/call', { name: 'rm_rf', arguments: {} }, {}, 41);
    expect(unknown).toEqual({ status: 200, body: { jsonrpc: '2.0', id: 41, error: { code: -32602, message: 'Unknown tool: rm_rf' } } });
  });

  test('an unsupported version: 400, -32022, the versions we speak, the id echoed', async () => {
    const m = asModern('server/discover', { _meta: { 'io.modelcontextprotocol/protocolVersion': 'v999.0.0' } }, { 'mcp-protocol-version': 'v999.0.0' });
    const r = await post('server/discover', m.params, m.headers, 301);
    expect(r).toEqual({
      status: 400,
      body: {
        jsonrpc: '2.0',
        id: 301,
        error: {
          code: -32022,
          message: `Unsupported protocol version 'v999.0.0'; supported: ${ALL_PROTOCOL_VERSIONS.join(', ')}`,
          data: { supported: [...ALL_PROTOCOL_VERSIONS], requested: 'v999.0.0' },
        },
      },
    });
  });

  test.each([
    ['the header and _meta name different versions', { _meta: { 'io.modelcontextprotocol/protocolVersion': 'v999.0.0' } }, {}, -32020],
    ['Mcp-Method differs from the body', {}, { 'mcp-method': 'prompts/list' }, -32020],
    ['Mcp-Method in another case', {}, { 'mcp-method': 'TOOLS/LIST' }, -32020],
    ['no MCP-Protocol-Version header', {}, { 'mcp-protocol-version': '' }, -32020],
  ])('tools/list where %s: 400 %d, id echoed', async (_name, params, headers, code) => {
    const m = asModern('tools/list', params, headers);
    const h = Object.fromEntries(Object.entries(m.headers).filter(([, v]) => v !== ''));
    const r = await post('tools/list', m.params, h, 77);
    expect([r.status, r.body.id, r.body.error?.code]).toEqual([400, 77, code]);
  });

  test('no Mcp-Method header: 400 -32020', async () => {
    const m = asModern('tools/list', {});
    const { 'mcp-method': _drop, ...headers } = m.headers;
    const r = await post('tools/list', m.params, headers, 78);
    expect([r.status, r.body.id, r.body.error?.code]).toEqual([400, 78, -32020]);
  });

  test.each([
    ['Mcp-Name names another tool', { 'mcp-name': 'check_file_exists' }],
    ['Mcp-Name is missing', { 'mcp-name': '' }],
    ['Mcp-Name is malformed base64', { 'mcp-name': '=?base64?%%%?=' }],
  ])('a tools/call where %s: 400 -32020 and the command never runs', async (name, headers) => {
    const file = `hdr-${name.length}-${nextId}`;
    const m = asModern('tools/call', touch(file), headers);
    const h = Object.fromEntries(Object.entries(m.headers).filter(([, v]) => v !== ''));
    const r = await post('tools/call', m.params, h, 79);
    expect([r.status, r.body.id, r.body.error?.code, existsSync(marker(file))]).toEqual([400, 79, -32020, false]);
  });

  test('Mcp-Name in the =?base64?…?= form and with surrounding spaces matches', async () => {
    for (const value of [`=?base64?${Buffer.from('shell_execute').toString('base64')}?=`, '  shell_execute  ']) {
      const r = await modern('tools/call', { name: 'shell_execute', arguments: { command: 'true' } }, { 'mcp-name': value });
      expect([r.status, r.body.result?.isError]).toEqual([200, false]);
    }
  });

  test.each([
    ['no _meta at all', { _meta: undefined }],
    ['no protocol version in _meta', { _meta: { 'io.modelcontextprotocol/clientCapabilities': {} } }],
    ['no client capabilities in _meta', { _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN } }],
  ])('a 2026-07-28 request with %s: 400 -32602, id echoed', async (_name, params) => {
    const headers = { 'mcp-protocol-version': MODERN, 'mcp-method': 'server/discover' };
    const r = await post('server/discover', params, headers, 102);
    expect([r.status, r.body.id, r.body.error?.code]).toEqual([400, 102, -32602]);
  });

  // constructor, toString, __proto__: names Object.prototype has, which must not be taken for methods whose Mcp-Name is required.
  test.each(['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'unknown/method', 'subscriptions/listen', 'constructor', 'toString', '__proto__'])(
    '%s is not a method of 2026-07-28: 404 -32601, id echoed',
    async (method) => {
      const r = await modern(method, {}, {}, 500);
      expect([r.status, r.body.id, r.body.error?.code]).toEqual([404, 500, -32601]);
    },
  );
});

describe('2026-07-28 notifications: the required headers and _meta fields are those of requests', () => {
  const note = (meta?: Record<string, unknown>) => ({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'none', ...(meta ? { _meta: meta } : {}) } });
  test.each([
    ['with its _meta and no Mcp-Method', note(MODERN_META), { 'mcp-protocol-version': MODERN }, [202, '']],
    ['with the MCP-Protocol-Version header and no _meta', note(), { 'mcp-protocol-version': MODERN, 'mcp-method': 'notifications/cancelled' }, [202, '']],
    ['naming the version and no client capabilities', note({ 'io.modelcontextprotocol/protocolVersion': MODERN }), { 'mcp-protocol-version': MODERN }, [202, '']],
    ['whose Mcp-Method differs from the body', note(MODERN_META), { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call' }, [400, -32020]],
    ['whose header and _meta name different versions', note(MODERN_META), { 'mcp-protocol-version': '2025-11-25' }, [400, -32020]],
    ['naming a version we do not speak', note({ ...MODERN_META, 'io.modelcontextprotocol/protocolVersion': '1999-01-01' }), {}, [400, -32022]],
  ])('a notification %s', async (_name, body, headers, expected) => {
    const res = await fetch(s.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    expect([res.status, text === '' ? '' : JSON.parse(text).error?.code]).toEqual(expected);
  });
});

describe('the handshake era is unchanged', () => {
  test("the seeds' curl call: no handshake, no headers", async () => {
    const res = await fetch(`${s.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"shell_execute","arguments":{"command":"echo","arguments":["seed"]}}}',
    });
    const body = (await res.json()) as any;
    expect([res.status, body.result.structuredContent.stdout, body.result.resultType]).toEqual([200, 'seed\n', undefined]);
  });

  test('initialize and ping answer as before; a mismatched Mcp-Method is refused in this era too', async () => {
    const init = await rpc(s.mcpUrl, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } });
    expect(init.body.result.protocolVersion).toBe('2025-11-25');
    expect((await rpc(s.mcpUrl, 'ping', undefined, { 'mcp-protocol-version': '2025-11-25' })).body.result).toEqual({});
    const r = await post('tools/list', {}, { 'mcp-protocol-version': '2025-11-25', 'mcp-method': 'tools/call' }, 9);
    expect([r.status, r.body.id, r.body.error?.code]).toEqual([400, 9, -32020]);
  });

  // A proxy that routes or limits on Mcp-Name would let `check_file_exists` through while the body runs a command.
  test.each([
    ['with a handshake-era MCP-Protocol-Version', { 'mcp-protocol-version': '2025-11-25' }, 'name-legacy-1'],
    ['with no version named at all', {}, 'name-legacy-2'],
  ])('a tools/call whose Mcp-Name names another tool, %s: 400 -32020 and nothing runs', async (_name, headers, file) => {
    const r = await post('tools/call', touch(file), { ...headers, 'mcp-name': 'check_file_exists' }, file);
    expect([r.status, r.body.id, r.body.error?.code, existsSync(marker(file))]).toEqual([400, file, -32020, false]);
  });

  test('an unsupported MCP-Protocol-Version header: 400 -32022 with the id', async () => {
    const r = await post('tools/list', {}, { 'mcp-protocol-version': '1999-01-01' }, 10);
    expect([r.status, r.body.id, r.body.error?.code, r.body.error?.data?.requested]).toEqual([400, 10, -32022, '1999-01-01']);
  });

  test('a posted response is refused under a version we do not speak, like any other message', async () => {
    const send = (version: string) =>
      fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'mcp-protocol-version': version }, body: '{"jsonrpc":"2.0","id":11,"result":{}}' });
    const refused = await send('1999-01-01');
    const body = (await refused.json()) as any;
    // Its id is one the client's peer chose: echoing it could match one of the client's own requests.
    expect([refused.status, body.error?.code, body.id, (await send('2025-11-25')).status]).toEqual([400, -32022, null, 202]);
  });

  test('a 415 echoes the id it could read', async () => {
    const res = await fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"jsonrpc":"2.0","id":"x1","method":"tools/list"}' });
    expect([res.status, ((await res.json()) as any).id]).toEqual([415, 'x1']);
  });
});

describe('over stdio, the same core', () => {
  test('modern and handshake requests side by side, each answered in its own era', async () => {
    const dir = tempDir('hide-eras-');
    const ws = join(dir, 'ws');
    await Bun.write(join(ws, '.keep'), '');
    const peer = await startStdio(ws);
    try {
      const from = peer.lines.length;
      peer.send(JSON.stringify({ jsonrpc: '2.0', id: 'd', method: 'server/discover', params: { _meta: MODERN_META } }));
      peer.send(JSON.stringify({ jsonrpc: '2.0', id: 'c', method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'echo', arguments: ['hi'] }, _meta: MODERN_META } }));
      peer.send(JSON.stringify({ jsonrpc: '2.0', id: 'p', method: 'ping', params: { _meta: MODERN_META } }));
      peer.send(JSON.stringify({ jsonrpc: '2.0', id: 'l', method: 'ping' }));
      const discover = JSON.parse(await peer.line('{"jsonrpc":"2.0","id":"d"', from));
      const call = JSON.parse(await peer.line('{"jsonrpc":"2.0","id":"c"', from));
      const removed = JSON.parse(await peer.line('{"jsonrpc":"2.0","id":"p"', from));
      const legacy = JSON.parse(await peer.line('{"jsonrpc":"2.0","id":"l"', from));
      expect(discover.result.supportedVersions).toEqual([...ALL_PROTOCOL_VERSIONS]);
      expect(call.result).toMatchObject({ resultType: 'complete', structuredContent: { stdout: 'hi\n' } });
      expect(removed.error.code).toBe(-32601);
      expect(legacy.result).toEqual({});
    } finally {
      await peer.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
