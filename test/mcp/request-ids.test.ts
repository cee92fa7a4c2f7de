/**
 * Request ids on both transports: echoed exactly, including integers beyond
 * 2^53 that JSON.parse would round; and over stdio, where ids name the calls a
 * cancellation reaches, an id in flight cannot be taken by a second request
 * (and a cancelled call is not answered).
 * The stdio server is `hide stdio` from source as a child process.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_ID_CHARS } from '../../src/mcp/protocol.ts';
import { startServer, tempDir, type TestServer, waitFor } from '../helpers/server.ts';
import { startStdio } from '../helpers/stdio.ts';

/** A shell_execute that runs until `file` exists in the workspace, then prints `word`. */
const waitingCall = (id: string, file: string, word: string) =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"shell_execute","arguments":{"command":"sh","arguments":["-c","while [ ! -e ${file} ]; do sleep 0.01; done; echo ${word}"]}}}`;

const ID_REFUSED = `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: × expected a string of at most ${MAX_ID_CHARS} characters or an integer id → at id"}}`;

/** Raw id text → the exact response line to a ping with that id. */
const ECHOED: [string, string][] = [
  ['9007199254740993', '{"jsonrpc":"2.0","id":9007199254740993,"result":{}}'],
  ['-9007199254740993', '{"jsonrpc":"2.0","id":-9007199254740993,"result":{}}'],
  ['18446744073709551617', '{"jsonrpc":"2.0","id":18446744073709551617,"result":{}}'],
  ['9007199254740991', '{"jsonrpc":"2.0","id":9007199254740991,"result":{}}'],
  ['"9007199254740993"', '{"jsonrpc":"2.0","id":"9007199254740993","result":{}}'],
  ['1.5', ID_REFUSED],
  ['1e400', ID_REFUSED],
  // Longer than MAX_ID_CHARS: refused, not echoed.
  [`"${'i'.repeat(MAX_ID_CHARS + 1)}"`, ID_REFUSED],
  [`9${'0'.repeat(MAX_ID_CHARS)}`, ID_REFUSED],
];

/** [label, raw id text, the exact answer]: a long id is named by its length. */
const CASES = ECHOED.map(([raw, expected]) => [raw.length > 40 ? `${raw.slice(0, 12)}… (${raw.length} characters)` : raw, raw, expected] as const);

describe('ids over HTTP', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(() => s.stop());

  test.each(CASES)('id %s', async (_label, raw, expected) => {
    const res = await fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"jsonrpc":"2.0","id":${raw},"method":"ping"}` });
    expect(await res.text()).toBe(expected);
  });

  test('every answer path echoes the id as sent: a string that reads as a number stays a string, a number stays a number', async () => {
    const bodies = {
      ping: '"method":"ping"',
      'tools/list': '"method":"tools/list"',
      'tools/call': '"method":"tools/call","params":{"name":"check_file_exists","arguments":{"path":"x"}}',
      'unknown tool': '"method":"tools/call","params":{"name":"nope"}',
      'unknown method': '"method":"nope/nope"',
    };
    const heads: Record<string, string[]> = {};
    for (const [what, rest] of Object.entries(bodies)) {
      heads[what] = [];
      for (const id of ['"7"', '7', '"007"']) {
        const res = await fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"jsonrpc":"2.0","id":${id},${rest}}` });
        heads[what].push((await res.text()).slice(0, `{"jsonrpc":"2.0","id":${id},`.length));
      }
    }
    const want = ['{"jsonrpc":"2.0","id":"7",', '{"jsonrpc":"2.0","id":7,', '{"jsonrpc":"2.0","id":"007",'];
    expect(heads).toEqual(Object.fromEntries(Object.keys(bodies).map((what) => [what, want])));
  });

  test('an error answer echoes a large id exactly too', async () => {
    const res = await fetch(s.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":12345678901234567891,"method":"tools/call","params":{"name":"nope"}}',
    });
    expect(await res.text()).toBe('{"jsonrpc":"2.0","id":12345678901234567891,"error":{"code":-32602,"message":"Unknown tool: nope"}}');
  });

  test('a message nested deeper than 64 levels is refused unparsed, its id echoed as written, a large one exactly', async () => {
    const deep = `${'['.repeat(6000)}${']'.repeat(6000)}`;
    const send = (id: string) =>
      fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"jsonrpc":"2.0","id":${id},"method":"ping","params":{"x":${deep}}}` });
    // As a shallow message's would be: 1e2 and 7.0 are the integers 100 and 7; 1.5 is no id.
    for (const [id, echoed] of [['9007199254740993', '9007199254740993'], ['7', '7'], ['"seven"', '"seven"'], ['1e2', '100'], ['7.0', '7'], ['1.5', 'null']]) {
      const res = await send(id!);
      expect([id, res.status, (await res.text()).startsWith(`{"jsonrpc":"2.0","id":${echoed},"error":{"code":-32600,"message":"Invalid Request: the message nests arrays and objects more than 64 levels deep`)]).toEqual([id, 400, true]);
    }
    const within = `${'['.repeat(62)}${']'.repeat(62)}`;
    const ok = await fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"jsonrpc":"2.0","id":9007199254740993,"method":"ping","params":{"x":${within}}}` });
    expect(await ok.text()).toBe('{"jsonrpc":"2.0","id":9007199254740993,"result":{}}');
    // One level more, 65, is refused: as deep as the repeated-name check looks, and no deeper.
    const over = `${'['.repeat(63)}${']'.repeat(63)}`;
    const refused = await fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":${over}}}` });
    expect([refused.status, ((await refused.json()) as { error: { code: number } }).error.code]).toEqual([400, -32600]);
  });
});

describe('ids over stdio', () => {
  let dir: string;
  let ws: string;
  let peer: Awaited<ReturnType<typeof startStdio>>;
  beforeAll(async () => {
    dir = tempDir('hide-ids-');
    ws = join(dir, 'ws');
    await Bun.write(join(ws, '.keep'), '');
    peer = await startStdio(ws);
  });
  afterAll(async () => {
    await peer.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test.each(CASES)('id %s', async (_label, raw, expected) => {
    const from = peer.lines.length;
    peer.send(`{"jsonrpc":"2.0","id":${raw},"method":"ping"}`);
    expect(await peer.line('{', from)).toBe(expected);
  });

  test('a second request with an id in flight is refused; the first runs on and the id is free again after it', async () => {
    const from = peer.lines.length;
    peer.send(waitingCall('1', 'release-1', 'first'));
    peer.send('{"jsonrpc":"2.0","id":1,"method":"ping"}');
    // A string "1" is another id.
    peer.send('{"jsonrpc":"2.0","id":"1","method":"ping"}');
    expect(await peer.line('{"jsonrpc":"2.0","id":1,"error"', from)).toBe(
      '{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"Invalid Request: id 1 belongs to a request still in flight; use a new id for each request"}}',
    );
    expect(await peer.line('{"jsonrpc":"2.0","id":"1"', from)).toBe('{"jsonrpc":"2.0","id":"1","result":{}}');

    writeFileSync(join(ws, 'release-1'), '');
    const first = JSON.parse(await peer.line('{"jsonrpc":"2.0","id":1,"result"', from));
    expect(first.result.structuredContent).toMatchObject({ stdout: 'first\n', exitCode: 0, error: null });

    const again = peer.lines.length;
    peer.send('{"jsonrpc":"2.0","id":1,"method":"ping"}');
    expect(await peer.line('{"jsonrpc":"2.0","id":1,', again)).toBe('{"jsonrpc":"2.0","id":1,"result":{}}');
  });

  test('a cancellation reaches only the call it names, with ids that differ beyond 2^53', async () => {
    const from = peer.lines.length;
    peer.send(waitingCall('9007199254740993', 'release-a', 'a'));
    peer.send(waitingCall('9007199254740992', 'release-b', 'b'));
    peer.send('{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9007199254740993,"reason":"test"}}');
    // A cancelled call gets no reply: its audit line shows it ended, cancelled.
    const audited = () =>
      readFileSync(join(dir, 'audit.jsonl'), { encoding: 'utf8', flag: 'a+' })
        .split('\n')
        .filter((l) => l.includes('release-a'))
        .map((l) => JSON.parse(l) as { error: string | null });
    const [cancelled] = (await waitFor(() => (audited().length > 0 ? audited() : null), 5000, 'the cancelled call ended')) as { error: string | null }[];
    expect(cancelled!.error).toContain('cancelled');

    writeFileSync(join(ws, 'release-b'), '');
    const other = await peer.line('{"jsonrpc":"2.0","id":9007199254740992,', from);
    expect(JSON.parse(other).result.structuredContent).toMatchObject({ stdout: 'b\n', exitCode: 0 });
    // Neither call was refused as a duplicate, and the cancelled one was not answered.
    expect(peer.lines.slice(from).filter((l) => l.includes('-32600') || l.startsWith('{"jsonrpc":"2.0","id":9007199254740993,'))).toEqual([]);
  });
});
