/**
 * The mcp-message plugin (src/http/plugins/mcp-message.ts): reads and
 * classifies the POSTed JSON-RPC message before the handler, and refuses a
 * wrong Content-Type (415), an unsupported MCP-Protocol-Version (-32022), an
 * empty body, invalid JSON (-32700), a non-JSON-RPC shape — each with its id
 * echoed when it could be read — and a body over the limit (413). Smallest app: request state, the app's error mapping,
 * a route that shows what the plugin left in the request state; app.handle,
 * no socket needed.
 */
import { describe, expect, test } from 'bun:test';
import { mcpMessage } from '../../src/http/plugins/mcp-message.ts';
import { stateOf } from '../../src/http/request-state.ts';
import { McpCore } from '../../src/mcp/core.ts';
import { McpDispatcher } from '../../src/mcp/dispatcher.ts';
import { ALL_PROTOCOL_VERSIONS, SUPPORTED_PROTOCOL_VERSIONS } from '../../src/mcp/protocol.ts';
import { ToolRegistry } from '../../src/tools/registry.ts';
import { pluginApp } from './harness.ts';

const LIMIT = 1024;

function build(wrap = false) {
  const ran: string[] = [];
  const seen = ({ request }: { request: Request }) => {
    ran.push(request.method);
    const s = stateOf(request)!;
    return { message: s.incoming?.message ?? null, rpcId: s.rpcId };
  };
  // wrap: its `global` hook must still reach this app's routes.
  const app = pluginApp(mcpMessage(new McpCore(new McpDispatcher(new ToolRegistry([]))), LIMIT, 30_000), { wrap })
    .post('/mcp', seen, { parse: 'none' })
    .get('/mcp', seen);
  return { app, ran };
}

async function post(app: ReturnType<typeof build>['app'], body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const res = await app.handle(new Request('http://localhost/mcp', { method: 'POST', body, headers }));
  return { status: res.status, body: await res.json() };
}

function rpcError(status: number, id: unknown, code: number, message: string, data?: unknown) {
  return { status, body: { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } } };
}

describe('mcp-message plugin', () => {
  test('a request is read and classified before the handler', async () => {
    const { app, ran } = build();
    const res = await post(app, '{"jsonrpc":"2.0","id":7,"method":"tools/list"}');
    expect({ res, ran }).toEqual({
      res: { status: 200, body: { message: { kind: 'request', id: 7, method: 'tools/list', params: {} }, rpcId: 7 } },
      ran: ['POST'],
    });
  });

  test.each([
    ['no Content-Type', {}],
    ['application/json; charset=utf-8', { 'content-type': 'application/json; charset=utf-8' }],
    ['a +json media type', { 'content-type': 'application/vnd.example+json' }],
    ['a supported MCP-Protocol-Version', { 'content-type': 'application/json', 'mcp-protocol-version': SUPPORTED_PROTOCOL_VERSIONS[0]! }],
  ])('%s is accepted; a notification is classified as one', async (_name, headers) => {
    const { app, ran } = build();
    const res = await post(app, '{"jsonrpc":"2.0","method":"notifications/initialized"}', headers);
    expect({ res, ran }).toEqual({
      res: { status: 200, body: { message: { kind: 'notification', method: 'notifications/initialized', params: {} }, rpcId: null } },
      ran: ['POST'],
    });
  });

  test.each([
    [
      'a non-JSON Content-Type',
      '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      { 'content-type': 'text/plain' },
      rpcError(415, 1, -32600, 'Unsupported Media Type: send Content-Type: application/json (UTF-8)'),
    ],
    [
      'an unsupported MCP-Protocol-Version',
      '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      { 'content-type': 'application/json', 'mcp-protocol-version': '1999-01-01' },
      rpcError(400, 1, -32022, `Unsupported protocol version '1999-01-01'; supported: ${ALL_PROTOCOL_VERSIONS.join(', ')}`, {
        supported: ALL_PROTOCOL_VERSIONS,
        requested: '1999-01-01',
      }),
    ],
    ['an empty body', '  \n', undefined, rpcError(400, null, -32600, 'Invalid Request: empty message; send one JSON-RPC message')],
    ['invalid JSON', '{"jsonrpc":"2.0","id":1,', undefined, rpcError(400, null, -32700, 'Parse error: message is not valid JSON')],
    [
      'a batch',
      '[{"jsonrpc":"2.0","id":1,"method":"ping"}]',
      undefined,
      rpcError(400, null, -32600, 'Batch requests are not supported (MCP 2025-06-18 and later); send one message per request'),
    ],
    [
      'a wrong jsonrpc version (its id echoed)',
      '{"jsonrpc":"1.0","id":42,"method":"ping"}',
      undefined,
      rpcError(400, 42, -32600, 'Invalid Request: × Invalid type: Expected "2.0" but received "1.0" → at jsonrpc'),
    ],
    [
      'a body over the limit',
      `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"${'x'.repeat(LIMIT)}"}}`,
      undefined,
      rpcError(413, null, -32600, `Request body exceeds the limit of ${LIMIT} bytes`, { limit: LIMIT }),
    ],
  ])('%s is refused and the handler does not run', async (_name, body, headers, expected) => {
    const { app, ran } = build();
    expect({ res: await post(app, body, headers), ran }).toEqual({ res: expected, ran: [] });
  });

  test('a GET is left to the route (it answers 405 in the real app)', async () => {
    const { app, ran } = build();
    const res = await app.handle(new Request('http://localhost/mcp'));
    expect({ status: res.status, body: await res.json(), ran }).toEqual({ status: 200, body: { message: null, rpcId: null }, ran: ['GET'] });
  });

  test('hook scope: nested inside another plugin, the message is still read for the outer app', async () => {
    const { app, ran } = build(true);
    const results = [await post(app, '{"jsonrpc":"2.0","id":"a","method":"ping"}'), await post(app, 'not json')];
    expect({ results, ran }).toEqual({
      results: [{ status: 200, body: { message: { kind: 'request', id: 'a', method: 'ping', params: {} }, rpcId: 'a' } }, rpcError(400, null, -32700, 'Parse error: message is not valid JSON')],
      ran: ['POST'],
    });
  });
});
