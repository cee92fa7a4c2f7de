/**
 * The process tools attacked, through the real server with its sandbox on:
 * a hostile client (forged and stale handles, cursor and size extremes,
 * long-polls it walks away from, input a process never reads, starts raced
 * past the cap, a progress stream it never reads) and a hostile process
 * (children that leave its session, other terminals, its launcher's
 * descriptors, forged protocol lines). Each test asserts the safe behaviour.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { INPUT_WAIT_MS, MAX_PENDING_INPUT } from '../../src/exec/pipe-input.ts';
import { MAX_TERMINAL_INPUT_BYTES } from '../../src/exec/process-io.ts';
import { PROGRESS_MIN_GAP_MS } from '../../src/exec/progress.ts';
import { MAX_QUEUED_EVENT_BYTES } from '../../src/http/routes/mcp.ts';
import { ptysPerLauncher, sharedPtyPool } from '../../src/sandbox/private-proc.ts';
import { SETTINGS } from '../../src/config/settings.ts';
import { callTool, rpc, startServer, tempDir, type TestServer, waitFor } from '../helpers/server.ts';

const KEY_A = 'a'.repeat(43);
const KEY_B = 'b'.repeat(43);
const PY = '/usr/bin/python3';

let keysDir: string;
let server: TestServer;

beforeAll(async () => {
  keysDir = tempDir();
  const keysFile = join(keysDir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify({ clients: [{ client_id: 'alice', api_key: KEY_A, enabled: true }, { client_id: 'bob', api_key: KEY_B, enabled: true }] }));
  server = await startServer({
    HIDE_AUTH_ENABLED: 'true',
    HIDE_API_KEYS_FILE: keysFile,
    HIDE_PROCESS_MAX_PER_CLIENT: '6',
    HIDE_PROCESS_KEEP_EXITED_SECONDS: '1',
    HIDE_PROCESS_BUFFER_BYTES: '4096',
    HIDE_PROCESS_ENV_ALLOWLIST: 'NODE_ENV,LD_PRELOAD,ld_preload',
  });
});
afterAll(async () => {
  await server?.stop();
  rmSync(keysDir, { recursive: true, force: true });
});

async function raw(key: string, name: string, args: Record<string, unknown>) {
  return rpc(server.mcpUrl, 'tools/call', { name, arguments: args }, { 'X-API-Key': key });
}
const as = (key: string, name: string, args: Record<string, unknown>) => callTool(server.mcpUrl, name, args, { 'X-API-Key': key });
const alice = (name: string, args: Record<string, unknown>) => as(KEY_A, name, args);
const bob = (name: string, args: Record<string, unknown>) => as(KEY_B, name, args);

function pgrep(pattern: string): number[] {
  const r = Bun.spawnSync(['pgrep', '-f', pattern]);
  return new TextDecoder().decode(r.stdout).split('\n').filter(Boolean).map(Number);
}

/** Reads until `done` holds for the output so far, or the process ends. */
async function readUntil(key: string, processId: string, done: (out: string) => boolean): Promise<{ output: string; status: string }> {
  let output = '';
  let cursor = 0;
  for (;;) {
    const r = await as(key, 'process_read', { processId, cursor, waitMs: 5000 });
    if (r.isError) throw new Error(r.error);
    output += r.output;
    cursor = r.cursor;
    if (done(output) || r.status !== 'running') return { output, status: r.status };
  }
}

const notFound = (r: Record<string, any>, id: string) => r.error.replaceAll(id.slice(0, 200), 'ID');

describe('a hostile client', () => {
  test('forged, malformed and stale handles all get the wrong-handle answer', async () => {
    const s = await alice('process_start', { command: 'sleep', arguments: ['1000.5151'] });
    const bogus = s.processId.replace(/^p-[0-9a-f]{32}/, `p-${'f'.repeat(32)}`);
    const expected = notFound(await bob('process_read', { processId: bogus }), bogus);
    // Every variant of Alice's handle gets the answer the same variant of a made-up one gets: existence does not show.
    for (const variant of [(x: string) => x, (x: string) => x.toUpperCase(), (x: string) => `${x} `, (x: string) => `${x}\u0000`, (x: string) => x.replace('@', '@@'), (x: string) => `${x}${'@'.repeat(200)}`]) {
      const theirs = await bob('process_read', { processId: variant(s.processId) });
      const made = await bob('process_read', { processId: variant(bogus) });
      expect(theirs.isError).toBe(true);
      expect(notFound(theirs, variant(s.processId))).toBe(notFound(made, variant(bogus)));
    }
    for (const id of ['p-@', '@'.repeat(300), 'zz9']) expect(notFound(await bob('process_read', { processId: id }), id)).toBe(expected);
    // Over the schema's length: an input error, not a lookup.
    expect((await bob('process_read', { processId: 'p'.repeat(301) })).isError).toBe(true);
    await alice('process_kill', { processId: s.processId, signal: 'SIGKILL' });
    // After the keep time the owner's own handle is as unknown as a forged one.
    await waitFor(async () => (await alice('process_read', { processId: s.processId })).isError, 5000, 'the ended process to be forgotten');
    expect(notFound(await alice('process_read', { processId: s.processId }), s.processId)).toBe(expected);
    expect(notFound(await alice('process_kill', { processId: s.processId }), s.processId)).toBe(expected);
  });

  test('cursor, waitMs, maxBytes and terminal size extremes are refused as input errors or clamped', async () => {
    const s = await alice('process_start', { command: PY, arguments: ['-c', "import sys; sys.stdout.write('€' * 5000); sys.stdout.flush(); sys.stdin.read()"] });
    const id = s.processId;
    const first = await readUntil(KEY_A, id, (o) => o.length > 0);
    for (const bad of [{ cursor: -1 }, { cursor: 1.5 }, { cursor: 2 ** 53 }, { cursor: '0' }, { waitMs: -1 }, { waitMs: 30_001 }, { maxBytes: 0 }, { maxBytes: 1024 * 1024 + 1 }]) {
      const r = await alice('process_read', { processId: id, ...bad });
      expect(r.isError).toBe(true);
      expect(r.error).toMatch(/Invalid|Expected/i);
    }
    // 15000 bytes through a 4096-byte ring: a read from 0 reports the loss and never returns more than is held.
    const listed = await waitFor(async () => (await alice('process_list', {})).processes.find((p: any) => p.processId === id && p.bytesOut === 15000), 5000, 'all output');
    expect(listed).toBeTruthy();
    const wrapped = await alice('process_read', { processId: id, cursor: 0, maxBytes: 1024 * 1024 });
    expect(wrapped.dropped).toBe(15000 - 4096);
    // (A cut through a character at the ring's start decodes to U+FFFD, so count characters.)
    expect(wrapped.output.length).toBeLessThanOrEqual(4096);
    expect(wrapped.cursor).toBe(15000);
    expect(first.output.length).toBeGreaterThan(0);
    // Far past the end: nothing, and a cursor back at the end, nothing dropped.
    const far = await alice('process_read', { processId: id, cursor: Number.MAX_SAFE_INTEGER });
    expect(far).toMatchObject({ output: '', cursor: 15000, dropped: 0, status: 'running' });
    // A one-byte read of multi-byte text still advances.
    const tiny = await alice('process_read', { processId: id, cursor: 14997, maxBytes: 1 });
    expect(tiny.cursor).toBe(14998);
    for (const terminal of [{ cols: 9, rows: 24 }, { cols: 80, rows: 1 }, { cols: 1001, rows: 24 }, { cols: 80.5, rows: 24 }, { cols: -1, rows: -1 }, true]) {
      expect((await alice('process_start', { command: 'true', terminal })).isError).toBe(true);
    }
    await alice('process_kill', { processId: id, signal: 'SIGKILL' });
  });

  test('long-polls the client walks away from give their call slots back', async () => {
    // A server of its own with the per-client concurrency limit on: three waiting reads fill it.
    await using limited = await startServer({ HIDE_RATE_LIMIT_ENABLED: 'true', HIDE_RATE_LIMIT_CONCURRENT: '3', HIDE_RATE_LIMIT_RPM: '100000' });
    const call = (name: string, args: Record<string, unknown>) => rpc(limited.mcpUrl, 'tools/call', { name, arguments: args });
    const s = (await call('process_start', { command: 'sleep', arguments: ['1000.5252'] })).body.result.structuredContent;
    const controllers = Array.from({ length: 3 }, () => new AbortController());
    const polls = controllers.map((c, i) =>
      fetch(limited.mcpUrl, {
        method: 'POST',
        signal: c.signal,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1000 + i, method: 'tools/call', params: { name: 'process_read', arguments: { processId: s.processId, waitMs: 30_000 } } }),
      }).catch(() => null),
    );
    await waitFor(async () => (await call('process_list', {})).status === 429, 5000, 'the waiting reads to hold every slot');
    for (const c of controllers) c.abort();
    await Promise.all(polls);
    await waitFor(async () => (await call('process_list', {})).status === 200, 5000, 'the abandoned reads to give their slots back');
    expect((await call('process_kill', { processId: s.processId, signal: 'SIGKILL' })).body.result.structuredContent.status).toBe('killed');
  });

  test('input a process does not read is held up to a bound, then refused whole with the reason; what was accepted all arrives', async () => {
    const go = join(server.workspace, 'go-5353');
    // Reads nothing until told to, then counts what its stdin delivers.
    const script = `import os, sys, time\nwhile not os.path.exists(${JSON.stringify(go)}): time.sleep(0.02)\nprint(len(sys.stdin.buffer.read()), flush=True)`;
    const s = await alice('process_start', { command: PY, arguments: ['-c', script] });
    const chunk = 'x'.repeat(64 * 1024);
    let accepted = 0;
    let refused: Record<string, any> | null = null;
    for (let i = 0; i < 40 && refused === null; i++) {
      const w = await alice('process_write', { processId: s.processId, input: chunk });
      if (w.isError) refused = w;
      else accepted += chunk.length;
    }
    expect(refused?.error).toBe(
      `process ${s.processId} holds ${MAX_PENDING_INPUT} bytes of earlier input it has not read, and this input found no room within ${INPUT_WAIT_MS / 1000} s; it was not delivered — the process may be waiting for you to read its output (process_read); write it again once it reads`,
    );
    // What the pipe holds and the bounded queue: far less than the 2.5 MiB an attacker would send.
    expect(accepted).toBeGreaterThanOrEqual(MAX_PENDING_INPUT);
    expect(accepted).toBeLessThanOrEqual(MAX_PENDING_INPUT + 4 * 64 * 1024);
    writeFileSync(go, '');
    // Once it reads, the refused write's turn comes again: nothing was half delivered.
    const again = await alice('process_write', { processId: s.processId, input: chunk, closeStdin: true });
    expect(again.isError).toBe(false);
    const { output } = await readUntil(KEY_A, s.processId, (o) => o.includes('\n'));
    expect(Number(output.trim())).toBe(accepted + chunk.length);
  });

  test('concurrent writes past the bound wait for room: each answered write arrives whole, none interleaved, none lost', async () => {
    const go = join(server.workspace, 'go-6161');
    // Waits for the go file, then reports each run of one letter as letter:length.
    const script = `import os, sys, time, itertools\nwhile not os.path.exists(${JSON.stringify(go)}): time.sleep(0.02)\nd = sys.stdin.buffer.read().decode()\nprint(' '.join(f'{k}:{len(list(g))}' for k, g in itertools.groupby(d)), flush=True)`;
    const s = await alice('process_start', { command: PY, arguments: ['-c', script] });
    const letters = 'abcdefghijklmnopqrstuvwx';
    const writes = [...letters].map((l) => alice('process_write', { processId: s.processId, input: l.repeat(64 * 1024) }));
    await Bun.sleep(300);
    writeFileSync(go, '');
    const answers = await Promise.all(writes);
    expect(answers.map((a) => a.isError)).toEqual([...letters].map(() => false));
    expect((await alice('process_write', { processId: s.processId, input: '', closeStdin: true })).isError).toBe(false);
    const { output } = await readUntil(KEY_A, s.processId, (o) => o.includes('\n'));
    const runs = output.trim().split(' ');
    expect(runs.map((r) => r.split(':')[1])).toEqual([...letters].map(() => String(64 * 1024)));
    expect(runs.map((r) => r[0]).sort().join('')).toBe(letters);
  });

  test('a write the client cancels while it waits for room is never delivered, and its call slot comes back', async () => {
    // A server of its own with one call at a time per client: a 429 shows the cancelled write is in its call.
    await using limited = await startServer({ HIDE_RATE_LIMIT_ENABLED: 'true', HIDE_RATE_LIMIT_CONCURRENT: '1', HIDE_RATE_LIMIT_RPM: '100000' });
    const call = async (name: string, args: Record<string, unknown>) => (await rpc(limited.mcpUrl, 'tools/call', { name, arguments: args })).body.result.structuredContent;
    const go = join(limited.workspace, 'go-7171');
    const script = `import os, sys, time\nwhile not os.path.exists(${JSON.stringify(go)}): time.sleep(0.02)\nd = sys.stdin.buffer.read()\nprint(len(d), d.count(b'C'), flush=True)`;
    const s = await call('process_start', { command: PY, arguments: ['-c', script] });
    const chunk = 'x'.repeat(64 * 1024);
    let accepted = 0;
    while ((await call('process_write', { processId: s.processId, input: chunk })).error === null) accepted += chunk.length;
    // The cancellation races the write's own 3 s wait for room: on a busy machine the wait can end first (the write
    // is then refused as full, which delivers nothing either), so the attempt is repeated until a cancellation wins.
    const lastWriteError = () =>
      readFileSync(limited.auditFile, 'utf8')
        .trim()
        .split('\n')
        .map((x) => JSON.parse(x))
        .filter((l) => l.event_type === 'tool_call' && l.tool_name === 'process_write')
        .at(-1)?.error;
    const cancelledError = `the write to process ${s.processId} was cancelled while it waited for room; this input was not delivered`;
    for (let attempt = 0; attempt < 3 && lastWriteError() !== cancelledError; attempt++) {
      const withdraw = new AbortController();
      const cancelled = fetch(limited.mcpUrl, {
        method: 'POST',
        signal: withdraw.signal,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 7171 + attempt, method: 'tools/call', params: { name: 'process_write', arguments: { processId: s.processId, input: 'C'.repeat(1000) } } }),
      }).catch(() => null);
      await waitFor(async () => (await rpc(limited.mcpUrl, 'tools/call', { name: 'process_list', arguments: {} })).status === 429, 5000, 'the waiting write to hold the slot');
      withdraw.abort();
      await cancelled;
      await waitFor(async () => (await rpc(limited.mcpUrl, 'tools/call', { name: 'process_list', arguments: {} })).status === 200, 5000, 'the cancelled write to give its slot back');
    }
    // It was withdrawn, not left waiting until refused for want of room.
    expect(lastWriteError()).toBe(cancelledError);
    // The process reads now: a write only abandoned by its caller would still be delivered here.
    writeFileSync(go, '');
    expect((await call('process_write', { processId: s.processId, input: 'tail', closeStdin: true })).error).toBe(null);
    const { output } = await (async () => {
      let out = '';
      let cursor = 0;
      while (!out.includes('\n')) {
        const r = await call('process_read', { processId: s.processId, cursor, waitMs: 5000 });
        out += r.output;
        cursor = r.cursor;
        if (r.status !== 'running') break;
      }
      return { output: out };
    })();
    expect(output.trim()).toBe(`${accepted + 'tail'.length} 0`);
  });

  test('writes to a process whose input is closed are refused, not dropped', async () => {
    const s = await alice('process_start', { command: PY, arguments: ['-c', 'import sys, time\nsys.stdin.close()\nimport os\nos.close(0)\ntime.sleep(30)'] });
    const closed = await alice('process_write', { processId: s.processId, input: 'x', closeStdin: true });
    expect(closed.isError).toBe(false);
    const after = await alice('process_write', { processId: s.processId, input: 'late' });
    expect([after.isError, after.error]).toEqual([true, `process ${s.processId} no longer takes input (its input is closed or it is ending); this input was not delivered`]);
    expect((await alice('process_kill', { processId: s.processId, signal: 'SIGKILL' })).isError).toBe(false);
  });

  test('a terminal process that never reads takes at most its lifetime input, then writes are refused with the reason', async () => {
    const s = await alice('process_start', { command: 'sleep', arguments: ['1000.5252'], terminal: { cols: 80, rows: 24 } });
    const chunk = 'z'.repeat(64 * 1024);
    const fits = MAX_TERMINAL_INPUT_BYTES / chunk.length;
    for (let i = 0; i < fits; i++) expect((await alice('process_write', { processId: s.processId, input: chunk })).isError).toBe(false);
    const refused = await alice('process_write', { processId: s.processId, input: 'one more' });
    expect([refused.isError, refused.error]).toEqual([
      true,
      `process ${s.processId} has taken ${MAX_TERMINAL_INPUT_BYTES} bytes of terminal input; a terminal process takes at most ${MAX_TERMINAL_INPUT_BYTES} over its life — start it without a terminal to stream more`,
    ]);
    expect((await alice('process_kill', { processId: s.processId, signal: 'SIGKILL' })).isError).toBe(false);
  });

  test('a process that reads gets all its input past the bound, through a pipe and through a terminal', async () => {
    const count = "import sys\nn = 0\nfor line in sys.stdin: n += len(line)\nprint('count', n, flush=True)";
    const line = `${'y'.repeat(99)}\n`;
    const chunk = line.repeat(640);
    const writes = 24;
    for (const terminal of [false, { cols: 200, rows: 50 }] as const) {
      const s = await alice('process_start', { command: PY, arguments: ['-c', count], terminal });
      // Each write waits for its answer, as an agent's would; the reader keeps up, so nothing is discarded.
      for (let i = 0; i < writes; i++) expect((await alice('process_write', { processId: s.processId, input: chunk, closeStdin: i === writes - 1 })).isError).toBe(false);
      const { output } = await readUntil(KEY_A, s.processId, (o) => /count \d+/.test(o));
      expect([terminal, Number(/count (\d+)/.exec(output)![1])]).toEqual([terminal, writes * chunk.length]);
      expect(writes * chunk.length).toBeGreaterThan(MAX_PENDING_INPUT);
    }
  });

  test('one write carries at most 64 KiB, counted in bytes; control and binary-looking text passes verbatim', async () => {
    const s = await alice('process_start', { command: PY, arguments: ['-c', 'import sys; d = sys.stdin.buffer.read(); print(d.hex()[:200], len(d), flush=True)'] });
    expect((await alice('process_write', { processId: s.processId, input: 'x'.repeat(64 * 1024 + 1) })).isError).toBe(true);
    const euro = await alice('process_write', { processId: s.processId, input: '€'.repeat(30_000) });
    expect(euro.isError).toBe(true);
    expect(euro.error).toContain('bytes');
    const w = await alice('process_write', { processId: s.processId, input: '\u0000\u0003\u0004\u001b[2J\uFFFF\n', closeStdin: true });
    expect(w.bytes).toBe(11);
    const { output } = await readUntil(KEY_A, s.processId, (o) => o.includes('\n'));
    expect(output.trim()).toBe('0003041b5b324aefbfbf0a 11');
    await waitFor(async () => (await alice('process_read', { processId: s.processId })).status !== 'running');
    const after = await alice('process_write', { processId: s.processId, input: 'late\n' });
    expect(after.isError).toBe(true);
  });

  test('starts raced past the per-client cap: exactly the cap is admitted, the rest get 429', async () => {
    const before = (await bob('process_list', {})).processes.filter((p: any) => p.status === 'running').length;
    expect(before).toBe(0);
    const results = await Promise.all(Array.from({ length: 9 }, () => raw(KEY_B, 'process_start', { command: 'sleep', arguments: ['1000.5454'] })));
    const ok = results.filter((r) => r.status === 200 && r.body.result?.isError === false);
    const refused = results.filter((r) => r.status === 429);
    expect(ok.length).toBe(6);
    expect(refused.length).toBe(3);
    for (const r of ok) await bob('process_kill', { processId: r.body.result.structuredContent.processId, signal: 'SIGKILL' });
    expect(pgrep('^sleep 1000.5454')).toEqual([]);
  });

  test('kill, read and exit raced: every call answers, the end is recorded once', async () => {
    const s = await alice('process_start', { command: 'true' });
    const [k1, r1, k2, l] = await Promise.all([
      alice('process_kill', { processId: s.processId }),
      alice('process_read', { processId: s.processId, waitMs: 5000 }),
      alice('process_kill', { processId: s.processId, signal: 'SIGKILL' }),
      alice('process_list', {}),
    ]);
    for (const r of [k1, r1, k2, l]) expect(r.isError).toBe(false);
    const ended = await waitFor(async () => {
      const r = await alice('process_read', { processId: s.processId });
      return r.status === 'running' ? null : r;
    });
    expect(['exited', 'killed']).toContain(ended?.status);
    const ends = await waitFor(
      () => {
        const lines = readFileSync(server.auditFile, 'utf8').trim().split('\n').map((x) => JSON.parse(x));
        const found = lines.filter((e) => e.event_type === 'process_exit' && e.arguments?.processId === s.processId);
        return found.length > 0 ? found : null;
      },
      5000,
      'the exit event',
    );
    expect(ends?.length).toBe(1);
  });

  test('env names that steer the loader or hide as other names are refused', async () => {
    for (const [name, why] of [
      ['LD_PRELOAD', 'server owns it'],
      ['PATH', 'server owns it'],
      ['path', 'allow list'],
      ['A=B', 'not a valid'],
      ['A\u0000B', 'not a valid'],
      ['NODE_ENV\u0000', 'not a valid'],
      ['', 'not a valid'],
    ] as const) {
      const r = await alice('process_start', { command: 'true', env: { [name]: '/tmp/x.so' } });
      expect(r.isError).toBe(true);
      expect(r.error).toContain(why);
    }
    expect((await alice('process_start', { command: 'true', env: { NODE_ENV: 'a\u0000b' } })).error).toContain('NUL');
    // A lower-case name is only a variable; the loader reads upper case alone.
    const s = await alice('process_start', { command: 'env', env: { ld_preload: '/nonexistent.so', NODE_ENV: 'x' } });
    const { output } = await readUntil(KEY_A, s.processId, () => false);
    expect(output).toContain('ld_preload=/nonexistent.so');
    expect(output).not.toMatch(/^LD_PRELOAD=/m);
  });

  test('a command that floods its output sends its caller a few progress reports a second, not one per 8 KiB', async () => {
    // Each report crosses the launcher's pipe, is parsed and checked by the server and goes out as an SSE event:
    // one per 8 KiB of `yes` was some 17 000 a second, a core's share of the server every client shares.
    const client = new Client({ name: 'flood', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.mcpUrl), { requestInit: { headers: { 'X-API-Key': KEY_A } } }));
    try {
      const reports: number[] = [];
      const r = await client.callTool({ name: 'shell_execute', arguments: { command: 'yes', timeoutSeconds: 2 } }, undefined, {
        onprogress: (p) => reports.push(p.progress),
      });
      expect((r.structuredContent as { timedOut: boolean }).timedOut).toBe(true);
      expect(reports.length).toBeGreaterThan(2);
      // At most one every PROGRESS_MIN_GAP_MS over the call's 2 s and its kill grace, plus the last.
      expect(reports.length).toBeLessThanOrEqual(3000 / PROGRESS_MIN_GAP_MS + 2);
    } finally {
      await client.close();
    }
  });

  test('a progress stream the client never reads stays bounded, and the reply still arrives', async () => {
    const port = new URL(server.url).port;
    const done = join(server.dir, 'flood-done');
    // A client that never reads until told to, then reads everything and counts it.
    const client = Bun.spawn(
      [
        PY,
        '-c',
        `import json, os, socket, time
s = socket.create_connection(('127.0.0.1', ${port}))
body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "shell_execute", "arguments": {"command": "yes", "timeoutSeconds": 2}, "_meta": {"progressToken": "flood"}}}).encode()
s.sendall(b"POST /mcp HTTP/1.1\\r\\nHost: 127.0.0.1:${port}\\r\\nX-API-Key: ${KEY_A}\\r\\nContent-Type: application/json\\r\\nAccept: text/event-stream\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body)
while not os.path.exists(${JSON.stringify(done)}): time.sleep(0.02)
data = b""
reply = -1
while True:
    chunk = s.recv(1 << 20)
    if not chunk: break
    data += chunk
    if reply < 0: reply = data.find(b'"id":7,', max(0, len(data) - len(chunk) - 16))
    if reply >= 0 and data.find(b'\\n\\n', reply) >= 0: break
print(len(data), data.count(b"notifications/progress"), b'"id":7' in data, flush=True)`,
      ],
      { stdout: 'pipe', stderr: 'inherit' },
    );
    // The command has ended once its call is in the audit log.
    await waitFor(
      () => readFileSync(server.auditFile, 'utf8').split('\n').some((l) => l.includes('"shell_execute"') && l.includes('"tool_call"') && l.includes('alice')),
      15_000,
      'the flood to end',
    );
    writeFileSync(done, '');
    const [bytes, events, replied] = (await new Response(client.stdout).text()).trim().split(' ');
    await client.exited;
    expect(replied).toBe('True');
    expect(Number(events)).toBeGreaterThan(0);
    // The queue bound plus what the kernel's socket buffers hold; unbounded, 2 s of `yes` queues hundreds of MB.
    expect(Number(bytes)).toBeLessThan(MAX_QUEUED_EVENT_BYTES + 16 * 1024 * 1024);
  });
});

describe('a hostile process', () => {
  test('children that leave the session (setsid, double fork) die with process_kill and with the lifetime limit', async () => {
    // A grandchild in a session of its own (setsid, double fork), and one through the setsid program.
    const escape = (tag: string) =>
      `import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.execvp('sleep', ['sleep', '${tag}'])\n    os._exit(0)\nos.system('setsid -f sleep ${tag}1')\ntime.sleep(1000)`;
    const s = await alice('process_start', { command: PY, arguments: ['-c', escape('1000.5555')] });
    expect(s.isError).toBe(false);
    await waitFor(() => pgrep('^sleep 1000.5555$').length === 1 && pgrep('^sleep 1000.55551$').length === 1, 15_000, 'the escaped children');
    expect((await alice('process_kill', { processId: s.processId })).status).toBe('killed');
    await waitFor(() => pgrep('^sleep 1000.5555').length === 0, 15_000, 'the escaped children to die with the kill');

    const t = await alice('process_start', { command: PY, arguments: ['-c', escape('1000.5656')], timeoutSeconds: 1 });
    await waitFor(() => pgrep('^sleep 1000.5656$').length === 1 && pgrep('^sleep 1000.56561$').length === 1, 15_000, 'the escaped children');
    const ended = await waitFor(async () => {
      const r = await alice('process_read', { processId: t.processId, waitMs: 2000 });
      return r.status === 'running' ? null : r;
    }, 10_000);
    expect(ended?.status).toBe('timed-out');
    await waitFor(() => pgrep('^sleep 1000.5656').length === 0, 15_000, 'the escaped child to die with the lifetime');
    // Generous bounds: each is an eventual event (python starting and forking, a sweep), not a timing claim; a
    // loaded machine after the process flood above took more than 5 s for the first.
  }, 60_000);

  test("a terminal process sees only its client's terminals: what it can open and inject into is its own; it may not set a line discipline", async () => {
    const a = await alice('process_start', { command: 'sleep', arguments: ['1000.5757'], terminal: { cols: 80, rows: 24 } });
    expect(a.isError).toBe(false);
    const probe = `import fcntl, os, termios
print('pts', sorted(os.listdir('/dev/pts')))
for path in ['/dev/tty'] + ['/dev/pts/' + n for n in os.listdir('/dev/pts') if n.isdigit()]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        try:
            fcntl.ioctl(fd, termios.TIOCSTI, b'#')
            print('inject', path, 'ok')
        except OSError as e:
            print('inject', path, 'refused', e.errno)
        os.close(fd)
    except OSError as e:
        print('open', path, 'refused', e.errno)
# A line discipline other than the default is a kernel module loaded on demand (n_gsm, n_hdlc); even N_TTY is refused.
try:
    fcntl.ioctl(0, termios.TIOCSETD, (0).to_bytes(4, 'little'))
    print('ldisc set')
except OSError as e:
    print('ldisc refused', e.errno)
print('end', flush=True)
import time; time.sleep(1000)`;
    const b = await bob('process_start', { command: PY, arguments: ['-c', probe], terminal: { cols: 80, rows: 24 } });
    const { output } = await readUntil(KEY_B, b.processId, (o) => o.includes('end'));
    // Bob's own devpts holds his one terminal; Alice's is not there.
    expect(output).toContain("pts ['0', 'ptmx']");
    // TIOCSTI works on its own terminal only, which feeds its own input: nothing it could not type itself.
    expect([...output.matchAll(/inject (\S+) ok/g)].map((m) => m[1]).every((p) => p === '/dev/tty' || p === '/dev/pts/0')).toBe(true);
    expect(output).toContain('ldisc refused 1');
    const pipes = await bob('process_start', { command: PY, arguments: ['-c', "import os\ntry:\n    os.open('/dev/tty', os.O_RDWR)\n    print('tty opened')\nexcept OSError as e:\n    print('tty refused', e.errno)"] });
    expect((await readUntil(KEY_B, pipes.processId, (o) => o.includes('\n'))).output).toContain('tty refused');
    await alice('process_kill', { processId: a.processId, signal: 'SIGKILL' });
    await bob('process_kill', { processId: b.processId, signal: 'SIGKILL' });
  });

  test("a process that hoards terminals stops at its client's share, and another client still gets one", async () => {
    // The server's default of launchers at once, and the spare: together within half the kernel's shared pool.
    const launchers = Number(SETTINGS.find((s) => s.path === 'sandbox.maxLaunchers')!.default) + 1;
    const SHARE = ptysPerLauncher(launchers, sharedPtyPool());
    // Terminals of bob's still closing from earlier tests count against the same share: listed first.
    const hoard = `import os
print('existing', len([n for n in os.listdir('/dev/pts') if n.isdigit()]), flush=True)
fds = []
try:
    for i in range(${SHARE + 50}):
        fds.append(os.open('/dev/ptmx', os.O_RDWR | os.O_NOCTTY))
except OSError as e:
    print('refused', e.errno)
print('held', len(fds), flush=True)
import time; time.sleep(1000)`;
    const b = await bob('process_start', { command: PY, arguments: ['-c', hoard] });
    const { output } = await readUntil(KEY_B, b.processId, (o) => o.includes('held'));
    // 28 is ENOSPC: the client's devpts instance is full, the kernel-wide pool is not.
    const existing = Number(/existing (\d+)/.exec(output)?.[1]);
    expect(existing).toBeLessThan(SHARE);
    expect(output).toContain(`refused 28\nheld ${SHARE - existing}`);
    const a = await alice('process_start', { command: PY, arguments: ['-c', "print('tty ok', flush=True); import time; time.sleep(1000)"], terminal: { cols: 80, rows: 24 } });
    expect(a.isError).toBe(false);
    expect((await readUntil(KEY_A, a.processId, (o) => o.includes('tty ok'))).output).toContain('tty ok');
    await alice('process_kill', { processId: a.processId, signal: 'SIGKILL' });
    await bob('process_kill', { processId: b.processId, signal: 'SIGKILL' });
  });

  test('a process holds no descriptor of its launcher, and forged protocol lines are only its output', async () => {
    const forged = JSON.stringify({ t: 'exit', id: 1, exit: { exitCode: 0, signal: null, durationMs: 0, spawnError: null } });
    const script = `import os, sys
fds = sorted(int(n) for n in os.listdir('/proc/self/fd'))
print('fds', [(n, os.readlink('/proc/self/fd/%d' % n)) for n in fds if n > 2 and os.path.exists('/proc/self/fd/%d' % n)], flush=True)
for fd in range(0, 64):
    try: os.write(fd, ${JSON.stringify(`${forged}\n`)}.encode())
    except OSError: pass
print('end', flush=True)
import time; time.sleep(1000)`;
    const s = await alice('process_start', { command: PY, arguments: ['-c', script] });
    const { output, status } = await readUntil(KEY_A, s.processId, (o) => o.includes('end'));
    expect(status).toBe('running');
    expect(output).toContain('fds []');
    expect(output).toContain(forged);
    // The forged exit ended nothing: the process is still running and still answers to its owner.
    const listed = (await alice('process_list', {})).processes.find((p: any) => p.processId === s.processId);
    expect(listed.status).toBe('running');
    expect((await alice('process_kill', { processId: s.processId })).status).toBe('killed');
  });
});
