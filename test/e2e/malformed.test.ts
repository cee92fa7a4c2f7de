/**
 * Malformed input never crashes the server or yields a 5xx: each case gets the
 * status and JSON-RPC code of DESIGN.md's error table, in both eras — each
 * case is sent as a handshake-era client and as a 2026-07-28 client would
 * frame it, to the same server. 2026-07-28's own framing (`_meta`, the
 * protocol version, Mcp-Name) is attacked too: a 4xx that echoes the id, and
 * nothing runs. Correlation ids: a bad argument is refused before its command
 * runs, a bad header is replaced, and every answer carries a valid
 * X-Correlation-ID.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_ID_CHARS, MAX_VALUES } from '../../src/mcp/protocol.ts';
import { ERAS, eraResult, frame, inputErrorOf, inputErrorResponse, MODERN, rpc, startServer, type TestEra, type TestServer } from '../helpers/server.ts';

const CORRELATION_ID = /^[A-Za-z0-9._:/@+=-]{1,128}$/;
const RULE = 'correlationId must be 1-128 characters from A-Z a-z 0-9 . _ : / @ + = -';
const PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';

/**
 * Each era's cheapest request that succeeds: 2026-07-28 removed `ping` (it is
 * a 404 there), so that era's is `server/discover`.
 */
const NOOP: Record<TestEra, string> = { legacy: 'ping', modern: 'server/discover' };

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(() => s.stop());

/** POSTs `message` framed for `era` (see `frame`); `headers` win over the framing's. */
async function post(era: TestEra, message: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const request = frame(era, message, headers);
  const res = await fetch(s.mcpUrl, { method: 'POST', headers: request.headers, body: request.body });
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
const LIST = { jsonrpc: '2.0', id: 1, method: 'tools/list' };

describe.each(ERAS)('malformed requests (%s)', (era) => {
  // A message object is framed for the era (2026-07-28 adds its `_meta` and
  // headers); text that is not a message gets only the MCP-Protocol-Version header.
  test.each([
    ['empty body', '', 400, -32600],
    ['whitespace body', '   \n', 400, -32600],
    ['invalid JSON', '{"jsonrpc":"2.0",', 400, -32700],
    ['null', 'null', 400, -32600],
    ['a number', '42', 400, -32600],
    ['a string', '"tools/list"', 400, -32600],
    ['[]', '[]', 400, -32600],
    ['a batch', [LIST, { jsonrpc: '2.0', id: 2, method: 'ping' }], 400, -32600],
    ['wrong jsonrpc', { ...LIST, jsonrpc: '1.0' }, 400, -32600],
    ['missing jsonrpc', { id: 1, method: 'tools/list' }, 400, -32600],
    ['method not a string', { ...LIST, method: 7 }, 400, -32600],
    ['id is an object', { ...LIST, id: {} }, 400, -32600],
    ['id is null', { ...LIST, id: null }, 400, -32600],
    ['params is an array', { ...LIST, params: [] }, 400, -32600],
    ['a null byte in JSON', '{"jsonrpc":"2.0","id":1,"method":"tools/list"}\u0000', 400, -32700],
    ['10 000-deep nesting', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'true', x: JSON.parse(deep(10_000)) } } }, 400, -32600],
    ['nesting as deep as is taken', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'true', x: JSON.parse(deep(60)) } } }, 200, null],
    ['100 000-deep nesting in an array', deep(100_000), 400, -32600],
    // JSON.parse builds every value on the event loop (two million numbers: 0.75 s): counted before the parse.
    ['more values than any message needs', { ...LIST, params: { x: Array(MAX_VALUES + 1).fill(0) } }, 400, -32600],
    ['the most arguments a call takes', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'true', arguments: Array(4096).fill('a') } } }, 200, null],
  ])('%s → %d', async (_name, message, status, code) => {
    const r = await post(era, message);
    expect(r.status).toBe(status);
    expect(r.text).not.toContain('    at ');
    if (code !== null) expect(r.json.error.code).toBe(code);
    expect(r.json.jsonrpc).toBe('2.0');
  });

  // Every answer echoes the id, and an answer no client reads stays in memory: a 4 MB id per request let one caller
  // hold gigabytes with requests nobody limits (tools/list, ping).
  test(`an id longer than ${MAX_ID_CHARS} characters (a string, or an integer's digits) → 400 -32600 that does not echo it; ${MAX_ID_CHARS} are echoed`, async () => {
    const longest = 'i'.repeat(MAX_ID_CHARS);
    const digits = `9${'0'.repeat(MAX_ID_CHARS)}`;
    const answers = await Promise.all([
      post(era, { ...LIST, method: NOOP[era], id: `${longest}x` }),
      post(era, `{"jsonrpc":"2.0","id":${digits},"method":"${NOOP[era]}"}`),
      post(era, { ...LIST, method: NOOP[era], id: longest }),
    ]);
    expect(answers.map((r) => [r.status, r.json.id, r.json.error?.code ?? null])).toEqual([
      [400, null, -32600],
      [400, null, -32600],
      [200, longest, null],
    ]);
    expect(answers[0]!.text.length).toBeLessThan(MAX_ID_CHARS);
  });

  test(`a message of more than ${MAX_VALUES} values is refused before it is parsed, naming the bound, its id echoed`, async () => {
    const r = await post(era, `{"jsonrpc":"2.0","id":"many","method":"tools/list","params":{"x":[${Array(2_000_000).fill('0').join(',')}]}}`);
    expect([r.status, r.json.id, r.json.error.code, r.json.error.message]).toEqual([400, 'many', -32600, `Invalid Request: the message holds more than ${MAX_VALUES} values; no MCP message needs that many`]);
  });

  test('a body over the limit → 413 before parsing', async () => {
    const big = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'echo', arguments: ['x'.repeat(10 * 1024 * 1024)] } } };
    const r = await post(era, big);
    expect(r.status).toBe(413);
    // Refused before the body is read: no id to echo, in either era.
    expect([r.json.error.code, r.json.id]).toEqual([-32600, null]);
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
    const { headers } = frame(era, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute' } }, { 'content-type': 'application/json' });
    const res = await fetch(s.mcpUrl, { method: 'POST', headers, body: stream });
    expect(res.status).toBe(413);
  });

  // A replaced byte would change what runs: here the file `touch` makes (U+FFFD in its name) and the id answered.
  test.each(['a declared length', 'a chunked body'])('a body that is not UTF-8 (%s) → 400 -32700 and nothing runs', async (how) => {
    const marker = join(s.workspace, `utf8-${era}-${how.length}`);
    const { headers, body } = frame(era, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'touch', arguments: [`${marker}@`] } } }, { 'content-type': 'application/json' });
    const bytes = Buffer.from(body as string);
    bytes[bytes.indexOf('@')] = 0xff;
    const sent = how === 'a chunked body' ? new Blob([bytes]).stream() : bytes;
    const res = await fetch(s.mcpUrl, { method: 'POST', headers, body: sent });
    const json = (await res.json()) as any;
    expect({ status: res.status, code: json.error?.code, message: json.error?.message, id: json.id }).toEqual({ status: 400, code: -32700, message: 'Parse error: message is not valid UTF-8', id: null });
    expect(readdirSync(s.workspace).filter((n) => n.startsWith(`utf8-${era}-`))).toEqual([]);
  });

  // JSON.parse keeps the last of a name given twice; a gateway or log in front may have read the first.
  test.each([
    ['the command twice', '"command":"true"', '"command":"true","command":"touch"', 'params.arguments.command', 7],
    ['the command twice, the second spelt with an escape', '"command":"true"', '"command":"true","comm\\u0061nd":"touch"', 'params.arguments.command', 7],
    ['the method twice', '"method":"tools/call"', '"method":"tools/list","method":"tools/call"', 'method', 7],
    ['the tool twice', '"name":"shell_execute"', '"name":"check_file_exists","name":"shell_execute"', 'params.name', 7],
    ['the id twice', '"id":7', '"id":7,"id":8', 'id', null],
  ])('a tools/call that gives %s → 400 -32600 and nothing runs', async (_what, once, twice, path, id) => {
    const marker = join(s.workspace, `twice-${era}-${path}-${String(id)}-${twice.length}`);
    const call = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'true', arguments: [marker] } } };
    const { headers, body } = frame(era, call, { 'content-type': 'application/json' });
    expect(body.split(once).length).toBe(2);
    const res = await fetch(s.mcpUrl, { method: 'POST', headers, body: body.replace(once, twice) });
    const json = (await res.json()) as any;
    expect({ status: res.status, code: json.error?.code, id: json.id }).toEqual({ status: 400, code: -32600, id });
    expect(json.error.message).toContain(`"${path}" is given twice in one object`);
    expect(existsSync(marker)).toBe(false);
    // The same call with each name once runs.
    const ran = await fetch(s.mcpUrl, { method: 'POST', headers, body: body.replace('"command":"true"', '"command":"touch"') });
    expect(ran.status).toBe(200);
    expect(existsSync(marker)).toBe(true);
  });

  test('a cancellation that gives requestId twice → 400 -32600, refused before it reaches any call', async () => {
    const note = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'first' } };
    const { headers, body } = frame(era, note, { 'content-type': 'application/json' });
    const res = await fetch(s.mcpUrl, { method: 'POST', headers, body: body.replace('"requestId":"first"', '"requestId":"first","requestId":"second"') });
    const json = (await res.json()) as any;
    expect({ status: res.status, code: json.error?.code, id: json.id }).toEqual({ status: 400, code: -32600, id: null });
    expect(json.error.message).toContain('"params.requestId" is given twice in one object');
  });

  test('a non-JSON content type → 415, id echoed', async () => {
    const r = await post(era, LIST, { 'content-type': 'text/plain' });
    expect([r.status, r.json.id]).toEqual([415, 1]);
  });

  test.each([
    ['application/json-seq', 415],
    ['application/json, text/plain', 415],
    // A list whose first type carries a parameter: the parameter's value is no `b, text/plain`.
    ['application/json;a=b, text/plain', 415],
    ['application/json; charset=utf-8, text/plain', 415],
    ['application/json; a="b", text/plain', 415],
    ['application/json; charset=latin1', 415],
    ['application/json; charset="utf-16"', 415],
    ['application/json; charset=utf-8; charset=utf-16', 415],
    ['application/json; charset=utf-8; CHARSET=utf-8', 415],
    ["application/json; charset*=utf-16''x", 415],
    ['application/jsonp', 415],
    ['application/json; charset=UTF-8', 200],
    ['application/json;charset=utf8', 200],
    ['Application/JSON', 200],
    ['application/vnd.api+json', 200],
  ])('Content-Type %s → %d', async (type, status) => {
    const r = await post(era, LIST, { 'content-type': type });
    expect([r.status, r.json.id]).toEqual([status, 1]);
  });

  test('a body in UTF-16, as its charset says → 415, not a parse error; the id cannot be read', async () => {
    const { headers, body } = frame(era, LIST, { 'content-type': 'application/json; charset=utf-16' });
    const utf16 = new Uint8Array([0xff, 0xfe, ...new Uint8Array(Buffer.from(body, 'utf16le'))]);
    const res = await fetch(s.mcpUrl, { method: 'POST', headers, body: utf16 });
    expect([res.status, ((await res.json()) as any).id]).toEqual([415, null]);
  });

  test.each([
    ['gzip', true, 415],
    ['br', false, 415],
    ['gzip, identity', false, 415],
    ['identity', false, 200],
    [' Identity ', false, 200],
  ])('Content-Encoding %s (body compressed: %p) → %d; a refused call does not run', async (coding, compressed, status) => {
    const marker = join(s.workspace, `coded-${era}-${coding.trim()}-${compressed}`);
    const call = { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'touch', arguments: [marker] } } };
    const { headers, body } = frame(era, call, { 'content-type': 'application/json', 'content-encoding': coding });
    const res = await fetch(s.mcpUrl, { method: 'POST', headers, body: compressed ? Bun.gzipSync(body) : body });
    const json = (await res.json()) as any;
    expect([res.status, json.id, existsSync(marker)]).toEqual([status, compressed ? null : 9, status === 200]);
    if (status === 415) expect([json.error.code, res.headers.get('accept-encoding')]).toEqual([-32600, 'identity']);
  });

  test('an unsupported protocol version → 400 -32022, id echoed', async () => {
    // A handshake-era client names its version in the header only; a 2026-07-28 client in the header and in `_meta`.
    const params = era === 'modern' ? { _meta: { [PROTOCOL_VERSION]: '1999-01-01' } } : undefined;
    const r = await post(era, { ...LIST, params }, { 'content-type': 'application/json', 'mcp-protocol-version': '1999-01-01' });
    expect([r.status, r.json.id, r.json.error.code, r.json.error.data.requested]).toEqual([400, 1, -32022, '1999-01-01']);
  });

  test('Accept: text/html only → 406, id echoed', async () => {
    const r = await post(era, LIST, { 'content-type': 'application/json', accept: 'text/html' });
    expect([r.status, r.json.id]).toEqual([406, 1]);
  });

  // By content negotiation, not by substring: `q=0` refuses a type, a range matches only its own type and parameters.
  test.each([
    ['application/json;q=0', 406],
    ['application/json;q=0, text/event-stream', 'sse'],
    ['*/*, application/json;q=0', 'sse'],
    ['*/*;q=0', 406],
    ['application/jsonl', 406],
    ['application/json; charset=latin1', 406],
    ['APPLICATION/JSON; Charset=UTF-8', 'json'],
    ['text/*', 'sse'],
    ['application/*;q=0.1, text/event-stream', 'json'],
    ['text/event-stream; charset=utf-8', 'sse'],
    ['', 'json'],
  ] as const)('Accept %j → %p', async (accept, expected) => {
    const r = await post(era, LIST, { 'content-type': 'application/json', accept });
    const got = r.status === 406 ? 406 : r.headers.get('content-type') === 'text/event-stream' ? 'sse' : 'json';
    expect([got, r.status === 406 ? r.json.id : r.status]).toEqual([expected, expected === 406 ? 1 : 200]);
  });

  // Negotiating costs per range: a 16 KB Accept cost 40 times an ignored header of that size.
  test('an Accept longer than 1024 characters → 406 saying so, whatever it names', async () => {
    const r = await post(era, LIST, { 'content-type': 'application/json', accept: `application/json${', a/b'.repeat(250)}` });
    expect([r.status, r.json.id, r.json.error.message]).toEqual([406, 1, 'Not Acceptable: the Accept header is longer than 1024 characters']);
  });

  test('Accept: text/event-stream only → one SSE event holding the JSON answer', async () => {
    const message = { jsonrpc: '2.0', id: 9, method: NOOP[era] };
    const json = await post(era, message, { 'content-type': 'application/json', accept: 'application/json' });
    const r = await post(era, message, { 'content-type': 'application/json', accept: 'text/event-stream' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/event-stream');
    expect(r.text).toBe(`event: message\ndata: ${json.text}\n\n`);
    if (era === 'legacy') expect(r.text).toBe('event: message\ndata: {"jsonrpc":"2.0","id":9,"result":{}}\n\n');
  });

  test('a notification → 202 with no body', async () => {
    // 2026-07-28 has no handshake, so no notifications/initialized: its client's notification is a cancellation.
    const method = era === 'legacy' ? 'notifications/initialized' : 'notifications/cancelled';
    const r = await post(era, { jsonrpc: '2.0', method, ...(era === 'modern' ? { params: { requestId: 'none' } } : {}) });
    expect(r.status).toBe(202);
    expect(r.text).toBe('');
  });

  test('an unknown method → -32601, id echoed (200 in the handshake era, 404 under 2026-07-28)', async () => {
    const r = await rpc(s.mcpUrl, 'resources/list', undefined, {}, era);
    expect([r.status, r.body.error.code, r.body.id]).toEqual([era === 'legacy' ? 200 : 404, -32601, r.id]);
  });

  test('an unknown tool → -32602', async () => {
    const r = await rpc(s.mcpUrl, 'tools/call', { name: 'rm_rf' }, {}, era);
    expect([r.status, r.body]).toEqual([200, { jsonrpc: '2.0', id: r.id, error: { code: -32602, message: 'Unknown tool: rm_rf' } }]);
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
    const r = await rpc(s.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: args }, {}, era);
    expect(r.status).toBe(200);
    expect(inputErrorOf(r.body)).toStartWith('Invalid arguments for tool shell_execute: ');
    expect(r.body.result.resultType).toBe(era === 'modern' ? 'complete' : undefined);
  });

  // Under 2026-07-28 a tools/call needs an Mcp-Name header mirroring params.name;
  // with no string name to mirror, the header check refuses it first (-32020).
  test.each([
    ['name missing', {}, { legacy: [200, -32602], modern: [400, -32020] }],
    ['name a number', { name: 5 }, { legacy: [200, -32602], modern: [400, -32020] }],
    ['arguments an array', { name: 'shell_execute', arguments: [] }, { legacy: [200, -32602], modern: [200, -32602] }],
    ['arguments a string', { name: 'shell_execute', arguments: 'echo' }, { legacy: [200, -32602], modern: [200, -32602] }],
  ])('bad tools/call params (%s) → a JSON-RPC error, id echoed', async (_n, params, want) => {
    const r = await rpc(s.mcpUrl, 'tools/call', params, {}, era);
    expect([r.status, r.body.error.code, r.body.id]).toEqual([...want[era], r.id]);
  });

  test('check_file_exists with a wrong type → a tool result with isError', async () => {
    const r = await rpc(s.mcpUrl, 'tools/call', { name: 'check_file_exists', arguments: { fileName: ['a'] } }, {}, era);
    expect(inputErrorOf(r.body)).toStartWith('Invalid arguments for tool check_file_exists: ');
  });

  test.each(['GET', 'PUT', 'DELETE', 'PATCH'])('%s on /mcp → 405 with Allow', async (method) => {
    const res = await fetch(s.mcpUrl, { method, headers: frame(era, LIST).headers });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });

  test('unknown path → 404 JSON', async () => {
    const request = frame(era, LIST);
    const res = await fetch(`${s.url}/nope`, { method: 'POST', headers: request.headers, body: request.body });
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.code).toBe(-32601);
  });
});

/** A `touch` of a fresh marker file, as 2026-07-28 frames it; the marker tells whether the command ran. */
let markers = 0;
function modernTouch(change: (framed: { params: Record<string, any>; headers: Record<string, string> }) => void) {
  const marker = join(s.workspace, `framing-marker-${markers++}`);
  const id = `framing-${markers}`;
  const message = { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'touch', arguments: [marker] } } };
  const request = frame('modern', message, { 'content-type': 'application/json' });
  const framed = { params: JSON.parse(request.body).params, headers: request.headers };
  change(framed);
  return { id, marker, body: JSON.stringify({ ...message, params: framed.params }), headers: framed.headers };
}

const b64 = (text: string) => `=?base64?${Buffer.from(text).toString('base64')}?=`;
const SHELL_EXECUTE_B64 = Buffer.from('shell_execute').toString('base64');

describe('malformed 2026-07-28 framing: a 4xx with a JSON-RPC body, the id echoed, nothing runs', () => {
  test.each([
    ['_meta is an array', -32602, (f: any) => (f.params._meta = [])],
    ['_meta is a string', -32602, (f: any) => (f.params._meta = MODERN)],
    ['_meta is null', -32602, (f: any) => (f.params._meta = null)],
    ['the _meta protocol version is a number', -32022, (f: any) => (f.params._meta[PROTOCOL_VERSION] = 20260728)],
    ['the _meta protocol version is an object', -32022, (f: any) => (f.params._meta[PROTOCOL_VERSION] = { version: MODERN })],
    ['Mcp-Name is Latin-1, not base64-encoded', -32020, (f: any) => (f.headers['mcp-name'] = 'sh\u00e9ll_execute')],
    // fetch takes header values as bytes: these are the UTF-8 bytes of the name, sent raw.
    ['Mcp-Name is raw UTF-8, not base64-encoded', -32020, (f: any) => (f.headers['mcp-name'] = Buffer.from('shell_éxecute_工具').toString('latin1'))],
    ['Mcp-Name is 8 KB', -32020, (f: any) => (f.headers['mcp-name'] = 'x'.repeat(8192))],
    ['Mcp-Name is an 8 KB base64 value', -32020, (f: any) => (f.headers['mcp-name'] = b64('x'.repeat(6000)))],
    ['the base64 value lacks its padding', -32020, (f: any) => (f.headers['mcp-name'] = `=?base64?${SHELL_EXECUTE_B64.replace(/=+$/, '')}?=`)],
    ['the base64 value has one = of two', -32020, (f: any) => (f.headers['mcp-name'] = `=?base64?${SHELL_EXECUTE_B64.replace(/==$/, '=')}?=`)],
    ['the base64 value has three =', -32020, (f: any) => (f.headers['mcp-name'] = `=?base64?${SHELL_EXECUTE_B64}=?=`)],
    ['the base64 value has = inside', -32020, (f: any) => (f.headers['mcp-name'] = `=?base64?${SHELL_EXECUTE_B64.slice(0, 4)}=${SHELL_EXECUTE_B64.slice(4)}?=`)],
    ['the base64 value has stray low bits', -32020, (f: any) => (f.headers['mcp-name'] = `=?base64?${SHELL_EXECUTE_B64.replace('Q==', 'R==')}?=`)],
    ['the base64 value is not UTF-8', -32020, (f: any) => (f.headers['mcp-name'] = `=?base64?${Buffer.from([0x73, 0xff]).toString('base64')}?=`)],
  ])('%s → 400 %d', async (_name, code, change) => {
    const { id, marker, body, headers } = modernTouch(change);
    const res = await fetch(s.mcpUrl, { method: 'POST', headers, body });
    const text = await res.text();
    expect(text).not.toContain('    at ');
    const json = JSON.parse(text);
    expect({ status: res.status, jsonrpc: json.jsonrpc, id: json.id, code: json.error?.code, ran: existsSync(marker) }).toEqual({
      status: 400,
      jsonrpc: '2.0',
      id,
      code,
      ran: false,
    });
  });

  test('the same call, well framed (Mcp-Name plain or as padded base64), runs', async () => {
    for (const name of ['shell_execute', b64('shell_execute')]) {
      const { marker, body, headers } = modernTouch((f) => (f.headers['mcp-name'] = name));
      const res = await fetch(s.mcpUrl, { method: 'POST', headers, body });
      expect([res.status, ((await res.json()) as any).result?.isError, existsSync(marker)]).toEqual([200, false, true]);
    }
  });
});

describe.each(ERAS)('correlation ids (%s)', (era) => {
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
      const marker = join(s.workspace, `cid-marker-${era}-${n++}`);
      const request = frame(
        era,
        { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'touch', arguments: [marker], correlationId } } },
        { 'content-type': 'application/json', accept },
      );
      const res = await fetch(s.mcpUrl, { method: 'POST', headers: request.headers, body: request.body });
      const text = await res.text();
      const data = accept === 'text/event-stream' ? text.replace(/^event: message\ndata: /, '').replace(/\n\n$/, '') : text;
      expect({ status: res.status, header: CORRELATION_ID.test(res.headers.get('x-correlation-id') ?? ''), body: JSON.parse(data), ran: existsSync(marker) }).toEqual({
        status: 200,
        header: true,
        body: inputErrorResponse(5, `Invalid arguments for tool shell_execute: ${RULE}; got ${got}`, era),
        ran: false,
      });
    }
  });

  test('every tool that takes a correlationId advertises the rule it is refused by', async () => {
    const r = await rpc(s.mcpUrl, 'tools/list', undefined, {}, era);
    const advertised = (r.body.result.tools as { name: string; inputSchema: { properties: Record<string, any> } }[])
      .filter((t) => 'correlationId' in t.inputSchema.properties)
      .map((t) => [t.name, t.inputSchema.properties.correlationId.maxLength, new RegExp(t.inputSchema.properties.correlationId.pattern).source]);
    expect(advertised).toEqual(['shell_execute', 'shell_execute_json', 'process_start'].map((name) => [name, 128, CORRELATION_ID.source]));
  });

  test('a valid argument is used for the response header and wins over the header', async () => {
    const id = 'wf-42/step.1:a@b+c=d_e';
    const r = await rpc(s.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'true', correlationId: id } }, { 'x-correlation-id': 'from-header' }, era);
    expect([r.status, r.headers.get('x-correlation-id'), r.body.result.structuredContent.correlationId]).toEqual([200, id, id]);
  });

  test('a valid header is echoed on answers and errors alike', async () => {
    const ok = await rpc(s.mcpUrl, NOOP[era], undefined, { 'x-correlation-id': 'hdr-1' }, era);
    const bad = await rpc(s.mcpUrl, 'tools/call', { name: 'nope' }, { 'x-correlation-id': 'hdr-2' }, era);
    const refused = frame(era, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'content-type': 'text/plain', 'x-correlation-id': 'hdr-3' });
    const res = await fetch(s.mcpUrl, { method: 'POST', headers: refused.headers, body: refused.body });
    expect([ok.status, ok.headers.get('x-correlation-id'), bad.headers.get('x-correlation-id'), res.status, res.headers.get('x-correlation-id')]).toEqual([
      200,
      'hdr-1',
      'hdr-2',
      415,
      'hdr-3',
    ]);
  });

  test.each([['caf\u00e9'], ['a;b'], ['x'.repeat(129)], ['with space'], ['\u007f'], ['Root=1-5759e988;Sampled=1']])(
    'a header %j is replaced by a new id, and the call goes on',
    async (value) => {
      const r = await rpc(s.mcpUrl, NOOP[era], undefined, { 'x-correlation-id': value }, era);
      const header = r.headers.get('x-correlation-id') ?? '';
      // ping's result is empty; server/discover's is larger and carries resultType like every 2026-07-28 result.
      const result = era === 'legacy' ? {} : expect.objectContaining(eraResult(era, {}));
      expect([r.status, r.body.result, CORRELATION_ID.test(header), header === value]).toEqual([200, result, true, false]);
    },
  );
});

test('the server is still healthy after all of that', async () => {
  const res = await fetch(`${s.url}/health`);
  expect(res.status).toBe(200);
  expect(res.headers.get('x-correlation-id')).toBeTruthy();
});
