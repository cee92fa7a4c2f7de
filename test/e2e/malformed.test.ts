/**
 * Malformed input never crashes the server or yields a 5xx: each case gets the
 * status and JSON-RPC code of DESIGN.md's error table. Correlation ids: a bad
 * argument is refused before its command runs, a bad header is replaced, and
 * every answer carries a valid X-Correlation-ID.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { inputErrorOf, inputErrorResponse, rpc, startServer, type TestServer } from '../helpers/server.ts';

const CORRELATION_ID = /^[A-Za-z0-9._:/@+=-]{1,128}$/;
const RULE = 'correlationId must be 1-128 characters from A-Z a-z 0-9 . _ : / @ + = -';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(() => s.stop());

async function post(body: string | Uint8Array, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const res = await fetch(s.mcpUrl, { method: 'POST', headers, body });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* non-JSON body */
  }
  return { status: res.status, json, text, headers: res.headers };
}

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

describe('malformed requests', () => {
  test.each([
    ['empty body', '', 400, -32600],
    ['whitespace body', '   \n', 400, -32600],
    ['invalid JSON', '{"jsonrpc":"2.0",', 400, -32700],
    ['null', 'null', 400, -32600],
    ['a number', '42', 400, -32600],
    ['a string', '"tools/list"', 400, -32600],
    ['[]', '[]', 400, -32600],
    ['a batch', '[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"ping"}]', 400, -32600],
    ['wrong jsonrpc', '{"jsonrpc":"1.0","id":1,"method":"tools/list"}', 400, -32600],
    ['missing jsonrpc', '{"id":1,"method":"tools/list"}', 400, -32600],
    ['method not a string', '{"jsonrpc":"2.0","id":1,"method":7}', 400, -32600],
    ['id is an object', '{"jsonrpc":"2.0","id":{},"method":"tools/list"}', 400, -32600],
    ['id is null', '{"jsonrpc":"2.0","id":null,"method":"tools/list"}', 400, -32600],
    ['params is an array', '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[]}', 400, -32600],
    ['a null byte in JSON', '{"jsonrpc":"2.0","id":1,"method":"tools/list"}\u0000', 400, -32700],
    ['10 000-deep nesting', `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"shell_execute","arguments":{"command":"true","x":${deep(10_000)}}}}`, 200, null],
    ['100 000-deep nesting in an array', deep(100_000), 400, null],
  ])('%s → %d', async (_name, body, status, code) => {
    const r = await post(body);
    expect(r.status).toBe(status);
    expect(r.text).not.toContain('    at ');
    if (code !== null) expect(r.json.error.code).toBe(code);
    expect(r.json.jsonrpc).toBe('2.0');
  });

  test('a body over the limit → 413 before parsing', async () => {
    const big = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"shell_execute","arguments":{"command":"echo","arguments":["${'x'.repeat(10 * 1024 * 1024)}"]}}}`;
    const r = await post(big);
    expect(r.status).toBe(413);
    expect(r.json.error.code).toBe(-32600);
  });

  test('a chunked body over the limit → 413', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(1024 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ >= 6) c.close();
        else c.enqueue(chunk);
      },
    });
    const res = await fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: stream });
    expect(res.status).toBe(413);
  });

  test('a non-JSON content type → 415', async () => {
    const r = await post('{"jsonrpc":"2.0","id":1,"method":"tools/list"}', { 'content-type': 'text/plain' });
    expect(r.status).toBe(415);
  });

  test('an unsupported protocol version header → 400', async () => {
    const r = await post('{"jsonrpc":"2.0","id":1,"method":"tools/list"}', { 'content-type': 'application/json', 'mcp-protocol-version': '1999-01-01' });
    expect(r.status).toBe(400);
  });

  test('Accept: text/html only → 406', async () => {
    const r = await post('{"jsonrpc":"2.0","id":1,"method":"tools/list"}', { 'content-type': 'application/json', accept: 'text/html' });
    expect(r.status).toBe(406);
  });

  test('Accept: text/event-stream only → one SSE event', async () => {
    const r = await post('{"jsonrpc":"2.0","id":9,"method":"ping"}', { 'content-type': 'application/json', accept: 'text/event-stream' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/event-stream');
    expect(r.text).toBe('event: message\ndata: {"jsonrpc":"2.0","id":9,"result":{}}\n\n');
  });

  test('a notification → 202 with no body', async () => {
    const r = await post('{"jsonrpc":"2.0","method":"notifications/initialized"}');
    expect(r.status).toBe(202);
    expect(r.text).toBe('');
  });

  test('an unknown method → 200 with -32601, id echoed', async () => {
    const r = await rpc(s.mcpUrl, 'resources/list');
    expect(r.status).toBe(200);
    expect(r.body.error.code).toBe(-32601);
    expect(typeof r.body.id).toBe('number');
  });

  test('an unknown tool → -32602', async () => {
    const r = await rpc(s.mcpUrl, 'tools/call', { name: 'rm_rf' });
    expect(r.body.error).toMatchObject({ code: -32602, message: 'Unknown tool: rm_rf' });
  });

  test.each([
    ['command', { command: 42 }],
    ['command null', { command: null }],
    ['command empty', { command: '' }],
    ['command huge', { command: 'x'.repeat(5000) }],
    ['arguments', { command: 'echo', arguments: 'a b' }],
    ['arguments elements', { command: 'echo', arguments: [1, 2] }],
    ['workingDirectory', { command: 'echo', workingDirectory: ['.'] }],
    ['timeoutSeconds string', { command: 'echo', timeoutSeconds: '5' }],
    ['timeoutSeconds 0', { command: 'echo', timeoutSeconds: 0 }],
    ['timeoutSeconds too big', { command: 'echo', timeoutSeconds: 301 }],
    ['timeoutSeconds fraction', { command: 'echo', timeoutSeconds: 1.5 }],
    ['correlationId', { command: 'echo', correlationId: 5 }],
    ['user', { command: 'echo', user: {} }],
  ])('wrong type for shell_execute %s → a tool result with isError the model can act on', async (_name, args) => {
    const r = await rpc(s.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: args });
    expect(r.status).toBe(200);
    expect(inputErrorOf(r.body)).toStartWith('Invalid arguments for tool shell_execute: ');
  });

  test.each([
    ['name missing', {}],
    ['name a number', { name: 5 }],
    ['arguments an array', { name: 'shell_execute', arguments: [] }],
    ['arguments a string', { name: 'shell_execute', arguments: 'echo' }],
  ])('bad tools/call params (%s) → -32602', async (_n, params) => {
    const r = await rpc(s.mcpUrl, 'tools/call', params);
    expect(r.body.error.code).toBe(-32602);
  });

  test('check_file_exists with a wrong type → a tool result with isError', async () => {
    const r = await rpc(s.mcpUrl, 'tools/call', { name: 'check_file_exists', arguments: { fileName: ['a'] } });
    expect(inputErrorOf(r.body)).toStartWith('Invalid arguments for tool check_file_exists: ');
  });

  test.each(['GET', 'PUT', 'DELETE', 'PATCH'])('%s on /mcp → 405 with Allow', async (method) => {
    const res = await fetch(s.mcpUrl, { method });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });

  test('unknown path → 404 JSON', async () => {
    const res = await fetch(`${s.url}/nope`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.code).toBe(-32601);
  });

  test('the server is still healthy after all of that', async () => {
    const res = await fetch(`${s.url}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-correlation-id')).toBeTruthy();
  });
});

describe('correlation ids', () => {
  let n = 0;
  test.each([
    ['CR LF', 'a\r\nX-Injected: 1', 'a string of 16 characters with characters outside that set'],
    ['NUL', 'a\u0000b', 'a string of 3 characters with characters outside that set'],
    ['above U+00FF', 'id-\u0100', 'a string of 4 characters with characters outside that set'],
    ['a lone surrogate', 'id-\ud800', 'a string of 4 characters with characters outside that set'],
    ['ESC', '\u001b[2Jx', 'a string of 5 characters with characters outside that set'],
    ['Latin-1', 'caf\u00e9', 'a string of 4 characters with characters outside that set'],
    ['empty', '', 'a string of 0 characters'],
    ['129 characters', 'x'.repeat(129), 'a string of 129 characters'],
    ['a number', 42, 'a number'],
    ['null', null, 'null'],
  ])('argument with %s → an input error before the command runs, as JSON and as SSE', async (_name, correlationId, got) => {
    for (const accept of ['application/json', 'text/event-stream']) {
      const marker = join(s.workspace, `cid-marker-${n++}`);
      const res = await fetch(s.mcpUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept },
        body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'touch', arguments: [marker], correlationId } } }),
      });
      const text = await res.text();
      const data = accept === 'text/event-stream' ? text.replace(/^event: message\ndata: /, '').replace(/\n\n$/, '') : text;
      expect({ status: res.status, header: CORRELATION_ID.test(res.headers.get('x-correlation-id') ?? ''), body: JSON.parse(data), ran: existsSync(marker) }).toEqual({
        status: 200,
        header: true,
        body: inputErrorResponse(5, `Invalid arguments for tool shell_execute: ${RULE}; got ${got}`),
        ran: false,
      });
    }
  });

  test('a valid argument is used for the response header and wins over the header', async () => {
    const id = 'wf-42/step.1:a@b+c=d_e';
    const r = await rpc(s.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'true', correlationId: id } }, { 'x-correlation-id': 'from-header' });
    expect([r.status, r.headers.get('x-correlation-id'), r.body.result.structuredContent.correlationId]).toEqual([200, id, id]);
  });

  test('a valid header is echoed on answers and errors alike', async () => {
    const ok = await rpc(s.mcpUrl, 'ping', undefined, { 'x-correlation-id': 'hdr-1' });
    const bad = await rpc(s.mcpUrl, 'tools/call', { name: 'nope' }, { 'x-correlation-id': 'hdr-2' });
    const refused = await fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'text/plain', 'x-correlation-id': 'hdr-3' }, body: '{}' });
    expect([ok.headers.get('x-correlation-id'), bad.headers.get('x-correlation-id'), refused.status, refused.headers.get('x-correlation-id')]).toEqual([
      'hdr-1',
      'hdr-2',
      415,
      'hdr-3',
    ]);
  });

  test.each([['caf\u00e9'], ['a;b'], ['x'.repeat(129)], ['with space'], ['\u007f'], ['Root=1-5759e988;Sampled=1']])(
    'a header %j is replaced by a new id, and the call goes on',
    async (value) => {
      const r = await rpc(s.mcpUrl, 'ping', undefined, { 'x-correlation-id': value });
      const header = r.headers.get('x-correlation-id') ?? '';
      expect([r.status, r.body.result, CORRELATION_ID.test(header), header === value]).toEqual([200, {}, true, false]);
    },
  );
});
