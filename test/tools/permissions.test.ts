/**
 * Who may write: server-wide read-only mode hides and refuses the write tools;
 * a keys-file client marked `readOnly` (or limited by `tools`) sees only what
 * it may call, and a call to anything else gets 403 / -32003 and a
 * `permission_denied` audit line.
 */
import { describe, expect, test } from 'bun:test';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { auditLines, startServer, tree } from './helpers.ts';

const READ_TOOLS = ['check_file_exists', 'list_directory', 'read_file', 'search_files', 'shell_get_available_tools'];
const WRITE_CALLS: Array<[string, Record<string, unknown>]> = [
  ['write_file', { path: 'new.txt', content: 'x' }],
  ['edit_file', { path: 'a.txt', edits: [{ oldText: 'a', newText: 'b' }] }],
  ['shell_execute', { command: 'touch', arguments: ['touched'] }],
];

describe('read-only mode (HIDE_READ_ONLY=true)', () => {
  test('lists no write_file, edit_file or shell_execute, and refuses calls to them', async () => {
    using t = tree();
    writeFileSync(join(t.ws, 'a.txt'), 'a');
    await using s = await startServer(t, { HIDE_READ_ONLY: 'true' });
    const names = ((await s.rpc('tools/list')).body.result.tools as any[]).map((x) => x.name).sort();
    expect(names).toEqual(READ_TOOLS);
    for (const [name, args] of WRITE_CALLS) {
      const r = await s.rpc('tools/call', { name, arguments: args });
      expect(r.body.error?.message).toBe(`Unknown tool: ${name}`);
    }
    expect(existsSync(join(t.ws, 'new.txt'))).toBe(false);
    expect(existsSync(join(t.ws, 'touched'))).toBe(false);
    expect((await s.call('read_file', { path: 'a.txt' })).content).toBe('a');
  });
});

describe('per-client permissions from the keys file', () => {
  const roKey = 'ro-client-key-0123456789abcdefghijklmnopqrstuv';
  const searchKey = 'search-only-key-0123456789abcdefghijklmnopqr';
  const rwKey = 'rw-client-key-0123456789abcdefghijklmnopqrstuv';
  const noneKey = 'no-tools-key-0123456789abcdefghijklmnopqrstuv';

  async function server() {
    const t = tree();
    writeFileSync(join(t.ws, 'a.txt'), 'a');
    const keys = join(t.dir, 'keys.json');
    writeFileSync(
      keys,
      JSON.stringify({
        clients: [
          { client_id: 'ro', enabled: true, api_key: roKey, readOnly: true },
          { client_id: 'searcher', enabled: true, api_key: searchKey, tools: ['read_file', 'search_files'] },
          { client_id: 'rw', enabled: true, api_key: rwKey },
          { client_id: 'none', enabled: true, api_key: noneKey, tools: [] },
        ],
      }),
    );
    const s = await startServer(t, { HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keys });
    return {
      t,
      s,
      async [Symbol.asyncDispose]() {
        await s.stop();
        t[Symbol.dispose]();
      },
    };
  }

  async function listWithSdk(url: string, key: string): Promise<string[]> {
    const client = new Client({ name: 'permissions-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { 'X-API-Key': key } } }));
    try {
      return (await client.listTools()).tools.map((x) => x.name).sort();
    } finally {
      await client.close();
    }
  }

  test('a readOnly client sees only read tools; its write calls get 403 / -32003 and a permission_denied audit line', async () => {
    await using env = await server();
    const { s, t } = env;
    expect(await listWithSdk(s.url, roKey)).toEqual(READ_TOOLS);
    for (const [name, args] of WRITE_CALLS) {
      const r = await s.rpc('tools/call', { name, arguments: args }, { 'X-API-Key': roKey });
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe(-32003);
    }
    expect(existsSync(join(t.ws, 'new.txt'))).toBe(false);
    expect(existsSync(join(t.ws, 'touched'))).toBe(false);
    expect((await s.call('read_file', { path: 'a.txt' }, { 'X-API-Key': roKey })).content).toBe('a');
    await s.rt.audit.flush();
    const denied = (await auditLines(t.audit)).filter((l) => l.event_type === 'permission_denied');
    expect(denied.map((l) => [l.client_id, l.tool_name])).toEqual(WRITE_CALLS.map(([name]) => ['ro', name]));
  });

  test('a client limited by `tools` sees and may call only those', async () => {
    await using env = await server();
    const { s } = env;
    expect(await listWithSdk(s.url, searchKey)).toEqual(['read_file', 'search_files']);
    const r = await s.rpc('tools/call', { name: 'list_directory', arguments: {} }, { 'X-API-Key': searchKey });
    expect([r.status, r.body.error.code]).toEqual([403, -32003]);
    expect((await s.call('search_files', { pattern: 'a' }, { 'X-API-Key': searchKey })).matches).toEqual([{ path: 'a.txt', line: 1, column: 1, text: 'a' }]);
  });

  test("a refused call's audit line takes the arguments' correlationId and user only when they follow the rules", async () => {
    await using env = await server();
    const { s, t } = env;
    const refuse = (args: Record<string, unknown>, correlation: string) =>
      s.rpc('tools/call', { name: 'list_directory', arguments: args }, { 'X-API-Key': searchKey, 'X-Correlation-ID': correlation });
    expect((await refuse({ correlationId: 'asked-1', user: 'alice' }, 'header-1')).status).toBe(403);
    // A correlation id with a newline or past 128 characters, a user past 200: the header's id, no user.
    for (const [i, args] of [{ correlationId: 'two\nlines', user: 'u'.repeat(201) }, { correlationId: 'c'.repeat(129), user: '' }].entries()) {
      expect((await refuse(args, `header-bad-${i}`)).status).toBe(403);
    }
    await s.rt.audit.flush();
    const denied = (await auditLines(t.audit)).filter((l) => l.event_type === 'permission_denied');
    expect(denied.map((l) => [l.correlation_id, l.user])).toEqual([
      ['asked-1', 'alice'],
      ['header-bad-0', null],
      ['header-bad-1', null],
    ]);
  });

  test('a client with an empty `tools` list sees no tool and may call none (empty is nothing, not everything)', async () => {
    await using env = await server();
    const { s, t } = env;
    expect(await listWithSdk(s.url, noneKey)).toEqual([]);
    for (const [name, args] of [['read_file', { path: 'a.txt' }], ...WRITE_CALLS] as Array<[string, Record<string, unknown>]>) {
      const r = await s.rpc('tools/call', { name, arguments: args }, { 'X-API-Key': noneKey });
      expect([name, r.status, r.body.error?.code]).toEqual([name, 403, -32003]);
    }
    expect(existsSync(join(t.ws, 'new.txt'))).toBe(false);
  });

  test('a client with no restriction sees and may call the write tools', async () => {
    await using env = await server();
    const { s, t } = env;
    expect(await listWithSdk(s.url, rwKey)).toEqual([...READ_TOOLS, 'edit_file', 'process_kill', 'process_list', 'process_read', 'process_start', 'process_write', 'shell_execute', 'shell_execute_json', 'write_file'].sort());
    expect((await s.call('write_file', { path: 'new.txt', content: 'x' }, { 'X-API-Key': rwKey })).isError).toBe(false);
    expect(existsSync(join(t.ws, 'new.txt'))).toBe(true);
  });
});
