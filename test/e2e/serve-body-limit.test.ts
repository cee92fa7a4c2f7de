/**
 * The body-size limit as `hide serve` runs it: the listener's own options come
 * from the serve command, which the in-process servers of the other tests do
 * not use. A body over HIDE_MAX_BODY_BYTES, whatever its size and framing, gets
 * the JSON-RPC 413 of DESIGN.md's error table, not a bare 413 from the runtime,
 * and is no server error.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { tempDir } from '../helpers/temp.ts';

const LIMIT = 4096;
const REFUSED = { jsonrpc: '2.0', id: null, error: { code: -32600, message: `Request body exceeds the limit of ${LIMIT} bytes`, data: { limit: LIMIT } } };

let dir: string;
let server: ServerProcess;
beforeAll(async () => {
  dir = tempDir();
  mkdirSync(join(dir, 'ws'));
  server = await startServerProcess({
    cwd: dir,
    env: { HIDE_WORKSPACE: join(dir, 'ws'), HIDE_MAX_BODY_BYTES: String(LIMIT), HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl') },
  });
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A tools/call whose body is `size` bytes long (padded inside an argument). */
function bodyOf(size: number): string {
  const head = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"shell_execute","arguments":{"command":"echo","arguments":["';
  const tail = '"]}}}';
  return head + 'x'.repeat(size - head.length - tail.length) + tail;
}

async function post(body: string | ReadableStream<Uint8Array>): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  return { status: res.status, json: text === '' ? null : JSON.parse(text) };
}

describe('hide serve: a body over HIDE_MAX_BODY_BYTES', () => {
  test.each([
    ['just over the limit', LIMIT + 1],
    ['well over the limit', LIMIT * 64],
  ])('with its length declared, %s → 413 with a JSON-RPC error', async (_name, size) => {
    expect(await post(bodyOf(size))).toEqual({ status: 413, json: REFUSED });
  });

  test('chunked → 413 with a JSON-RPC error, and no server error logged', async () => {
    const bytes = new TextEncoder().encode(bodyOf(LIMIT * 64));
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        // Chunks larger than the limit: the first one alone is over it.
        for (let at = 0; at < bytes.length; at += LIMIT * 4) c.enqueue(bytes.subarray(at, at + LIMIT * 4));
        c.close();
      },
    });
    expect(await post(stream)).toEqual({ status: 413, json: REFUSED });
    expect(server.logs()).not.toContain('"level":"error"');
  });

  test('a body within the limit still runs', async () => {
    const r = await post(bodyOf(LIMIT));
    expect(r.status).toBe(200);
    expect((r.json as { result: { isError: boolean } }).result.isError).toBe(false);
  });
});
