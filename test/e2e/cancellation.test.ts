/**
 * Cancelling a running tools/call over HTTP, through the real server with
 * API keys on. Under 2025-11-25 a `notifications/cancelled` POST from the same
 * client kills the named call's process group at once; the same notification
 * from another client reaches nothing (that call runs on to its normal end).
 * Under 2026-07-28 closing the response stream is the cancellation. Over
 * stdio a cancelled call gets no reply at all (a client may already have
 * reused its id), in either era.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { asModern, MODERN, MODERN_META, startServer, type TestServer, tempDir, toolCallsInFlight, waitFor } from '../helpers/server.ts';
import { procStat } from '../helpers/procfs.ts';
import { startStdio } from '../helpers/stdio.ts';

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
    await waitFor(() => pgrepCount(marker) >= 1 || null, 20_000, 'the call started');

    expect((await post(KEY_B, cancel(5))).status).toBe(202);
    writeFileSync(release, '');
    const done = await first;
    expect(done.result.structuredContent).toMatchObject({ stdout: 'released\n', exitCode: 0 });

    const marker2 = `sleep 0.05${process.pid}2`;
    const second = post(KEY_A, waitingCall(6, marker2, join(s.workspace, 'never'))).then((r) => r.json() as Promise<any>);
    await waitFor(() => pgrepCount(marker2) >= 1 || null, 20_000, 'the second call started');
    expect((await post(KEY_A, cancel(6))).status).toBe(202);
    const cancelled = await second;
    expect(cancelled.id).toBe(6);
    expect(cancelled.result.isError).toBe(true);
    expect(cancelled.result.structuredContent.stdout).toBe('');
    await waitFor(() => pgrepCount(marker2) === 0 || null, 20_000, 'the process group killed');
  });
});

describe('a closed response stream (2026-07-28)', () => {
  test('closing the SSE stream of a call kills its process group', async () => {
    const marker = `sleep 100.${process.pid}3`;
    const m = asModern('tools/call', { name: 'shell_execute', arguments: { command: 'sh', arguments: ['-c', `${marker} & ${marker}`], timeoutSeconds: 60 } });
    const controller = new AbortController();
    const pending = post(KEY_A, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: m.params }, { ...m.headers, accept: 'text/event-stream' }, controller.signal).catch(() => null);
    await waitFor(() => pgrepCount(marker) >= 2 || null, 20_000, 'sleeps started');
    controller.abort();
    await pending;
    await waitFor(() => pgrepCount(marker) === 0 || null, 20_000, 'sleeps killed after the stream closed');
    // Written when the call ends, after the client has gone: the line still names the client's address.
    const line = await waitFor(
      () => readFileSync(s.auditFile, { encoding: 'utf8', flag: 'a+' }).split('\n').find((l) => l.includes(marker)) ?? null,
      20_000,
      'the audit line',
    );
    expect(JSON.parse(line!)).toMatchObject({ event_type: 'tool_call', client_id: 'a', client_ip: '127.0.0.1' });
  });
});

describe('notifications/cancelled over stdio', () => {
  test.each([
    ['a handshake-era call', undefined, undefined],
    ['a 2026-07-28 call, cancelled with the full _meta', MODERN_META, MODERN_META],
    // A notification is not a request: the revision requires clientCapabilities of requests only.
    ['a 2026-07-28 call, cancelled naming only the version', MODERN_META, { 'io.modelcontextprotocol/protocolVersion': MODERN }],
  ])('%s: its process group is killed, it gets no reply, and the session serves on', async (_name, callMeta, cancelMeta) => {
    const dir = tempDir('hide-cancel-stdio-');
    const ws = join(dir, 'ws');
    await Bun.write(join(ws, '.keep'), '');
    const peer = await startStdio(ws);
    try {
      const marker = `sleep 0.05${process.pid}${callMeta ? 5 : 4}${cancelMeta === MODERN_META ? 1 : 0}`;
      const call = waitingCall(8, marker, join(ws, 'never'));
      peer.send(JSON.stringify({ ...call, params: { ...call.params, ...(callMeta ? { _meta: callMeta } : {}) } }));
      await waitFor(() => pgrepCount(marker) >= 1 || null, 20_000, 'the call started');
      const note = cancel(8);
      peer.send(JSON.stringify({ ...note, params: { ...note.params, ...(cancelMeta ? { _meta: cancelMeta } : {}) } }));
      await waitFor(() => pgrepCount(marker) === 0 || null, 20_000, 'the process group killed');
      // The call's audit line is written just before its reply would be: once it is there, any reply is on its way out.
      await waitFor(() => readFileSync(join(dir, 'audit.jsonl'), { encoding: 'utf8', flag: 'a+' }).includes(marker) || null, 20_000, 'the audit line');
      peer.send(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list', params: callMeta ? { _meta: callMeta } : {} }));
      await peer.line('{"jsonrpc":"2.0","id":9,');
      expect(peer.lines.filter((l) => !l.startsWith('{"jsonrpc":"2.0","id":9,'))).toEqual([]);
    } finally {
      await peer.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a process_start cancelled while it starts', () => {
  // Sent in one write, the cancel arrives while the start is still on its way: the handle would never reach the
  // client, so a process left running could only be found by process_list and would run on to its idle limit.
  test('leaves nothing running and nothing listed, and gets no reply', async () => {
    const dir = tempDir('hide-cancel-start-');
    const ws = join(dir, 'ws');
    await Bun.write(join(ws, '.keep'), '');
    const peer = await startStdio(ws);
    try {
      const marker = `36${process.pid}.5`;
      const start = { jsonrpc: '2.0', id: 11, method: 'tools/call', params: { name: 'process_start', arguments: { command: 'sleep', arguments: [marker] } } };
      peer.send(`${JSON.stringify(start)}\n${JSON.stringify(cancel(11))}`);
      await waitFor(() => readFileSync(join(dir, 'audit.jsonl'), { encoding: 'utf8', flag: 'a+' }).includes('"process_start"') || null, 20_000, 'the start audited');
      await waitFor(() => pgrepCount(`sleep ${marker}`) === 0 || null, 20_000, 'no process left running');
      peer.send(JSON.stringify({ jsonrpc: '2.0', id: 12, method: 'tools/call', params: { name: 'process_list', arguments: {} } }));
      const listed = JSON.parse(await peer.line('{"jsonrpc":"2.0","id":12,'));
      expect(listed.result.structuredContent.processes).toEqual([]);
      expect(peer.lines.filter((l) => l.includes('"id":11'))).toEqual([]);
    } finally {
      await peer.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a process_start cancelled while its launcher starts it (HTTP, 2025-11-25)', () => {
  // The launcher held stopped keeps the start in flight for sure: the cancel arrives after the call was admitted
  // and before the handle exists, the one window where a started process could be left running unseen.
  test('the process the launcher starts after the cancel is killed and never listed', async () => {
    const first = `100.${process.pid}81`;
    const r = await post(KEY_A, { jsonrpc: '2.0', id: 20, method: 'tools/call', params: { name: 'process_start', arguments: { command: 'sleep', arguments: [first] } } });
    const started = ((await r.json()) as any).result.structuredContent;
    const pid = Number(Bun.spawnSync(['pgrep', '-f', `sleep ${first}`]).stdout.toString().trim());
    const launcher = procStat(`/proc/${pid}`).ppid;
    await post(KEY_A, { jsonrpc: '2.0', id: 21, method: 'tools/call', params: { name: 'process_kill', arguments: { processId: started.processId, signal: 'SIGKILL' } } });
    if (launcher === process.pid) return; // no launcher (sandbox off): the start does not wait on anything to cancel into
    const marker = `100.${process.pid}82`;
    process.kill(launcher, 'SIGSTOP');
    try {
      const pending = post(KEY_A, { jsonrpc: '2.0', id: 22, method: 'tools/call', params: { name: 'process_start', arguments: { command: 'sleep', arguments: [marker] } } });
      await waitFor(async () => (await toolCallsInFlight(s.url)) === 1, 20_000, 'the start in flight');
      expect((await post(KEY_A, cancel(22))).status).toBe(202);
      process.kill(launcher, 'SIGCONT');
      await pending;
    } finally {
      process.kill(launcher, 'SIGCONT');
    }
    await waitFor(() => pgrepCount(`sleep ${marker}`) === 0 || null, 20_000, 'no process left running');
    const listed = (await (await post(KEY_A, { jsonrpc: '2.0', id: 23, method: 'tools/call', params: { name: 'process_list', arguments: {} } })).json()) as any;
    expect(listed.result.structuredContent.processes.filter((p: any) => p.status === 'running')).toEqual([]);
  });
});
