/**
 * A tool that fails in a way nobody expected, through the real message core,
 * dispatcher and registry: the reply is a failed tool result naming only the
 * tool and the correlation id, never the error's message or stack (they
 * carry paths and whatever the failing code held), and the id is echoed.
 * Both transports send this reply as it is.
 */
import { expect, test } from 'bun:test';
import * as v from 'valibot';
import { configureLogger } from '../../src/core/log.ts';
import { McpCore } from '../../src/mcp/core.ts';
import { McpDispatcher } from '../../src/mcp/dispatcher.ts';
import { ToolRegistry } from '../../src/tools/registry.ts';
import { defineTool, toolOutput } from '../../src/tools/types.ts';

configureLogger({ level: 'silent', format: 'json' });

const LEAK = 'ENOENT: open /etc/hide/keys.json (api_key=k-123)';

const broken = defineTool({
  name: 'broken',
  title: 'Broken',
  description: 'test tool that throws',
  inputSchema: v.object({}),
  outputSchema: toolOutput({}),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  readOnly: true,
  handler: async () => {
    throw new TypeError(LEAK);
  },
});

test('a tool that throws: a failed result naming only the tool and the correlation id, the id echoed', async () => {
  const core = new McpCore(new McpDispatcher(new ToolRegistry([broken])));
  const incoming = core.read('{"jsonrpc":"2.0","id":"x-7","method":"tools/call","params":{"name":"broken","arguments":{}}}', null);
  if (!incoming.ok) throw incoming.error;
  const ctx = { clientId: 'c', clientIp: '127.0.0.1', apiKeyHash: null, correlationId: 'core-fail', transport: 'stdio' as const, signal: new AbortController().signal, allowedTools: null, readOnly: false };
  const reply = await core.answer(incoming, ctx);
  const error = 'internal error while running broken; see server log, correlation id core-fail';
  expect([reply.status, JSON.parse(reply.body!)]).toEqual([
    200,
    { jsonrpc: '2.0', id: 'x-7', result: { content: [{ type: 'text', text: JSON.stringify({ error }) }], structuredContent: { error }, isError: true } },
  ]);
});

// A call admitted after the server began to exit (its limit store slow to answer, past the drain) ran after the audit
// log had closed: a write_file wrote its file and left no line, not even an interrupted one.
test('a call reaching the dispatcher once the server is exiting does not run: 503, shutting down', async () => {
  let ran = false;
  const marker = defineTool({ ...broken, name: 'marker', handler: async () => ((ran = true), { structured: { error: null }, isError: false }) });
  const dispatcher = new McpDispatcher(new ToolRegistry([marker]));
  const core = new McpCore(dispatcher);
  dispatcher.recordUnfinished();
  const incoming = core.read('{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"marker","arguments":{}}}', null);
  if (!incoming.ok) throw incoming.error;
  const ctx = { clientId: 'c', clientIp: '127.0.0.1', apiKeyHash: null, correlationId: 'late', transport: 'stdio' as const, signal: new AbortController().signal, allowedTools: null, readOnly: false };
  const reply = await core.answer(incoming, ctx);
  const error = (JSON.parse(reply.body!) as { error?: { code: number; message: string } }).error;
  expect({ ran, status: reply.status, code: error?.code, message: error?.message }).toEqual({ ran: false, status: 503, code: -31503, message: 'Service unavailable: the server is shutting down; retry on another instance' });
});
