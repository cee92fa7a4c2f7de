/**
 * Streamed progress for shell_execute through the real server: a call that
 * carries a progressToken gets `notifications/progress` while the command
 * runs — increasing `progress` (output bytes so far), the newest output as
 * `message` — then its result, over HTTP (a really streamed SSE response) and
 * over stdio, delivered to the SDK client's `onprogress`. Without a token
 * nothing changes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { asModern, startServer, tempDir, type TestServer } from '../helpers/server.ts';

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts');
const FIVE_LINES = { command: 'sh', arguments: ['-c', 'for i in 1 2 3 4 5; do echo $i; sleep 0.3; done'] };

let s: TestServer;
let dir: string;
beforeAll(async () => {
  s = await startServer();
  dir = tempDir('hide-progress-');
});
afterAll(async () => {
  await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Calls the five-line command with an onprogress handler; returns what arrived, in order. */
async function callWithProgress(client: Client) {
  const events: ({ kind: 'progress' } & Progress)[] = [];
  const result = await client.callTool({ name: 'shell_execute', arguments: FIVE_LINES }, undefined, {
    onprogress: (p) => events.push({ kind: 'progress', ...p }),
  });
  return { events, result };
}

function expectProgress(events: ({ kind: 'progress' } & Progress)[], result: Awaited<ReturnType<Client['callTool']>>) {
  expect(events.length).toBeGreaterThanOrEqual(3);
  const values = events.map((e) => e.progress);
  for (let i = 1; i < values.length; i++) expect(values[i]!).toBeGreaterThan(values[i - 1]!);
  // Progress counts output bytes: never beyond what the result holds.
  expect(values.at(-1)!).toBeLessThanOrEqual(10);
  expect(events.every((e) => typeof e.message === 'string' && /^[\d\n]+$/.test(e.message))).toBe(true);
  expect(result.structuredContent).toMatchObject({ stdout: '1\n2\n3\n4\n5\n', exitCode: 0 });
}

describe('shell_execute progress', () => {
  test('over Streamable HTTP (SSE), to the SDK client', async () => {
    const client = new Client({ name: 'progress-test', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(s.mcpUrl)));
    try {
      const { events, result } = await callWithProgress(client);
      expectProgress(events, result);
    } finally {
      await client.close();
    }
  });

  test('over stdio, to the SDK client', async () => {
    const ws = join(dir, 'ws');
    await Bun.write(join(ws, '.keep'), '');
    const client = new Client({ name: 'progress-test', version: '1' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [MAIN, 'stdio', '--workspace', ws],
        cwd: ws,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'), HIDE_RATE_LIMIT_ENABLED: 'false', HIDE_LOG_LEVEL: 'warn' },
        stderr: 'ignore',
      }),
    );
    try {
      const { events, result } = await callWithProgress(client);
      expectProgress(events, result);
    } finally {
      await client.close();
    }
  });

  test('the SSE response is streamed: event by event, no Content-Length, X-Accel-Buffering: no; 2026-07-28 too', async () => {
    const m = asModern('tools/call', { name: 'shell_execute', arguments: FIVE_LINES, _meta: { progressToken: 'tok-1' } });
    const res = await fetch(s.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...m.headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'p1', method: 'tools/call', params: m.params }),
    });
    expect([res.status, res.headers.get('content-type'), res.headers.get('x-accel-buffering'), res.headers.get('content-length')]).toEqual([
      200,
      'text/event-stream',
      'no',
      null,
    ]);
    // Each read brings what the server has written so far: the first progress
    // event arrives on its own, long before the command ends.
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const first = decoder.decode((await reader.read()).value);
    expect(first).toStartWith('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"tok-1","progress":');
    expect(first).not.toContain('"result"');
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += decoder.decode(chunk.value);
    const events = (first + rest)
      .split('\n\n')
      .filter(Boolean)
      .map((e) => JSON.parse(e.replace(/^event: message\ndata: /, '')));
    const final = events.at(-1);
    expect(final).toMatchObject({ id: 'p1', result: { resultType: 'complete', structuredContent: { stdout: '1\n2\n3\n4\n5\n' } } });
    expect(events.slice(0, -1).every((e) => e.method === 'notifications/progress' && e.params.progressToken === 'tok-1')).toBe(true);
  });

  test('without a progressToken the answer is one JSON body, as before', async () => {
    const res = await fetch(s.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'shell_execute', arguments: FIVE_LINES } }),
    });
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(((await res.json()) as any).result.structuredContent.stdout).toBe('1\n2\n3\n4\n5\n');
  });

  test('a call that ends before any progress is answered as without a token: JSON where Accept takes it, an event stream where it takes only that', async () => {
    const send = (accept: string) =>
      fetch(s.mcpUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept },
        body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'check_file_exists', arguments: { path: 'x' }, _meta: { progressToken: 't' } } }),
      });
    const both = await send('application/json, text/event-stream');
    expect([both.headers.get('content-type'), ((await both.json()) as any).id]).toEqual(['application/json', 3]);
    const sseOnly = await send('text/event-stream');
    expect([sseOnly.headers.get('content-type'), (await sseOnly.text()).startsWith('event: message\ndata: {"jsonrpc":"2.0","id":3,')]).toEqual(['text/event-stream', true]);
  });
});
