/**
 * Request bodies in reading at once are bounded per client: a body is held
 * whole in memory until it has all come, and one client with many
 * connections, each holding back the last byte of a body just under the
 * limit, held gigabytes in the server for as long as the body timeout let it.
 * Past four bodies of the largest size per client, a body is refused before it
 * is read (429, `request_bodies`), and audited; another client still has room.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

const LIMIT = 4096;
const ALICE = 'alice-key-0123456789abcdefghijklmnopqrstuv';
const BOB = 'bob-key-0123456789abcdefghijklmnopqrstuvwxy';
/** Eight more clients, which together can fill the room for large bodies. */
const HOLDERS = Array.from({ length: 8 }, (_, i) => `holder-${i}-key-0123456789abcdefghijklmnopqrst`);

let dir: string;
let server: ServerProcess;
beforeAll(async () => {
  dir = tempDir();
  const holders = HOLDERS.map((key, i) => ({ client_id: `holder-${i}`, api_key: key }));
  writeFileSync(join(dir, 'keys.json'), JSON.stringify({ clients: [{ client_id: 'alice', api_key: ALICE }, { client_id: 'bob', api_key: BOB }, ...holders] }));
  server = await startServerProcess({
    cwd: dir,
    env: { HIDE_WORKSPACE: dir, HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: join(dir, 'keys.json'), HIDE_MAX_BODY_BYTES: String(LIMIT), HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'), HIDE_SANDBOX: 'off' },
  });
});
afterAll(() => server?.stop());

/**
 * A connection to `url` sending a tools/list whose body declares `length` bytes and sends all but the last; with
 * `length` null, a chunked body of which only the headers are sent.
 */
function heldTo(url: string, key: string | null, length: number | null, from = '127.0.0.1'): Socket {
  const { port } = new URL(url);
  const socket = connect({ port: Number(port), host: '127.0.0.1', localAddress: from }, () => {
    const auth = key === null ? '' : `X-API-Key: ${key}\r\n`;
    const framing = length === null ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`;
    socket.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${auth}${framing}\r\n\r\n`);
    if (length !== null) socket.write(' '.repeat(length - 1));
  });
  socket.on('error', () => {});
  return socket;
}
const held = (key: string, length: number | null) => heldTo(server.url, key, length);

const list = (key: string) =>
  fetch(`${server.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });

test('a fifth body just under the limit from one client is refused before it is read; another client is served; room comes back as bodies end', async () => {
  const sockets = Array.from({ length: 4 }, () => held(ALICE, LIMIT - 1));
  try {
    // Once the four are being read, alice has no room for even a small body.
    const refused = (await waitFor(async () => {
      const r = await list(ALICE);
      return r.status === 429 ? r : false;
    }, 10_000, "alice's bodies to fill her share")) as Response;
    const body = (await refused.json()) as { error: { code: number; data: { reason: string } } };
    expect({ code: body.error.code, reason: body.error.data.reason, retryAfter: refused.headers.get('retry-after') }).toEqual({ code: -31429, reason: 'request_bodies', retryAfter: '1' });
    expect((await list(BOB)).status).toBe(200);
  } finally {
    for (const s of sockets) s.destroy();
  }
  await waitFor(async () => (await list(ALICE)).status === 200, 10_000, 'room for alice again');
  const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event_type: string; client_id: string; result: { reason?: string } | null });
  expect(lines.filter((l) => l.event_type === 'rate_limit_exceeded').map((l) => [l.client_id, l.result?.reason])).toContainEqual(['alice', 'request_bodies']);
  // Counted where every refusal is.
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  expect(Number(/^hide_rate_limit_refusals_total\{reason="request_bodies"\} (\d+)$/m.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);
}, 30_000);

// Reserved before any byte comes, large bodies from eight clients (four connections each, sending nearly nothing)
// filled the room all clients share, and every other client's POST, a 40-byte ping too, got 429.
test('eight clients holding the room for large bodies leave the others room for small ones, not for large ones', async () => {
  const sockets = HOLDERS.flatMap((key) => Array.from({ length: 4 }, () => held(key, LIMIT - 1)));
  try {
    const large = () =>
      fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': BOB },
        body: `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_pad":"${'x'.repeat(LIMIT - 100)}"}}`,
      });
    await waitFor(async () => (await large()).status === 429, 10_000, 'the room for large bodies to fill');
    expect((await list(BOB)).status).toBe(200);
  } finally {
    for (const s of sockets) s.destroy();
  }
}, 30_000);

// A chunked body reserves its bytes as they come: reserved whole before a byte came, a few clients' connections
// that declared nothing and sent nothing filled the shared room.
test('chunked bodies that send nothing hold no room', async () => {
  const sockets = HOLDERS.flatMap((key) => Array.from({ length: 4 }, () => held(key, null)));
  try {
    await Bun.sleep(500);
    const large = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': BOB },
      body: `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_pad":"${'x'.repeat(LIMIT - 100)}"}}`,
    });
    expect(large.status).toBe(200);
  } finally {
    for (const s of sockets) s.destroy();
  }
});

describe('authentication off: a source is an address, every loopback address one', () => {
  let open: ServerProcess;
  beforeAll(async () => {
    open = await startServerProcess({ cwd: dir, env: { HIDE_WORKSPACE: dir, HIDE_MAX_BODY_BYTES: String(LIMIT), HIDE_AUDIT_LOG_FILE: join(dir, 'audit-open.jsonl'), HIDE_SANDBOX: 'off' } });
  });
  afterAll(() => open?.stop());

  // Each address of 127.0.0.0/8 was a client of its own: 48 of them with 256 small bodies each held 905 MB.
  test('bodies held from four loopback addresses fill one share: a fifth address is refused', async () => {
    const sockets = [2, 3, 4, 5].map((n) => heldTo(open.url, null, LIMIT - 1, `127.0.0.${n}`));
    try {
      const post = () => fetch(`${open.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
      const refused = (await waitFor(async () => {
        const r = await post();
        return r.status === 429 ? r : false;
      }, 10_000, 'the loopback share to fill')) as Response;
      expect(((await refused.json()) as { error: { data: { reason: string } } }).error.data.reason).toBe('request_bodies');
    } finally {
      for (const s of sockets) s.destroy();
    }
  }, 30_000);

  // The concurrency limit counted each address of 127.0.0.0/8 as a client of its own: 64 of them, three calls each,
  // held their 4 MB bodies (430 MB) for as long as the calls ran.
  test('the call limits count every loopback address as one client: a fourth call from a fourth address is refused', async () => {
    // Its own: another test run on the machine may run the same test.
    const marker = `30.${process.pid}71`;
    const call = (from: string) =>
      new Promise<number>((resolve) => {
        const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'sleep', arguments: [marker], timeoutSeconds: 10 } } });
        const { port } = new URL(open.url);
        const req = request({ host: '127.0.0.1', port: Number(port), localAddress: from, method: 'POST', path: '/mcp', headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', () => resolve(0));
        req.end(body);
      });
    const running = ['127.0.0.2', '127.0.0.3', '127.0.0.4'].map(call);
    try {
      await waitFor(() => Bun.spawnSync(['pgrep', '-fc', `sleep ${marker}`]).stdout.toString().trim() === '3', 10_000, 'three calls running');
      expect(await call('127.0.0.5')).toBe(429);
    } finally {
      for (const pid of Bun.spawnSync(['pgrep', '-f', `sleep ${marker}`]).stdout.toString().split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
      await Promise.all(running);
    }
  }, 30_000);
});
