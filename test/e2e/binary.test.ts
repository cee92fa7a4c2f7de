/**
 * The compiled binary, end to end: alone in an empty directory it serves
 * /health and the seed's curl example; the SDK's own clients list and call the
 * tools over Streamable HTTP and over stdio; the server's environment never
 * reaches a command; a command printing gigabytes leaves memory bounded.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ensureBinary, startBinary } from '../helpers/binary.ts';
import { tempDir, waitFor } from '../helpers/server.ts';

const TOOLS = ['check_file_exists', 'shell_execute', 'shell_execute_json', 'shell_get_available_tools'];
let dir: string;
let bin: string;
let server: Awaited<ReturnType<typeof startBinary>>;

beforeAll(async () => {
  dir = tempDir('hide-bin-');
  bin = join(dir, 'hide');
  copyFileSync(await ensureBinary(), bin);
  server = await startBinary({ cwd: dir, env: { CANARY_SECRET: 'canary-value-1234', HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl') } });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function rssKb(pid: number, field = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

describe('dist/hide alone in an empty directory', () => {
  test('serves /health', async () => {
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'healthy' });
  });

  test('a second server on the same port fails to start (exit 1) rather than share the port and a part of its requests', async () => {
    const port = new URL(server.url).port;
    const second = Bun.spawn([bin, 'serve', '--port', port], { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HIDE_AUDIT_LOG_FILE: join(dir, 'audit-2.jsonl') }, stdout: 'pipe', stderr: 'pipe' });
    const timer = setTimeout(() => second.kill('SIGKILL'), 10_000);
    const [code, stderr] = await Promise.all([second.exited, new Response(second.stderr).text()]);
    clearTimeout(timer);
    expect({ code, stderr }).toMatchObject({ code: 1, stderr: expect.stringContaining(`cannot listen on 127.0.0.1:${port}`) });
  });

  test("answers the seed's curl example (tools/list, no initialize, only Content-Type)", async () => {
    // The seed's command line when curl is installed; the same request through fetch otherwise.
    const text = Bun.which('curl')
      ? await Bun.spawn(
          ['curl', '-s', '-X', 'POST', `${server.url}/`, '-H', 'Content-Type: application/json', '-d', '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'],
          { stdout: 'pipe' },
        ).stdout.text()
      : await (await fetch(`${server.url}/`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' })).text();
    const body = JSON.parse(text);
    expect(body.id).toBe(1);
    expect(body.result.tools.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(TOOLS));
    for (const tool of body.result.tools) {
      expect(tool.inputSchema.type).toBe('object');
      expect(typeof tool.annotations.readOnlyHint).toBe('boolean');
      expect(typeof tool.annotations.destructiveHint).toBe('boolean');
      expect(typeof tool.annotations.openWorldHint).toBe('boolean');
    }
  });

  test('the server environment never reaches a command', async () => {
    const client = new Client({ name: 'test', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`)));
    const r = await client.callTool({ name: 'shell_execute', arguments: { command: 'env' } });
    const out = (r.structuredContent as { stdout: string }).stdout;
    expect(out).not.toContain('CANARY_SECRET');
    expect(out).not.toContain('canary-value-1234');
    expect(out).toContain('TERM=dumb');
    await client.close();
  });

  test('a command printing 2 GB returns truncated while server memory stays bounded', async () => {
    const before = rssKb(server.proc.pid);
    const res = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'head', arguments: ['-c', '2000000000', '/dev/zero'], timeoutSeconds: 120 } } }),
    });
    const body = (await res.json()) as any;
    expect(body.result.structuredContent.truncated).toBe(true);
    expect(body.result.structuredContent.timedOut).toBe(false);
    const peak = rssKb(server.proc.pid, 'VmHWM');
    // The cap is 256 KiB per stream, so what grows is transient: Bun's own pipe
    // reads (garbage collected every 32 MiB dropped, util/gc-pressure.ts) and
    // the ~3.4 MB JSON answer (256 KiB of NULs escaped twice). Unbounded
    // buffering would be 2 GB.
    console.log(`peak RSS growth ${((peak - before) / 1024).toFixed(1)} MB`);
    expect((peak - before) / 1024).toBeLessThan(100);
  }, 120_000);
});

describe('SDK clients', () => {
  test('Streamable HTTP: initialize, list and call', async () => {
    const client = new Client({ name: 'test', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`)));
    expect(client.getServerVersion()?.name).toBe('hide');
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(TOOLS));
    const r = await client.callTool({ name: 'shell_execute', arguments: { command: 'echo', arguments: ['hello'] } });
    expect(r.isError).toBe(false);
    expect(r.structuredContent).toMatchObject({ stdout: 'hello\n', exitCode: 0 });
    const bad = await client.callTool({ name: 'shell_execute', arguments: { command: 'definitely-missing' } });
    expect(bad.isError).toBe(true);
    await client.close();
  });

  test('stdio: dist/hide stdio lists and calls; stdout carries only MCP', async () => {
    const transport = new StdioClientTransport({
      command: bin,
      args: ['stdio', '--workspace', dir],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HIDE_LOG_LEVEL: 'debug', HIDE_AUDIT_LOG_FILE: join(dir, 'stdio-audit.jsonl') },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'test', version: '1' });
    await client.connect(transport);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(TOOLS));
    const r = await client.callTool({ name: 'shell_execute', arguments: { command: 'echo', arguments: ['over stdio'] } });
    expect(r.structuredContent).toMatchObject({ stdout: 'over stdio\n', exitCode: 0 });
    await client.close();
    const read = () => (existsSync(join(dir, 'stdio-audit.jsonl')) ? readFileSync(join(dir, 'stdio-audit.jsonl'), 'utf8') : '');
    await waitFor(() => read().includes('"tool_call"'), 5000, 'stdio audit line');
    const audit = read().trim().split('\n').map((l) => JSON.parse(l));
    expect(audit.at(-1)).toMatchObject({ event_type: 'tool_call', client_id: 'stdio', tool_name: 'shell_execute' });
  });

  test('stdio: a piped request and closed stdin still gets its answer', async () => {
    const proc = Bun.spawn([bin, 'stdio', '--workspace', dir], {
      stdin: new TextEncoder().encode(
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"shell_execute","arguments":{"command":"echo","arguments":["piped"]}}}\nnot json\n',
      ),
      stdout: 'pipe',
      stderr: 'pipe',
      env: { PATH: process.env.PATH ?? '', HIDE_AUDIT_LOG_ENABLED: 'false' },
    });
    const [out, , code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
    expect(code).toBe(0);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines.find((l) => l.id === 1).result.structuredContent.stdout).toBe('piped\n');
    expect(lines.find((l) => l.id === null).error.code).toBe(-32700);
  });
});

describe('CLI', () => {
  test('a bad setting exits 2 naming each setting', async () => {
    const proc = Bun.spawn([bin, 'serve'], { cwd: dir, env: { HIDE_PORT: 'abc', SECURITY_RATE_LIMIT_RPM: 'zero' }, stderr: 'pipe' });
    const [err, code] = await Promise.all([proc.stderr.text(), proc.exited]);
    expect(code).toBe(2);
    expect(err).toContain('HIDE_PORT');
    expect(err).toContain('SECURITY_RATE_LIMIT_RPM');
  });

  test('--host 0.0.0.0 with auth off refuses to start', async () => {
    const proc = Bun.spawn([bin, 'serve', '--host', '0.0.0.0'], { cwd: dir, env: {}, stderr: 'pipe' });
    const [err, code] = await Promise.all([proc.stderr.text(), proc.exited]);
    expect(code).toBe(2);
    expect(err).toContain('refusing to listen on non-loopback host 0.0.0.0 with authentication off');
  });

  test('check-config masks the key', async () => {
    const proc = Bun.spawn([bin, 'check-config'], { cwd: dir, env: { Authentication__ApiKey__Key: 'super-secret-key-123' }, stdout: 'pipe' });
    const [out, code] = await Promise.all([proc.stdout.text(), proc.exited]);
    expect(code).toBe(0);
    expect(out).not.toContain('super-secret-key-123');
    expect(JSON.parse(out).config.auth.apiKey).toBe('********');
  });

  test('health exits 0 against a running server and 1 against nothing', async () => {
    const ok = Bun.spawn([bin, 'health', '--url', `${server.url}/health`]);
    expect(await ok.exited).toBe(0);
    const bad = Bun.spawn([bin, 'health', '--url', 'http://127.0.0.1:1/health'], { stderr: 'pipe' });
    expect(await bad.exited).toBe(1);
  });

  test('version and --help', async () => {
    const v = Bun.spawn([bin, '--version'], { stdout: 'pipe' });
    expect((await v.stdout.text()).trim()).toMatch(/^\d+\.\d+\.\d+/);
    const h = Bun.spawn([bin, 'serve', '--help'], { stdout: 'pipe' });
    expect(await h.stdout.text()).toContain('Usage: hide serve');
  });
});
