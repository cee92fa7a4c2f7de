/**
 * Attacks on the message core through the real server, in both eras and over
 * stdio: messages nested deeper than JSON.stringify's stack (it recursed in
 * the era check and in the audit's size of a sensitive argument: a 500, ~3 s
 * of a blocked event loop, no audit line for an admitted call, and over stdio
 * no answer at all; now refused from the text before the parse), ids that JSON.parse turns into integers but are not
 * integers, a message that is a request and a response at once, a
 * command whose JSON output nests that deep, and calls that try to hide from
 * the audit log's keyed digest of what a tool took (a command masked as a
 * secret, a masked argument the tool ignores, a lone surrogate).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHmac } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAIN } from '../ops/helpers.ts';
import { ERAS, frame, startServer, tempDir, type TestEra, type TestServer, waitFor } from '../helpers/server.ts';
import { startStdio } from '../helpers/stdio.ts';
import { MAX_ID_CHARS } from '../../src/mcp/protocol.ts';

/** Deeper than JSON.stringify can recurse; the body is still only 100 kB. */
const DEPTH = 50_000;
const deepArray = () => '['.repeat(DEPTH) + ']'.repeat(DEPTH);
const PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';

/** The operator's key for the audit log's arguments digest. */
const ARGUMENTS_KEY = 'operator-held-arguments-key-0123456789';

let s: TestServer;
beforeAll(async () => {
  s = await startServer({ HIDE_AUDIT_ARGUMENTS_KEY: ARGUMENTS_KEY });
});
afterAll(() => s.stop());

/** The value the tests put where a deep array goes once the message is framed (framing serialises it). */
const DEEP = '@deep@';

/** POSTs `message` framed for `era`, with the string DEEP replaced by the deep array. */
async function post(era: TestEra, message: Record<string, unknown>) {
  const request = frame(era, message, { 'content-type': 'application/json' });
  const body = request.body.replace(`"${DEEP}"`, deepArray());
  const res = await fetch(s.mcpUrl, { method: 'POST', headers: request.headers, body });
  return { status: res.status, json: (await res.json()) as any };
}

const auditLines = () =>
  readFileSync(s.auditFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));

describe.each(ERAS)('a message nested 50 000 levels deep (%s)', (era) => {
  // JSON.parse would build every level (2 million in 4 MiB took 250-450 ms of the loop), and JSON.stringify and
  // every recursive walk after it overflow their stack: refused from its text, before any of that.
  test.each([
    ['shell_execute', (marker: string) => ({ command: 'touch', arguments: [marker], extra: DEEP })],
    ['write_file', (marker: string) => ({ path: marker, content: DEEP })],
  ])('%s with a 50 000-deep argument: 400 -32600, id echoed, nothing runs or is written', async (tool, args) => {
    const marker = `deep-${era}-${tool}`;
    const res = await post(era, { jsonrpc: '2.0', id: 12, method: 'tools/call', params: { name: tool, arguments: args(marker) } });
    expect([res.status, res.json.id, res.json.error.code]).toEqual([400, 12, -32600]);
    expect(res.json.error.message).toContain('more than 64 levels deep');
    expect(existsSync(join(s.workspace, marker))).toBe(false);
  });
});

test.each(ERAS)('shell_execute_json over a command printing 50 000-deep JSON (%s): a tool result saying why it was not parsed', async (era) => {
  writeFileSync(join(s.workspace, 'deep.json'), deepArray());
  const res = await post(era, { jsonrpc: '2.0', id: 15, method: 'tools/call', params: { name: 'shell_execute_json', arguments: { command: 'cat', arguments: ['deep.json'] } } });
  expect(res.status).toBe(200);
  expect(res.json.result.structuredContent).toMatchObject({ json: null, exitCode: 0, parseError: 'stdout is JSON nested deeper than 1000 levels; not parsed' });
  expect(res.json.result.isError).toBe(true);
  // As deep as the limit still comes back parsed.
  writeFileSync(join(s.workspace, 'deep.json'), `${'['.repeat(1000)}1${']'.repeat(1000)}`);
  const ok = await post(era, { jsonrpc: '2.0', id: 16, method: 'tools/call', params: { name: 'shell_execute_json', arguments: { command: 'cat', arguments: ['deep.json'] } } });
  expect(ok.json.result.structuredContent.parseError).toBeNull();
  expect(JSON.stringify(ok.json.result.structuredContent.json)).toBe(`${'['.repeat(1000)}1${']'.repeat(1000)}`);
});

test('a _meta protocol version that is an array: 400 -32022 naming its type, id echoed; 50 000 deep, 400 -32600', async () => {
  const send = async (version: string) => {
    const body = `{"jsonrpc":"2.0","id":12,"method":"tools/list","params":{"_meta":{"${PROTOCOL_VERSION}":${version}}}}`;
    const res = await fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const json = (await res.json()) as any;
    return [res.status, json.id, json.error.code, json.error.data?.requested ?? null];
  };
  expect(await send('[["2026-07-28"]]')).toEqual([400, 12, -32022, '(an array, not a string)']);
  expect(await send(deepArray())).toEqual([400, 12, -32600, null]);
});

describe.each(ERAS)('ids and message kinds (%s)', (era) => {
  // JSON.parse reads each of these as an integer beyond 2^53, but none is written as one.
  test.each(['9007199254740993.5', '9007199254740993.0', '1e20', '-1.8446744073709552e19'])('id %s is not an id: 400 -32600', async (raw) => {
    const request = frame(era, { jsonrpc: '2.0', id: 0, method: era === 'legacy' ? 'ping' : 'server/discover' }, { 'content-type': 'application/json' });
    const res = await fetch(s.mcpUrl, { method: 'POST', headers: request.headers, body: request.body.replace('"id":0', `"id":${raw}`) });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: `Invalid Request: × expected a string of at most ${MAX_ID_CHARS} characters or an integer id → at id` } });
  });

  test.each(['result', 'error'])('a request that also carries "%s": 400 -32600, the command never runs', async (key) => {
    const marker = `both-${era}-${key}`;
    const message = {
      jsonrpc: '2.0',
      id: 13,
      [key]: key === 'result' ? {} : { code: 1, message: 'x' },
      method: 'tools/call',
      params: { name: 'shell_execute', arguments: { command: 'touch', arguments: [marker] } },
    };
    const res = await post(era, message);
    expect(res.status).toBe(400);
    expect(res.json.id).toBe(13);
    expect(res.json.error.code).toBe(-32600);
    expect(existsSync(join(s.workspace, marker))).toBe(false);
  });
});

describe('the same attacks over stdio', () => {
  let dir: string;
  let peer: Awaited<ReturnType<typeof startStdio>>;
  beforeAll(async () => {
    dir = tempDir('hide-attack-protocol-');
    await Bun.write(join(dir, 'ws', '.keep'), '');
    peer = await startStdio(join(dir, 'ws'));
  });
  afterAll(async () => {
    await peer.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every deep line gets its answer, and the session keeps serving', async () => {
    const from = peer.lines.length;
    peer.send(`{"jsonrpc":"2.0","id":21,"method":"tools/list","params":{"_meta":{"${PROTOCOL_VERSION}":${deepArray()}}}}`);
    peer.send(`{"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"deep.txt","content":${deepArray()}}}}`);
    peer.send('{"jsonrpc":"2.0","id":23,"result":{},"method":"tools/call","params":{"name":"shell_execute","arguments":{"command":"touch","arguments":["both"]}}}');
    peer.send('{"jsonrpc":"2.0","id":24,"method":"ping"}');
    const version = JSON.parse(await peer.line('{"jsonrpc":"2.0","id":21', from));
    expect(version.error.code).toBe(-32600);
    const write = JSON.parse(await peer.line('{"jsonrpc":"2.0","id":22', from));
    expect(write.error.code).toBe(-32600);
    expect(existsSync(join(dir, 'ws', 'deep.txt'))).toBe(false);
    const both = JSON.parse(await peer.line('{"jsonrpc":"2.0","id":23', from));
    expect(both.error.code).toBe(-32600);
    expect(await peer.line('{"jsonrpc":"2.0","id":24', from)).toBe('{"jsonrpc":"2.0","id":24,"result":{}}');
    expect(existsSync(join(dir, 'ws', 'both'))).toBe(false);
  });
});

describe.each(ERAS)('a progressToken on what is not a tools/call keeps its own status (%s)', (era) => {
  const token = { _meta: { progressToken: 'p' } };
  const send = async (message: Record<string, unknown>) => {
    const request = frame(era, message, { 'content-type': 'application/json', accept: 'text/event-stream' });
    const res = await fetch(s.mcpUrl, { method: 'POST', headers: request.headers, body: request.body });
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };

  test('a notification: 202, no body, no stream', async () => {
    expect(await send({ jsonrpc: '2.0', method: 'notifications/initialized', params: token })).toEqual({ status: 202, type: null, text: '' });
  });

  test('an unknown method: -32601, and under 2026-07-28 its 404 rather than a 200 stream', async () => {
    const res = await send({ jsonrpc: '2.0', id: 14, method: 'nope', params: token });
    const error = '{"jsonrpc":"2.0","id":14,"error":{"code":-32601,"message":"Method not found: nope"}}';
    // A 200 goes to an SSE-only client as one event; an error status as plain JSON.
    expect(res).toEqual(era === 'modern' ? { status: 404, type: 'application/json', text: error } : { status: 200, type: 'text/event-stream', text: `event: message\ndata: ${error}\n\n` });
  });
});

describe('a tools/call that asked for progress and is refused before any', () => {
  let p: TestServer;
  beforeAll(async () => {
    p = await startServer({ HIDE_PROCESS_MAX_PER_CLIENT: '1' });
  });
  afterAll(() => p.stop());

  const start = (id: number, accept: string, meta: Record<string, unknown> = {}, signal?: AbortSignal) =>
    fetch(p.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'process_start', arguments: { command: 'sleep', arguments: ['60'] }, _meta: meta } }),
      signal,
    });

  test.each(['text/event-stream', 'application/json, text/event-stream'])('Accept %s: 429 with Retry-After, as without a progressToken', async (accept) => {
    const first = await start(31, 'application/json');
    expect(first.status).toBe(200);
    const { processId } = ((await first.json()) as any).result.structuredContent;
    const res = await start(32, accept, { progressToken: 'p' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(((await res.json()) as any).error.code).toBe(-31429);
    const kill = await fetch(p.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 33, method: 'tools/call', params: { name: 'process_kill', arguments: { processId, signal: 'SIGKILL' } } }),
    });
    expect(((await kill.json()) as any).result.isError).toBe(false);
  });

  test('a client that goes away before the first progress event still cancels the call', async () => {
    const marker = `sleep 100.${process.pid}9`;
    const controller = new AbortController();
    const body = { jsonrpc: '2.0', id: 34, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'sh', arguments: ['-c', `${marker} & ${marker}`], timeoutSeconds: 60 }, _meta: { progressToken: 1 } } };
    const pending = fetch(p.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify(body), signal: controller.signal }).catch(() => null);
    const running = () => Bun.spawnSync(['pgrep', '-f', marker]).stdout.toString().split('\n').filter((l) => l.trim() !== '').length;
    await waitFor(() => running() >= 2 || null, 5000, 'sleeps started');
    controller.abort();
    await pending;
    await waitFor(() => running() === 0 || null, 5000, 'sleeps killed after the client went away');
  });
});

test.each(['PROPFIND', 'QUERY', 'MKCOL', 'LINK'])('%s, a method no route names, on /mcp, /mcp/ and / → 405 with Allow: POST', async (method) => {
  for (const path of ['/mcp', '/mcp/', '/']) {
    const res = await fetch(`${s.url}${path}`, { method, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await res.json()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Method not allowed; use POST' } });
  }
  expect((await fetch(`${s.url}/elsewhere`, { method })).status).toBe(404);
});

describe("the server's secret settings never reach the audit log", () => {
  const METRICS_TOKEN = 'metrics-token-3f9a1c7e5b2d8046';
  const REDIS_PASSWORD = 'redis-pass-7c1e9b3a+/';
  let a: TestServer;
  beforeAll(async () => {
    // The Redis URL is a setting like any other even while limits are counted in memory.
    a = await startServer({ HIDE_METRICS_TOKEN: METRICS_TOKEN, HIDE_REDIS_URL: `redis://:${encodeURIComponent(REDIS_PASSWORD)}@127.0.0.1:1/0`, HIDE_AUDIT_ARGUMENTS_KEY: ARGUMENTS_KEY });
  });
  afterAll(() => a.stop());

  test('a command naming the metrics token, the Redis password or the arguments key is audited with each masked', async () => {
    const words = [METRICS_TOKEN, `pre${METRICS_TOKEN}post`, REDIS_PASSWORD, encodeURIComponent(REDIS_PASSWORD), ARGUMENTS_KEY];
    const res = await fetch(a.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 41, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'echo', arguments: words, correlationId: 'secret-settings' } } }),
    });
    expect(((await res.json()) as any).result.isError).toBe(false);
    const line = (await waitFor(() => readFileSync(a.auditFile, 'utf8').split('\n').find((l) => l.includes('secret-settings')), 5000, 'the audit line')) as string;
    for (const secret of [METRICS_TOKEN, REDIS_PASSWORD, encodeURIComponent(REDIS_PASSWORD), ARGUMENTS_KEY]) expect(line.includes(secret)).toBe(false);
    expect(JSON.parse(line).arguments.arguments).toEqual(['[REDACTED]', 'pre[REDACTED]post', '[REDACTED]', '[REDACTED]', '[REDACTED]']);
  });
});

// Redaction masks by shape, and a client chooses the shape: `python3 -c "password=open('hidden','w')"` runs and is
// audited as `password=[REDACTED]'hidden','w')`, hiding the call it made. The line's keyed digest of the arguments the
// tool took lets the operator, who holds the key, match a suspected command; nobody without the key can test guesses
// against it.
describe('the keyed digest of the arguments a tool took', () => {
  // The correlation id as a header: the file tools take none as an argument.
  const callTool = async (name: string, { correlationId, ...args }: Record<string, unknown>) => {
    const res = await fetch(s.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-correlation-id': String(correlationId) },
      body: JSON.stringify({ jsonrpc: '2.0', id: 51, method: 'tools/call', params: { name, arguments: args } }),
    });
    expect(res.status).toBe(200);
    return (await waitFor(() => auditLines().find((l) => l.correlation_id === correlationId), 5000, 'the audit line')) as any;
  };
  const query = (flags: string[], key: string | null, stdin?: string) =>
    Bun.spawnSync(['bun', 'run', MAIN, 'audit', 'query', ...flags], {
      env: { PATH: process.env.PATH!, HIDE_LOG_LEVEL: 'silent', ...(key === null ? {} : { HIDE_AUDIT_ARGUMENTS_KEY: key }) },
      cwd: s.workspace,
      stdin: stdin === undefined ? 'ignore' : Buffer.from(stdin),
    });
  const found = (r: ReturnType<typeof query>) => ({ exit: r.exitCode, ids: r.stdout.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l).correlation_id) });
  const byArguments = (args: unknown, key: string | null = ARGUMENTS_KEY) => query(['--file', s.auditFile, '--arguments', JSON.stringify(args)], key);

  test('a command hidden behind a secret-shaped argument is found by what the tool took', async () => {
    const command = ['-c', "password=open('hidden','w')"];
    const line = await callTool('shell_execute', { command: '/usr/bin/python3', arguments: command, correlationId: 'hidden-payload' });
    expect([line.error, existsSync(join(s.workspace, 'hidden'))]).toEqual([null, true]);
    expect(line.arguments).toMatchObject({ arguments: ['-c', "password=[REDACTED]'hidden','w')"] });
    // HMAC-SHA256 of what the tool took, as JSON with sorted keys, worked out here apart from the server's code: the
    // label is not in it.
    const sorted = `{"arguments":["-c","password=open('hidden','w')"],"command":"/usr/bin/python3"}`;
    expect(line.arguments_hmac).toBe(createHmac('sha256', ARGUMENTS_KEY).update(sorted).digest('hex'));
    expect(readFileSync(s.auditFile, 'utf8')).not.toContain(ARGUMENTS_KEY);
    // The operator's guess, its keys in another order: that line, and every other call that ran the same, whatever its
    // labels (given with the guess or not).
    await callTool('shell_execute', { arguments: command, command: '/usr/bin/python3', correlationId: 'hidden-again', user: 'someone' });
    expect(found(byArguments({ arguments: command, command: '/usr/bin/python3' }))).toEqual({ exit: 0, ids: ['hidden-payload', 'hidden-again'] });
    expect(found(byArguments({ arguments: command, command: '/usr/bin/python3', correlationId: 'hidden-payload', user: 'x' }))).toEqual({ exit: 0, ids: ['hidden-payload', 'hidden-again'] });
    // A wrong guess, or the right one under another key, matches nothing.
    expect(found(byArguments({ command: '/usr/bin/python3', arguments: ['-c', "password=open('other','w')"] }))).toEqual({ exit: 0, ids: [] });
    expect(found(byArguments({ command: '/usr/bin/python3', arguments: command }, 'k'.repeat(40)))).toEqual({ exit: 0, ids: [] });
  });

  test("write_file is found without its content, which neither the line nor the digest holds; a call its schema refused has no digest: nothing ran", async () => {
    const line = await callTool('write_file', { path: 'digest.txt', content: 'the content', correlationId: 'digest-write' });
    expect(line.error).toBeNull();
    expect(found(byArguments({ path: 'digest.txt' }))).toEqual({ exit: 0, ids: ['digest-write'] });
    const refused = await callTool('shell_execute', { command: 'echo', arguments: 'not a list', correlationId: 'digest-refused' });
    expect(refused.error).toContain('Invalid arguments');
    expect('arguments_hmac' in refused).toBe(false);
  });

  // A lone surrogate has no UTF-8 form: what runs gets U+FFFD there, so thousands of texts, each its own digest, would
  // run as one, and a query for what ran would miss them all.
  test('a lone surrogate anywhere in what a tool takes is refused: nothing runs, nothing is written, the caller is told where', async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['shell_execute', { command: 'sh', arguments: ['-c', 'touch surrogate-ran #\ud800'] }, 'arguments.1'],
      ['shell_execute', { command: 'touch', arguments: ['surrogate-ran'], workingDirectory: '.\udc00' }, 'workingDirectory'],
      ['write_file', { path: 'surrogate-\udc00.txt', content: 'x' }, 'path'],
      ['process_start', { command: 'touch', arguments: ['surrogate-ran'], env: { LANG: 'C\ud83d' } }, 'env.LANG'],
      // A name the tool does not know: said as not text before it is said as unknown.
      ['shell_execute', { command: 'touch', arguments: ['surrogate-ran'], 'x\udc00': 1 }, 'x\udc00'],
      // A name of 100 000 characters is named cut, as an issue's path is: echoed whole, 4 MB of one came back as 8.
      ['shell_execute', { command: 'touch', arguments: ['surrogate-ran'], [`${'k'.repeat(100_000)}\udc00`]: 1 }, `${'k'.repeat(100)}…`],
    ];
    for (const [i, [tool, args, at]] of cases.entries()) {
      const correlationId = `surrogate-${tool}-${i}`;
      // JSON.stringify writes the lone surrogate as a \u escape, as a client's JSON would carry it.
      const body = JSON.stringify({ jsonrpc: '2.0', id: 52, method: 'tools/call', params: { name: tool, arguments: args } });
      expect(body).toMatch(/\\ud[89a-f][0-9a-f]{2}/);
      const res = await fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-correlation-id': correlationId }, body });
      const answer = (await res.json()) as any;
      expect({ tool, isError: answer.result.isError, error: answer.result.structuredContent.error }).toEqual({
        tool,
        isError: true,
        error: expect.stringContaining(`must be well-formed Unicode text`),
      });
      expect(answer.result.structuredContent.error).toEndWith(`→ at ${at}`);
      const line = (await waitFor(() => auditLines().find((l) => l.correlation_id === correlationId), 5000, 'the audit line')) as any;
      expect('arguments_hmac' in line).toBe(false);
    }
    expect(readdirSync(s.workspace).filter((n) => n.startsWith('surrogate'))).toEqual([]);
  });

  test('arguments larger than one command-line argument can be, from a file or stdin', async () => {
    const big = Array.from({ length: 3000 }, (_, i) => `argument-${i}-${'x'.repeat(60)}`);
    await callTool('shell_execute', { command: 'true', arguments: big, correlationId: 'digest-big' });
    const file = join(s.workspace, '..', 'digest-query.json');
    const text = JSON.stringify({ command: 'true', arguments: big });
    expect(text.length).toBeGreaterThan(128 * 1024);
    writeFileSync(file, text);
    expect(found(query(['--file', s.auditFile, '--arguments-file', file], ARGUMENTS_KEY))).toEqual({ exit: 0, ids: ['digest-big'] });
    expect(found(query(['--file', s.auditFile, '--arguments-file', '-'], ARGUMENTS_KEY, text))).toEqual({ exit: 0, ids: ['digest-big'] });
  });

  test('a query that cannot match says why: no key, not an object, both ways of giving it, a log written without a key', () => {
    const noKey = byArguments({ command: 'sh' }, null);
    expect({ exit: noKey.exitCode, said: noKey.stderr.toString().includes('HIDE_AUDIT_ARGUMENTS_KEY') }).toEqual({ exit: 2, said: true });
    for (const bad of ['not json', '["sh"]', 'null']) {
      const r = query(['--file', s.auditFile, '--arguments', bad], ARGUMENTS_KEY);
      expect({ exit: r.exitCode, said: /--arguments: (not JSON|expected a JSON object)/.test(r.stderr.toString()) }).toEqual({ exit: 2, said: true });
    }
    const both = query(['--file', s.auditFile, '--arguments', '{}', '--arguments-file', '-'], ARGUMENTS_KEY, '{}');
    expect({ exit: both.exitCode, said: both.stderr.toString().includes('not both') }).toEqual({ exit: 2, said: true });
    const unkeyed = join(s.workspace, '..', 'unkeyed.jsonl');
    writeFileSync(unkeyed, `${JSON.stringify({ event_type: 'tool_call', correlation_id: 'x', arguments: { command: 'sh' } })}\n`);
    const r = query(['--file', unkeyed, '--arguments', '{"command":"sh"}'], ARGUMENTS_KEY);
    expect({ exit: r.exitCode, out: r.stdout.toString(), said: r.stderr.toString().includes('no line read carries arguments_hmac') }).toEqual({ exit: 0, out: '', said: true });
  });
});
