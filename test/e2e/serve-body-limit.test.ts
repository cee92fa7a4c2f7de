/**
 * The body-size limit as `hide serve` runs it: the listener's own options come
 * from the serve command, which the in-process servers of the other tests do
 * not use. A body over HIDE_MAX_BODY_BYTES, whatever its size and framing, gets
 * the JSON-RPC 413 of DESIGN.md's error table, not a bare 413 from the runtime,
 * and is no server error. A body that trickles in past HIDE_BODY_TIMEOUT_SECONDS
 * gets a 408 and its connection closed.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
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
    env: { HIDE_WORKSPACE: join(dir, 'ws'), HIDE_MAX_BODY_BYTES: String(LIMIT), HIDE_BODY_TIMEOUT_SECONDS: '1', HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl') },
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

  test('chunked, still sending past the limit → 413 that closes the connection: the rest is not read', async () => {
    const head = 'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
    const over = bodyOf(LIMIT + 1);
    const { port } = new URL(server.url);
    const r = await new Promise<{ answer: string; closed: boolean }>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1');
      let answer = '';
      // Chunks keep coming after the refusal, for up to 5 s: a server reading on would never close.
      let timer: ReturnType<typeof setInterval> | undefined;
      const stop = setTimeout(() => done(false), 5000);
      const done = (closed: boolean) => {
        clearInterval(timer);
        clearTimeout(stop);
        socket.destroy();
        resolve({ answer, closed });
      };
      socket.on('connect', () => {
        socket.write(`${head}${over.length.toString(16)}\r\n${over}\r\n`);
        timer = setInterval(() => socket.write('400\r\n' + 'x'.repeat(1024) + '\r\n'), 50);
      });
      socket.on('data', (d) => (answer += d.toString()));
      socket.on('close', () => done(true));
      socket.on('error', () => {});
    });
    expect(r.answer).toStartWith('HTTP/1.1 413 ');
    expect(r.answer.toLowerCase()).toContain('\r\nconnection: close\r\n');
    expect(r.closed).toBe(true);
  }, 20_000);

  // Bun takes a Content-Length sent twice with the same value and joins the two ("N, N"), which is no number: compared
  // with the limit, NaN passed, and the body was read whole, whatever its size (500 MiB in one request).
  // (One header holding "N, N" Bun refuses itself.)
  test('with its length declared twice → 413 with a JSON-RPC error; within the limit it runs', async () => {
    const lengths = (n: number) => `Content-Length: ${n}\r\nContent-Length: ${n}\r\n`;
    const { port } = new URL(server.url);
    const send = (body: string) =>
      new Promise<string>((resolve) => {
        let answer = '';
        const socket = connect(Number(port), '127.0.0.1', () => {
          socket.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${lengths(body.length)}Connection: close\r\n\r\n`);
          socket.write(body);
        });
        socket.on('data', (d) => (answer += d.toString()));
        socket.on('close', () => resolve(answer));
        socket.on('error', () => resolve(answer));
      });
    const statusAndJson = (answer: string) => ({ status: answer.slice(9, 12), json: JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) });
    expect(statusAndJson(await send(bodyOf(LIMIT * 64)))).toEqual({ status: '413', json: REFUSED });
    const within = statusAndJson(await send(bodyOf(LIMIT)));
    expect([within.status, within.json.result?.isError]).toEqual(['200', false]);
    expect(server.logs()).not.toContain('"level":"error"');
  });

  test('a body within the limit still runs', async () => {
    const r = await post(bodyOf(LIMIT));
    expect(r.status).toBe(200);
    expect((r.json as { result: { isError: boolean } }).result.isError).toBe(false);
  });
});

/**
 * Sends `head` and then the body a byte at a time, every 100 ms, for as long as the connection is open (at most 60
 * bytes), then waits for an answer (at most 5 s more); resolves with what the server sent and whether it closed the
 * connection.
 */
function trickle(head: string, body: string): Promise<{ answer: string; closed: boolean; sentAll: boolean }> {
  const { port } = new URL(server.url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    let sent = 0;
    let waited = 0;
    let timer: ReturnType<typeof setInterval> | undefined;
    const done = (closed: boolean) => {
      clearInterval(timer);
      socket.destroy();
      resolve({ answer, closed, sentAll: sent >= body.length });
    };
    socket.on('connect', () => {
      socket.write(head);
      timer = setInterval(() => {
        if (sent >= body.length || sent >= 60) {
          // A busy machine may take a while to answer.
          if (answer === '' && waited++ < 50) return;
          return done(false);
        }
        socket.write(body[sent++]!);
      }, 100);
    });
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('close', () => done(true));
    socket.on('error', () => {});
  });
}

describe('hide serve: a body that trickles in', () => {
  const marker = join('ws', 'trickled');
  const body = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"shell_execute","arguments":{"command":"touch","arguments":["trickled"]}}}`;

  test.each([
    ['with its length declared', `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, body],
    ['chunked', 'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n', `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`],
  ])('%s: 408 with a JSON-RPC error past HIDE_BODY_TIMEOUT_SECONDS, the connection closed, nothing run', async (_name, head, payload) => {
    const r = await trickle(head, payload);
    expect({ closed: r.closed, sentAll: r.sentAll }).toEqual({ closed: true, sentAll: false });
    expect(r.answer).toStartWith('HTTP/1.1 408 ');
    expect(JSON.parse(r.answer.slice(r.answer.indexOf('\r\n\r\n') + 4))).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Request Timeout: the body did not arrive within 1 s', data: { seconds: 1 } } });
    expect(existsSync(join(dir, marker))).toBe(false);
    expect(server.logs()).not.toContain('"level":"error"');
  }, 20_000);
});

describe('hide serve: a request refused before its body is read', () => {
  test('its answer closes the connection: a body trickling in after it holds nothing', async () => {
    const head = 'POST /elsewhere HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n';
    const r = await trickle(head, 'x'.repeat(200));
    expect({ closed: r.closed, sentAll: r.sentAll }).toEqual({ closed: true, sentAll: false });
    expect(r.answer).toStartWith('HTTP/1.1 404 ');
    expect(r.answer.toLowerCase()).toContain('\r\nconnection: close\r\n');
  }, 20_000);

  test('a request without a body keeps its connection', async () => {
    const r = await trickle('GET /elsewhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', '');
    expect(r.closed).toBe(false);
    expect(r.answer).toStartWith('HTTP/1.1 404 ');
    expect(r.answer.toLowerCase()).not.toContain('connection: close');
  });
});
