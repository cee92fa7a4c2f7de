/**
 * Cancelling a running tools/call over HTTP, through the real server with
 * API keys on. Under 2025-11-25 a `notifications/cancelled` POST from the same
 * client kills the named call's process group at once; the same notification
 * from another client reaches nothing (that call runs on to its normal end).
 * Under 2026-07-28 closing the response stream is the cancellation.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { asModern, startServer, type TestServer, tempDir, waitFor } from '../helpers/server.ts';

const KEY_A = 'a'.repeat(43);
const KEY_B = 'b'.repeat(43);

let s: TestServer;
beforeAll(async () => {
  const dir = tempDir('hide-cancel-');
  const keys = join(dir, 'keys.json');
  writeFileSync(keys, JSON.stringify({ clients: [{ client_id: 'a', api_key: KEY_A, enabled: true }, { client_id: 'b', api_key: KEY_B, enabled: true }] }));
  s = await startServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keys });
});
afterAll(() => s.stop());

function pgrepCount(pattern: string): number {
  const r = Bun.spawnSync(['pgrep', '-f', pattern]);
  return r.stdout.toString().split('\n').filter((l) => l.trim() !== '').length;
}

function post(key: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return fetch(s.mcpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key, ...headers },
    body: JSON.stringify(body),
    signal,
  });
}

/** A call that sleeps (`marker` names the sleep for pgrep) until `release` exists, then prints `released`. */
const waitingCall = (id: number, marker: string, release: string) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: {
    name: 'shell_execute',
    arguments: { command: 'sh', arguments: ['-c', `while [ ! -e ${release} ]; do ${marker}; done; echo released`], timeoutSeconds: 60 },
  },
});

const cancel = (requestId: number) => ({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason: 'test' } });

describe('notifications/cancelled over HTTP (2025-11-25)', () => {
  test("another client's cancellation reaches nothing; the owner's kills the call's process group", async () => {
    const marker = `sleep 0.05${process.pid}1`;
    const release = join(s.workspace, 'release-cancel');
    const first = post(KEY_A, waitingCall(5, marker, release)).then((r) => r.json() as Promise<any>);
    await waitFor(() => pgrepCount(marker) >= 1 || null, 5000, 'the call started');

    expect((await post(KEY_B, cancel(5))).status).toBe(202);
    writeFileSync(release, '');
    const done = await first;
    expect(done.result.structuredContent).toMatchObject({ stdout: 'released\n', exitCode: 0 });

    const marker2 = `sleep 0.05${process.pid}2`;
    const second = post(KEY_A, waitingCall(6, marker2, join(s.workspace, 'never'))).then((r) => r.json() as Promise<any>);
    await waitFor(() => pgrepCount(marker2) >= 1 || null, 5000, 'the second call started');
    expect((await post(KEY_A, cancel(6))).status).toBe(202);
    const cancelled = await second;
    expect(cancelled.id).toBe(6);
    expect(cancelled.result.isError).toBe(true);
    expect(cancelled.result.structuredContent.stdout).toBe('');
    await waitFor(() => pgrepCount(marker2) === 0 || null, 5000, 'the process group killed');
  });
});

describe('a closed response stream (2026-07-28)', () => {
  test('closing the SSE stream of a call kills its process group', async () => {
    const marker = `sleep 100.${process.pid}3`;
    const m = asModern('tools/call', { name: 'shell_execute', arguments: { command: 'sh', arguments: ['-c', `${marker} & ${marker}`], timeoutSeconds: 60 } });
    const controller = new AbortController();
    const pending = post(KEY_A, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: m.params }, { ...m.headers, accept: 'text/event-stream' }, controller.signal).catch(() => null);
    await waitFor(() => pgrepCount(marker) >= 2 || null, 5000, 'sleeps started');
    controller.abort();
    await pending;
    await waitFor(() => pgrepCount(marker) === 0 || null, 5000, 'sleeps killed after the stream closed');
  });
});
