/**
 * Request bodies in reading at once are bounded per client: a body is held
 * whole in memory until it has all come, and one client with many
 * connections, each holding back the last byte of a body just under the
 * limit, held gigabytes in the server for as long as the body timeout let it.
 * Past four bodies of the largest size per client, a body is refused before it
 * is read (429, `request_bodies`), and audited; another client still has room.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { readFileSync, writeFileSync } from 'node:fs';
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

/** A connection sending a tools/list whose body declares `length` bytes and sends all but the last. */
function held(key: string, length: number): Socket {
  const { port } = new URL(server.url);
  const socket = connect(Number(port), '127.0.0.1', () => {
    socket.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-API-Key: ${key}\r\nContent-Length: ${length}\r\n\r\n`);
    socket.write(' '.repeat(length - 1));
  });
  socket.on('error', () => {});
  return socket;
}

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
