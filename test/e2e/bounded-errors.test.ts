/**
 * A malformed call costs what its body costs, not what its problems cost:
 * every message built from input lists a few issues and counts the rest, each
 * cut short, and a 4 MB body of 2 million invalid arguments leaves the server
 * process's memory (VmRSS from /proc) within 50 MB of where it was, its peak
 * within 100 MB. The bounded messages hold in both eras; the memory figure is
 * measured in the handshake era only, since the era is decided before the
 * validation whose cost it measures, the same for both.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startServerProcess } from '../helpers/process.ts';
import { ERAS, frame, inputErrorOf, inputErrorResponse, startServer, type TestEra, tempDir, type TestServer, waitFor } from '../helpers/server.ts';

function kb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/** POSTs `message` framed for `era`. */
async function post(url: string, message: object, era: TestEra = 'legacy') {
  const request = frame(era, message, { 'content-type': 'application/json' });
  const res = await fetch(url, { method: 'POST', headers: request.headers, body: request.body });
  return { status: res.status, text: await res.text() };
}

/** A tools/call whose `arguments` array holds `n` integers where strings belong. */
const integers = (n: number, id = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'shell_execute', arguments: { command: 'echo', arguments: Array(n).fill(1) } },
});

describe.each(ERAS)('messages built from input are bounded (%s)', (era) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(() => s.stop());

  test('12 bad array elements: five listed, the rest counted', async () => {
    const r = await post(s.mcpUrl, integers(12), era);
    const issue = (i: number) => `× Invalid type: Expected string but received 1 → at arguments.${i}`;
    expect({ status: r.status, body: JSON.parse(r.text) }).toEqual({
      status: 200,
      body: inputErrorResponse(1, `Invalid arguments for tool shell_execute: ${[0, 1, 2, 3, 4].map(issue).join('; ')}; and 7 more issues`, era),
    });
  });

  test('several bad fields are listed together', async () => {
    const message = {
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'shell_execute', arguments: { command: 7, timeoutSeconds: 'soon', user: ['x'] } },
    };
    expect(JSON.parse((await post(s.mcpUrl, message, era)).text)).toEqual(
      inputErrorResponse(
        2,
        'Invalid arguments for tool shell_execute: × Invalid type: Expected string but received 7 → at command; ' +
          '× Invalid type: Expected number but received "soon" → at timeoutSeconds; × Invalid type: Expected string but received Array → at user',
        era,
      ),
    );
  });

  test.each([
    ['a 3 MB string where a number belongs', { name: 'shell_execute', arguments: { command: 'echo', timeoutSeconds: 'x'.repeat(3_000_000) } }],
    ['a 3 MB jsonrpc version', null],
    // As many as a message may hold (more are refused before the parse): past the validation's full-pass bound.
    ['19 990 integers', { name: 'shell_execute', arguments: { command: 'echo', arguments: Array(19_990).fill(1) } }],
    ['control characters in a bad value', { name: 'shell_execute', arguments: { command: 'echo', timeoutSeconds: '\u001b[31m\u0000\r\n' } }],
  ])('%s: a short answer, no control characters', async (_name, params) => {
    const request = params === null ? { jsonrpc: 'x'.repeat(3_000_000), id: 3, method: 'tools/list' } : { jsonrpc: '2.0', id: 3, method: 'tools/call', params };
    const r = await post(s.mcpUrl, request, era);
    expect(r.status).toBeLessThan(500);
    // Twice the message: the text content and the structured result both carry it; 2026-07-28 adds its resultType and _meta.
    expect(r.text.length).toBeLessThan(3000);
    const answer = JSON.parse(r.text);
    const message: string = params === null ? answer.error.message : inputErrorOf(answer)!;
    expect([params === null ? answer.error.code : 'input error', /[\u0000-\u001f]/.test(message)]).toEqual([params === null ? -32600 : 'input error', false]);
  });
});

describe('server memory', () => {
  let dir: string;
  let server: Awaited<ReturnType<typeof startServerProcess>>;
  beforeAll(async () => {
    dir = tempDir('hide-rss-');
    server = await startServerProcess({
      cwd: dir,
      env: { HIDE_WORKSPACE: dir, HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'), HIDE_RATE_LIMIT_ENABLED: 'false' },
    });
  });
  afterAll(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a 4 MB body of 2 million arguments is refused before its parse, and the most a message may hold of invalid ones adds under 50 MB to RSS and gets a short answer', async () => {
    const huge = await post(`${server.url}/mcp`, integers(2_000_000, 6));
    expect([huge.status, JSON.parse(huge.text).id, JSON.parse(huge.text).error.code]).toEqual([400, 6, -32600]);
    const message = integers(19_990, 7);
    // Warm the same path with small calls first, so the measurement is of the big one.
    for (let i = 0; i < 20; i++) expect((await post(`${server.url}/mcp`, integers(12_000, i))).status).toBe(200);
    const pid = server.proc.pid;
    const auditBytes = () => (existsSync(join(dir, 'audit.jsonl')) ? statSync(join(dir, 'audit.jsonl')).size : 0);
    const auditBefore = await waitFor(() => auditBytes(), 5000, 'the warm-up audit lines');
    const before = kb(pid, 'VmRSS');
    const r = await post(`${server.url}/mcp`, message);
    const answered = kb(pid, 'VmRSS');
    const peak = kb(pid, 'VmHWM');
    expect({ status: r.status, body: JSON.parse(r.text) }).toEqual({
      status: 200,
      body: inputErrorResponse(
        7,
        'Invalid arguments for tool shell_execute: × Invalid type: Expected string but received 1 → at arguments.0 ' +
          '(validation stopped at the first problem: the input holds more than 10000 values)',
      ),
    });
    // What remains at the answer is JSON.parse's own work (a 2-million-element
    // array is ~50 MB in a bare `bun -e`), garbage as soon as the answer is
    // out: wait for the collector to take it back. Building every issue took
    // the same server to 3.3 GB.
    const settled = await waitFor(() => {
      const now = kb(pid, 'VmRSS');
      return now - before < 50 * 1024 ? now : 0;
    }, 10_000, 'server RSS to settle within 50 MB of where it was');
    const mb = (k: number) => `${(k / 1024).toFixed(1)} MB`;
    console.log(`server RSS before ${mb(before)}, at the answer ${mb(answered)}, settled ${mb(settled)}; peak ${mb(peak)}`);
    expect((peak - before) / 1024).toBeLessThan(100);
    // Its audit line is bounded too.
    const auditAfter = await waitFor(() => (auditBytes() > auditBefore ? auditBytes() : 0), 5000, 'the audit line');
    expect(auditAfter - auditBefore).toBeLessThan(64 * 1024);
  }, 60_000);
});
