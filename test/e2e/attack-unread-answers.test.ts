/**
 * A client that sends tool calls with large answers and never reads them.
 * Bun used to buffer each answer whole while the connection lasted, long after
 * the call had given its concurrency slot back, so a client within its limits
 * could hold hundreds of MB of the server's memory (output made of control
 * characters is escaped twice in an answer: 600 KB of it became 6.8 MB). An
 * answer now goes out as the client takes it, and the call keeps its slot
 * until then: further calls of that client are refused (429), other clients
 * are served, and the slots come back once the client reads or hangs up.
 */
import { describe, expect, test } from 'bun:test';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rpc, startServer, tempDir, toolCallsInFlight, waitFor } from '../helpers/server.ts';

const ALICE = 'unread-answers-alice-0123456789abcdefghijkl';
const BOB = 'unread-answers-bob-0123456789abcdefghijklmn';
/** Bytes of output per call: its answer (the output twice, in structuredContent and its text) is far past what the sockets' buffers take. */
const OUTPUT = 4_000_000;

/**
 * A client on a raw socket whose receive buffer is 4 KiB: it sends `request`
 * and reads nothing until told to, then reads the whole answer.
 */
class StalledClient {
  private readonly proc: ReturnType<typeof Bun.spawn<'pipe', 'pipe', 'inherit'>>;
  private readonly lines: AsyncIterator<string>;

  constructor(url: string, request: string) {
    const { port } = new URL(url);
    const script = `
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(('127.0.0.1', ${Number(port)}))
s.sendall(sys.stdin.buffer.readline().rstrip(b'\\n').replace(b'\\\\r\\\\n', b'\\r\\n'))
print('sent', flush=True)
if sys.stdin.readline().strip() == 'read':
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    got = b''
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        got += d
    print(len(got), got.endswith(b'0\\r\\n\\r\\n'), b'"exitCode":0' in got, flush=True)
s.close()
`;
    this.proc = Bun.spawn(['python3', '-c', script], { stdin: 'pipe', stdout: 'pipe', stderr: 'inherit' });
    this.proc.stdin.write(`${request.replaceAll('\r\n', '\\r\\n')}\n`);
    this.proc.stdin.flush();
    this.lines = (async function* (stdout: ReadableStream<Uint8Array>) {
      const decoder = new TextDecoder();
      let buffered = '';
      for await (const chunk of stdout as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          yield buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
        }
      }
    })(this.proc.stdout);
  }

  async sent(): Promise<void> {
    expect((await this.lines.next()).value).toBe('sent');
  }

  /** Reads the whole answer: its size, whether the body ended, whether it is the command's result. */
  async read(): Promise<string> {
    this.proc.stdin.write('read\n');
    this.proc.stdin.flush();
    return (await this.lines.next()).value as string;
  }

  async hangUp(): Promise<void> {
    this.proc.stdin.end();
    await this.proc.exited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.proc.exited;
  }
}

function httpRequest(key: string, id: number, progress: boolean): string {
  const params = {
    name: 'shell_execute',
    arguments: { command: 'sh', arguments: ['-c', `head -c ${OUTPUT} /dev/zero | tr '\\0' a`] },
    ...(progress ? { _meta: { progressToken: `p${id}` } } : {}),
  };
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params });
  return (
    `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${key}\r\nContent-Type: application/json\r\n` +
    `Accept: ${progress ? 'text/event-stream' : 'application/json, text/event-stream'}\r\nConnection: close\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

const call = (url: string, key: string) =>
  rpc(`${url}/mcp`, 'tools/call', { name: 'shell_execute', arguments: { command: 'true' } }, { 'X-API-Key': key });

describe('a client that does not read its answers', () => {
  test.each([
    ['a JSON answer', false],
    ['an event stream with progress', true],
  ])('%s: the call keeps its slot until the answer is taken; the client is refused meanwhile, others are not', async (_what, progress) => {
    const dir = tempDir('unread-answers-');
    const keysFile = join(dir, 'keys.json');
    writeFileSync(
      keysFile,
      JSON.stringify({ clients: [{ client_id: 'alice', api_key: ALICE, enabled: true }, { client_id: 'bob', api_key: BOB, enabled: true }] }),
      { mode: 0o600 },
    );
    await using s = await startServer({
      HIDE_AUTH_ENABLED: 'true',
      HIDE_API_KEYS_FILE: keysFile,
      HIDE_RATE_LIMIT_ENABLED: 'true',
      HIDE_RATE_LIMIT_RPM: '1000',
      HIDE_RATE_LIMIT_CONCURRENT: '2',
      HIDE_EXEC_MAX_OUTPUT_BYTES: String(8 * 1024 * 1024),
    });
    await using first = new StalledClient(s.url, httpRequest(ALICE, 1, progress));
    await using second = new StalledClient(s.url, httpRequest(ALICE, 2, progress));
    await first.sent();
    await second.sent();
    // Both commands ran to their end (each call's audit line is written then); their answers are left unread, and
    // the two calls still hold their slots.
    await waitFor(() => toolCallLines(s.auditFile) === 2, 20_000, 'both calls to end');
    expect(await toolCallsInFlight(s.url)).toBe(2);

    const refused = await call(s.url, ALICE);
    expect([refused.status, refused.body.error?.data?.reason]).toEqual([429, 'concurrency']);
    expect((await call(s.url, BOB)).status).toBe(200);

    // Taken whole, the first answer gives its slot back.
    expect(await first.read()).toMatch(/^\d+ True True$/);
    expect((await call(s.url, ALICE)).status).toBe(200);
    // So does the second once its client hangs up without reading: two calls fit again.
    await second.hangUp();
    await waitFor(async () => (await Promise.all([call(s.url, ALICE), call(s.url, ALICE)])).every((r) => r.status === 200), 10_000, 'both slots back');
  }, 60_000);
});

function toolCallLines(file: string): number {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('"event_type":"tool_call"')).length : 0;
}
