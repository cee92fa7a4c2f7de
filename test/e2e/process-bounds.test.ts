/**
 * Long-running processes kept apart and bounded, through the real server:
 * one client cannot reach another's process by its handle, the per-client
 * cap refuses the next start, the env allow list holds, the sandbox holds
 * for a started process exactly as for shell_execute, and SIGTERM to the
 * server leaves no process behind and records every end.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startServerProcess } from '../helpers/process.ts';
import { rpc, startServer, type TestServer, tempDir, waitFor } from '../helpers/server.ts';

const KEY_A = 'a'.repeat(43);
const KEY_B = 'b'.repeat(43);

function pgrep(pattern: string): number[] {
  const r = Bun.spawnSync(['pgrep', '-f', `^[^ ]*${pattern}`]);
  return new TextDecoder().decode(r.stdout).split('\n').filter(Boolean).map(Number);
}

async function clientFor(url: string, key: string) {
  const client = new Client({ name: 'test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'X-API-Key': key } } }));
  const call = async (name: string, args: Record<string, unknown>): Promise<Record<string, any>> => {
    const r = await client.callTool({ name, arguments: args });
    return { ...(r.structuredContent as Record<string, any>), isError: r.isError === true };
  };
  return { client, call };
}

describe('two clients and the caps', () => {
  let keysDir: string;
  let server: TestServer;
  let a: Awaited<ReturnType<typeof clientFor>>;
  let b: Awaited<ReturnType<typeof clientFor>>;

  beforeAll(async () => {
    keysDir = tempDir();
    const keysFile = join(keysDir, 'keys.json');
    writeFileSync(keysFile, JSON.stringify({ clients: [{ client_id: 'alice', api_key: KEY_A, enabled: true }, { client_id: 'bob', api_key: KEY_B, enabled: true }] }));
    server = await startServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keysFile, HIDE_PROCESS_MAX_PER_CLIENT: '2' });
    a = await clientFor(server.mcpUrl, KEY_A);
    b = await clientFor(server.mcpUrl, KEY_B);
  });
  afterAll(async () => {
    await a?.client.close();
    await b?.client.close();
    await server?.stop();
    rmSync(keysDir, { recursive: true, force: true });
  });

  test("client B cannot read, write, list or kill A's process: the answer is a wrong handle's", async () => {
    const s = await a.call('process_start', { command: 'sleep', arguments: ['1000.4242'] });
    expect(s.isError).toBe(false);
    const wrong = s.processId.replace(/^p-[0-9a-f]{32}/, `p-${'0'.repeat(32)}`);
    const same = (r: Record<string, any>, id: string) => r.error.replaceAll(id, 'ID');
    for (const [tool, extra] of [
      ['process_read', {}],
      ['process_write', { input: 'x\n' }],
      ['process_kill', { signal: 'SIGKILL' }],
    ] as const) {
      const theirs = await b.call(tool, { processId: s.processId, ...extra });
      const bogus = await b.call(tool, { processId: wrong, ...extra });
      expect(theirs.isError).toBe(true);
      expect(theirs.error).toContain('not found');
      expect(same(theirs, s.processId)).toBe(same(bogus, wrong));
    }
    expect((await b.call('process_list', {})).processes).toEqual([]);
    // Still running, still A's.
    const mine = await a.call('process_list', {});
    expect(mine.processes).toEqual([expect.objectContaining({ processId: s.processId, status: 'running' })]);
    // A's own write is audited as its size, never its text nor anything a guess can be checked against: an attacker
    // with the log who hashes candidate passwords finds none of these digests of the input in it.
    expect((await a.call('process_write', { processId: s.processId, input: 'typed-password-42\n' })).bytes).toBe(18);
    expect((await a.call('process_kill', { processId: s.processId })).status).toBe('killed');
    const write = (await waitFor(
      () => readFileSync(server.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.tool_name === 'process_write' && e.client_id === 'alice'),
      5000,
      'the audit line of the write',
    )) as Record<string, any>;
    const log = readFileSync(server.auditFile, 'utf8');
    expect(log).not.toContain('typed-password-42');
    const digests = ['typed-password-42\n', 'typed-password-42'].flatMap((text) =>
      (['md5', 'sha1', 'sha256', 'sha512'] as const).flatMap((alg) => {
        const d = new Bun.CryptoHasher(alg).update(text);
        return [d.copy().digest('hex'), d.digest('base64')];
      }),
    );
    expect(digests.filter((d) => log.includes(d))).toEqual([]);
    expect(write.arguments).toEqual({ processId: s.processId, inputBytes: 18, closeStdin: false });
  });

  test('a handle naming another instance says so', async () => {
    const r = await a.call('process_read', { processId: `p-${'1'.repeat(32)}@other-replica` });
    expect(r).toMatchObject({ isError: true });
    expect(r.error).toContain("instance 'other-replica'");
  });

  test('the per-client cap refuses the next start with 429 and a clear message; another client is not affected', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push((await a.call('process_start', { command: 'sleep', arguments: ['1000.4343'] })).processId);
    const refused = await rpc(server.mcpUrl, 'tools/call', { name: 'process_start', arguments: { command: 'sleep', arguments: ['1000.4343'] } }, { 'X-API-Key': KEY_A });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe(-31429);
    expect(refused.body.error.message).toContain('HIDE_PROCESS_MAX_PER_CLIENT');
    expect(refused.body.error.data).toMatchObject({ reason: 'processes-per-client', limit: 'processes-per-client', max: 2 });
    const other = await b.call('process_start', { command: 'sleep', arguments: ['1000.4343'] });
    expect(other.isError).toBe(false);
    for (const id of ids) await a.call('process_kill', { processId: id, signal: 'SIGKILL' });
    await b.call('process_kill', { processId: other.processId, signal: 'SIGKILL' });
    expect(pgrep('sleep 1000.4343')).toEqual([]);
  });

  test('env outside the allow list, or one the server owns, is refused before anything runs', async () => {
    const bad = await a.call('process_start', { command: 'env', env: { LD_PRELOAD: '/tmp/x.so' } });
    expect(bad).toMatchObject({ isError: true });
    expect(bad.error).toContain('LD_PRELOAD');
    const notListed = await a.call('process_start', { command: 'env', env: { SECRET_THING: '1' } });
    expect(notListed.error).toContain('allow list');
    const ok = await a.call('process_start', { command: 'env', env: { NODE_ENV: 'test' } });
    const out = await waitFor(async () => {
      const r = await a.call('process_read', { processId: ok.processId, waitMs: 1000 });
      return r.status === 'exited' ? r : null;
    }) as Record<string, any>;
    expect(out.output).toContain('NODE_ENV=test');
  });

  test('the lifetime and idle limits end a process as timed-out, recorded in the audit log; /metrics counts processes', async () => {
    // Counted while it runs (the other client's: two each): a second's limit could be up before a loaded machine
    // gets to the count.
    const kept = await b.call('process_start', { command: 'sleep', arguments: ['1000.4646'] });
    const life = await a.call('process_start', { command: 'sleep', arguments: ['1000.4646'], timeoutSeconds: 1 });
    const idle = await a.call('process_start', { command: 'sleep', arguments: ['1000.4646'], idleTimeoutSeconds: 1 });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    await b.call('process_kill', { processId: kept.processId, signal: 'SIGKILL' });
    expect(metrics).toMatch(/^hide_processes_running [1-9]/m);
    expect(metrics).toMatch(/^hide_process_buffer_bytes \d+/m);
    const ended: any[] = await waitFor(
      () => {
        const lines = readFileSync(server.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        const ends = lines.filter((e) => e.event_type === 'process_exit' && [life.processId, idle.processId].includes(e.arguments.processId));
        return ends.length === 2 ? ends : null;
      },
      10_000,
      'two process_exit events',
    ) as any[];
    for (const e of ended) expect(e.result.status).toBe('timed-out');
    expect(ended.find((e) => e.arguments.processId === idle.processId).result.reason).toContain('no call read or wrote it');
    const r = await a.call('process_read', { processId: life.processId });
    expect(r).toMatchObject({ status: 'timed-out', isError: false });
    expect(r.reason).toContain('lifetime');
  });

  test('the sandbox holds for a started process as for shell_execute: a file outside the workspace cannot be read', async () => {
    const outside = join(keysDir, 'outside.txt');
    writeFileSync(outside, 'not for commands');
    const shell = await a.call('shell_execute', { command: 'cat', arguments: [outside] });
    const s = await a.call('process_start', { command: 'cat', arguments: [outside] });
    const r = await waitFor(async () => {
      const x = await a.call('process_read', { processId: s.processId, waitMs: 1000 });
      return x.status === 'exited' ? x : null;
    }) as Record<string, any>;
    const health = (await (await fetch(`${server.url}/health`)).json()) as { sandbox: string };
    if (health.sandbox === 'on') {
      // Refused by Landlock, or (as root) not there at all: the file lies in the temp directory, which a root
      // server's commands see holding only their own TMPDIR and the workspace.
      const refused = /Permission denied|No such file or directory/;
      expect(shell.stderr).toMatch(refused);
      expect(r.output).toMatch(refused);
      expect(r.exitCode).not.toBe(0);
    }
    expect(r.output).not.toContain('not for commands');
  });
});

describe('SIGTERM to the server', () => {
  test('with 5 running processes leaves none and records their ends in the audit log', async () => {
    const dir = tempDir();
    const workspace = join(dir, 'ws');
    await Bun.write(join(workspace, '.keep'), '');
    const auditFile = join(dir, 'audit.jsonl');
    const server = await startServerProcess({ cwd: dir, env: { HIDE_WORKSPACE: workspace, HIDE_AUDIT_LOG_FILE: auditFile, HIDE_RATE_LIMIT_ENABLED: 'false' } });
    try {
      for (let i = 0; i < 5; i++) {
        const r = await rpc(`${server.url}/mcp`, 'tools/call', { name: 'process_start', arguments: { command: 'sleep', arguments: ['1000.4545'] } });
        expect(r.body.result.isError).toBe(false);
      }
      await waitFor(() => pgrep('sleep 1000.4545').length === 5, 5000, 'five sleeps');
      await server.stop();
      expect(pgrep('sleep 1000.4545')).toEqual([]);
      const ends = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event_type === 'process_exit');
      expect(ends.length).toBe(5);
      for (const e of ends) expect(e.result).toMatchObject({ status: 'killed', reason: 'the server is shutting down' });
    } finally {
      if (server.proc.exitCode === null) await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
