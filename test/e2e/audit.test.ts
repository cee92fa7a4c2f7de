/**
 * The audit log under load: 2 000 calls from 32 concurrent clients, with
 * refusals mixed in, leave exactly one whole, valid JSON line per event, every
 * line with every field — and none of the planted secrets reaches the audit
 * file or the server's logs. Half the clients speak the handshake era, half
 * 2026-07-28, against the same server: auditing runs the same for both.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServerProcess } from '../helpers/process.ts';
import { ERAS, frame, rpc, startServer, tempDir, waitFor } from '../helpers/server.ts';

const FIELDS = ['timestamp', 'event_type', 'correlation_id', 'client_id', 'client_ip', 'api_key_hash', 'user', 'tool_name', 'arguments', 'result', 'error'];
const keys = Array.from({ length: 32 }, (_, i) => `audit-key-${i}-${crypto.randomUUID()}`);
const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAx4Ue1fakefakefake\n-----END RSA PRIVATE KEY-----';
const GHP = `ghp_${'A1b2C3d4E5'.repeat(3)}abcdef`;
const AKIA = 'AKIAIOSFODNN7EXAMPLE';
const PASSWORD = 'hunter2-very-secret';

let dir: string;
let server: Awaited<ReturnType<typeof startServerProcess>>;
beforeAll(async () => {
  dir = tempDir();
  writeFileSync(join(dir, 'keys.json'), JSON.stringify({ clients: keys.map((k, i) => ({ client_id: `c${i}`, api_key: k, enabled: true })) }));
  server = await startServerProcess({
    cwd: dir,
    env: {
      HIDE_AUTH_ENABLED: 'true',
      HIDE_API_KEYS_FILE: join(dir, 'keys.json'),
      HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'),
      HIDE_RATE_LIMIT_RPM: '45',
      HIDE_RATE_LIMIT_CONCURRENT: '3',
      // All 32 clients share 127.0.0.1; this test counts one line per refusal.
      HIDE_AUDIT_REFUSALS_PER_ADDRESS: '100000',
      HIDE_AUDIT_REFUSALS_PER_MINUTE: '100000',
      HIDE_LOG_LEVEL: 'debug',
    },
  });
});
afterAll(() => server.stop());

test('2 000 calls from 32 clients in both eras: one whole line per event, no secret in audit or logs', async () => {
  const statuses: number[] = [];
  const answers = ERAS.map(() => ({ ok: 0, framedOk: 0, unauthorized: 0, limited: 0 }));
  const perClient = 2000 / 32;
  let n = 0;
  await Promise.all(
    keys.map(async (key, c) => {
      for (let i = 0; i < Math.ceil(perClient) && n < 2000; i++) {
        n++;
        const wrongKey = i % 10 === 9;
        const era = ERAS[c % ERAS.length]!;
        const request = frame(
          era,
          {
            jsonrpc: '2.0',
            id: i,
            method: 'tools/call',
            params: {
              name: 'shell_execute',
              arguments: {
                command: 'echo',
                arguments: [`password=${PASSWORD}`, GHP, AKIA, PEM, keys[(c + 1) % 32]!, `https://bob:${PASSWORD}@example.com/x`],
                user: `dev-${c}`,
                correlationId: `c${c}-${i}`,
              },
            },
          },
          { 'content-type': 'application/json', 'x-api-key': wrongKey ? `${key}-wrong` : key },
        );
        const res = await fetch(`${server.url}/mcp`, { method: 'POST', headers: request.headers, body: request.body });
        const body = (await res.json()) as any;
        statuses.push(res.status);
        const seen = answers[c % ERAS.length]!;
        if (res.status === 200) {
          seen.ok++;
          if (body.result?.resultType === (era === 'modern' ? 'complete' : undefined)) seen.framedOk++;
        }
        if (res.status === 401) seen.unauthorized++;
        if (res.status === 429) seen.limited++;
      }
    }),
  );
  expect(statuses).toHaveLength(2000);
  // The writer flushes once per event-loop turn; wait for the lines, not for time.
  await waitFor(() => readFileSync(join(dir, "audit.jsonl"), "utf8").split("\n").filter((l) => l !== "").length >= 2000, 5000, "audit lines");
  const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8').split('\n').filter((l) => l !== '');
  const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(events).toHaveLength(2000);
  for (const e of events) {
    for (const f of FIELDS) expect(e).toHaveProperty(f);
    expect(e.timestamp as string).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  const count = (type: string) => events.filter((e) => e.event_type === type).length;
  expect(count('tool_call')).toBe(statuses.filter((s) => s === 200).length);
  expect(count('auth_failure')).toBe(statuses.filter((s) => s === 401).length);
  expect(count('rate_limit_exceeded')).toBe(statuses.filter((s) => s === 429).length);
  expect(count('auth_failure')).toBeGreaterThan(0);
  expect(count('rate_limit_exceeded')).toBeGreaterThan(0);
  // Each era was answered in its own framing, and met both refusals.
  for (const seen of answers) {
    expect(seen.framedOk).toBe(seen.ok);
    expect([seen.ok, seen.unauthorized, seen.limited].every((n) => n > 0)).toBe(true);
  }

  const audit = lines.join('\n');
  const logs = server.logs();
  for (const secret of [...keys, PASSWORD, GHP, AKIA, 'MIIEpAIBAAKCAQEAx4Ue1fakefakefake']) {
    expect(audit.includes(secret)).toBe(false);
    expect(logs.includes(secret)).toBe(false);
  }
  const call = events.find((e) => e.event_type === 'tool_call')!;
  expect(call.api_key_hash as string).toMatch(/^[0-9a-f]{64}$/);
  // A wrong key leaves no digest behind: a mistyped key or a password sent by mistake is guessed back from it.
  expect(new Set(events.filter((e) => e.event_type === 'auth_failure').map((e) => e.api_key_hash))).toEqual(new Set([null]));
  expect(call.user as string).toMatch(/^dev-\d+$/);
}, 120_000);

test('file contents and process input never reach the audit log, even when the call is refused as invalid — its error does not quote them — in either era', async () => {
  await using s = await startServer();
  const content = `secret file body ${crypto.randomUUID()}`;
  const pin = 904_173;
  for (const era of ERAS) {
    await rpc(s.mcpUrl, 'tools/call', { name: 'write_file', arguments: { path: `a-${era}.txt`, content, createOnly: 'not-a-boolean' } }, {}, era);
    await rpc(s.mcpUrl, 'tools/call', { name: 'write_file', arguments: { path: `b-${era}.txt`, content } }, {}, era);
    await rpc(s.mcpUrl, 'tools/call', { name: 'edit_file', arguments: { path: `b-${era}.txt`, edits: [{ oldText: 'secret', newText: content }] } }, {}, era);
    // Of the wrong type: the schema's message would say what it received.
    await rpc(s.mcpUrl, 'tools/call', { name: 'edit_file', arguments: { path: `b-${era}.txt`, edits: content } }, {}, era);
    await rpc(s.mcpUrl, 'tools/call', { name: 'edit_file', arguments: { path: `b-${era}.txt`, edits: [{ oldText: 7, newText: pin }] } }, {}, era);
    const refused = await rpc(s.mcpUrl, 'tools/call', { name: 'write_file', arguments: { path: `c-${era}.txt`, content: pin } }, {}, era);
    // The caller still learns what is wrong and where.
    expect(refused.body.result.structuredContent.error).toMatch(/Expected string but received \(a value not shown\) → at content/);
    await rpc(s.mcpUrl, 'tools/call', { name: 'process_write', arguments: { processId: 'p-none', input: pin } }, {}, era);
    // Under a name the tool does not take: refused, and kept out of the line as a size, as the right name is.
    const misnamed = await rpc(s.mcpUrl, 'tools/call', { name: 'write_file', arguments: { path: `d-${era}.txt`, Content: content } }, {}, era);
    expect(misnamed.body.result.structuredContent.error).toContain('Unknown argument (did you mean content?): this tool takes path, content, createOnly → at Content');
    await rpc(s.mcpUrl, 'tools/call', { name: 'process_write', arguments: { processId: 'p-none', data: `${pin}\n` } }, {}, era);
  }
  const calls = 9 * ERAS.length;
  const lines = await waitFor(() => {
    const text = readFileSync(s.auditFile, 'utf8');
    return text.split('\n').filter((l) => l.includes('"tool_call"')).length >= calls ? text : null;
  }, 3000, `${calls} audit lines`);
  expect(lines).not.toContain(content);
  expect(lines).not.toContain(String(pin));
  expect(lines).toContain('"write_file"');
  expect(lines).toContain('"Content":{"omitted":true');
});

// A request shaped to look one way to a gateway in front and another here (a name given twice, routing headers that
// disagree with the body) left no trace but an anonymous count by status: each tools/call refused once its message
// was read is a line of its own, naming the client and the tool it named.
test('a tools/call refused once its message was read leaves a request_refused line with its code and status; nothing runs; a refused tools/list leaves none', async () => {
  const key = 'k'.repeat(40);
  const dirKeys = tempDir();
  writeFileSync(join(dirKeys, 'keys.json'), JSON.stringify({ clients: [{ client_id: 'alice', api_key: key }] }));
  await using s = await startServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: join(dirKeys, 'keys.json') });
  const touch = (name: string) => ({ command: 'touch', arguments: [name] });
  const post = async (body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', 'x-api-key': key, ...headers }, body });
    const answer = (await res.json()) as { error?: { code: number } };
    return { status: res.status, code: answer.error?.code ?? null };
  };
  const call = (params: unknown) => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params });
  const modern = frame('modern', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'shell_execute', arguments: touch('ran-modern') } });
  const answers = [
    await post(call({ name: 'no_such_tool', arguments: {} })),
    await post(call({ arguments: touch('ran-nameless') })),
    await post(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"check_file_exists","name":"shell_execute","arguments":${JSON.stringify(touch('ran-twice'))}}}`),
    await post(modern.body, { ...modern.headers, 'mcp-name': 'check_file_exists' }),
    await post(call({ name: 'shell_execute', arguments: touch('ran-text') }), { 'content-type': 'text/plain' }),
    await post(`[${call({ name: 'shell_execute', arguments: touch('ran-batch') })}]`),
    await post(JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/list', params: {} }), { 'mcp-method': 'tools/call' }),
  ];
  expect(answers.map((a) => a.status)).toEqual([200, 200, 400, 400, 415, 400, 400]);
  const lines = (await waitFor(() => {
    const found = readFileSync(s.auditFile, 'utf8').split('\n').filter((l) => l.includes('"request_refused"'));
    return found.length >= 6 ? found.map((l) => JSON.parse(l)) : null;
  }, 3000, 'six request_refused lines'))!;
  expect(lines.map((l) => [l.client_id, l.tool_name, l.result])).toEqual([
    ['alice', 'no_such_tool', { code: answers[0]!.code, status: 200 }],
    ['alice', null, { code: answers[1]!.code, status: 200 }],
    ['alice', 'shell_execute', { code: answers[2]!.code, status: 400 }],
    ['alice', 'shell_execute', { code: -32020, status: 400 }],
    ['alice', 'shell_execute', { code: answers[4]!.code, status: 415 }],
    ['alice', 'shell_execute', { code: answers[5]!.code, status: 400 }],
  ]);
  expect(lines.every((l) => typeof l.error === 'string' && l.api_key_hash !== null)).toBe(true);
  expect(readdirSync(s.workspace).filter((f) => f.startsWith('ran-'))).toEqual([]);
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  expect(metrics).toContain('hide_refused_calls_total 6');
});

// A misspelt flag was dropped and the call run without it: `"dryrun": true` made a preview into a write.
test('an argument a tool does not take is refused, naming the one meant; nothing runs', async () => {
  await using s = await startServer();
  writeFileSync(join(s.workspace, 'keep.txt'), 'before\n');
  const r = await rpc(s.mcpUrl, 'tools/call', { name: 'edit_file', arguments: { path: 'keep.txt', edits: [{ oldText: 'before', newText: 'after' }], dryrun: true } });
  expect(r.body.result).toMatchObject({ isError: true, structuredContent: { error: expect.stringContaining('Unknown argument (did you mean dryRun?): this tool takes path, edits, dryRun → at dryrun') } });
  expect(readFileSync(join(s.workspace, 'keep.txt'), 'utf8')).toBe('before\n');
  const none = await rpc(s.mcpUrl, 'tools/call', { name: 'process_list', arguments: { all: true } });
  expect(none.body.result.structuredContent.error).toContain('Unknown argument: this tool takes no arguments → at all');
  // Inside the arguments too: an edit's or a terminal's names.
  const nested = await rpc(s.mcpUrl, 'tools/call', { name: 'edit_file', arguments: { path: 'keep.txt', edits: [{ oldText: 'before', newtext: 'after' }] } });
  expect(nested.body.result.structuredContent.error).toContain('Unknown name (did you mean newText?): this object takes oldText, newText → at edits.0.newtext');
  const terminal = await rpc(s.mcpUrl, 'tools/call', { name: 'process_start', arguments: { command: 'true', terminal: { cols: 80, rows: 24, colour: true } } });
  expect(terminal.body.result.structuredContent.error).toContain('Unknown name: this object takes cols, rows → at terminal');
  expect(readFileSync(join(s.workspace, 'keep.txt'), 'utf8')).toBe('before\n');
  // A name of megabytes is refused as any other (its "did you mean" once cost the event loop minutes).
  const long = await rpc(s.mcpUrl, 'tools/call', { name: 'process_start', arguments: { command: 'true', ['x'.repeat(4_000_000)]: 1 } });
  expect(long.body.result.structuredContent.error).toStartWith('Invalid arguments for tool process_start: × Unknown argument: this tool takes command, arguments,');
  // Listed as such: clients see that no other name is taken.
  const listed = await rpc(s.mcpUrl, 'tools/list', {});
  for (const tool of listed.body.result.tools) expect([tool.name, tool.inputSchema.additionalProperties]).toEqual([tool.name, false]);
});

// The audit line named only the path as sent: an edit through a link that changed another file left that file's
// name out of the log.
test('a file tool that reached another file than the path it was given (a link, a linked parent) names it in its result', async () => {
  await using s = await startServer();
  mkdirSync(join(s.workspace, 'team'));
  writeFileSync(join(s.workspace, 'team', 'app.env'), 'DEBUG=false\n');
  symlinkSync('team/app.env', join(s.workspace, 'notes.txt'));
  symlinkSync('team', join(s.workspace, 'shortcut'));
  const calls: Array<[string, Record<string, unknown>]> = [
    ['edit_file', { path: 'notes.txt', edits: [{ oldText: 'false', newText: 'true' }] }],
    ['read_file', { path: 'notes.txt' }],
    ['write_file', { path: 'shortcut/new.txt', content: 'x' }],
    ['read_file', { path: 'team/app.env' }],
  ];
  for (const [name, args] of calls) expect((await rpc(s.mcpUrl, 'tools/call', { name, arguments: args })).body.result.isError).toBe(false);
  const lines = await waitFor(() => {
    const found = readFileSync(s.auditFile, 'utf8').split('\n').filter((l) => l.includes('"tool_call"')).map((l) => JSON.parse(l));
    return found.length >= calls.length ? found : null;
  }, 15_000, 'the audit lines');
  expect(lines!.map((l: any) => [l.tool_name, l.arguments.path, l.result.path])).toEqual([
    ['edit_file', 'notes.txt', 'team/app.env'],
    ['read_file', 'notes.txt', 'team/app.env'],
    ['write_file', 'shortcut/new.txt', 'team/new.txt'],
    // Reached as sent: nothing more to say.
    ['read_file', 'team/app.env', undefined],
  ]);
});
