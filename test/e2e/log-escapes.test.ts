/**
 * The operator's log on stderr carries text a client chose (a refused Origin
 * or Host header, a path): in either format nothing of it may act on the
 * terminal that shows the log — no C1 control (U+009B is CSI), no bidi
 * override, no line break that would start a forged line.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { startBinary } from '../helpers/binary.ts';
import { tempDir } from '../helpers/server.ts';

/** Header bytes as a client sends them: CSI (0x9b) twice, and U+202E (right-to-left override) in UTF-8. */
const HOSTILE = Buffer.concat([Buffer.from('http://evil'), Buffer.from([0x9b]), Buffer.from('2J'), Buffer.from([0x9b]), Buffer.from('31mFAKE'), Buffer.from('\u202e', 'utf8'), Buffer.from('exe.txt')]);

/** One raw HTTP/1.1 request (fetch refuses such header bytes); resolves with the status line. */
function rawPost(url: string, origin: Buffer): Promise<string> {
  const { hostname, port } = new URL(url);
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
  const head = `POST /mcp HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${body.length}\r\nConnection: close\r\nOrigin: `;
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(Buffer.concat([Buffer.from(head), origin, Buffer.from(`\r\n\r\n${body}`)])));
    let got = '';
    socket.on('data', (d) => (got += d.toString('latin1')));
    socket.on('end', () => resolve(got.split('\r\n')[0] ?? ''));
    socket.on('error', reject);
  });
}
const ACTING = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe.each(['pretty', 'json'] as const)('HIDE_LOG_FORMAT=%s', (format) => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('hide-log-escapes-');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("a refused Origin's control and bidi characters reach the log escaped, and its line stays one line", async () => {
    const server = await startBinary({ cwd: dir, env: { HIDE_LOG_FORMAT: format, HIDE_AUDIT_LOG_FILE: join(dir, `audit-${format}.jsonl`) } });
    let log: string;
    try {
      expect(await rawPost(server.url, HOSTILE)).toBe('HTTP/1.1 403 Forbidden');
    } finally {
      await server.stop();
      log = server.logs();
    }
    const refused = log.split('\n').filter((l) => l.includes('evil'));
    expect(refused.length).toBeGreaterThan(0);
    for (const line of refused) {
      expect(line).not.toMatch(ACTING);
      expect(line).toContain('\\u009b2J');
      if (format === 'json') expect(JSON.parse(line).msg).toContain('evil\u009b2J');
    }
  });
});
