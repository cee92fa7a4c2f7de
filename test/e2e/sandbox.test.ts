/**
 * The kernel sandbox through the real server (issue 8's must-shows): commands
 * cannot read the server's own files or anything outside the workspace, cannot
 * write outside, cannot reach the network unless allowed, and a bounded
 * process storm ends with its call while other calls keep answering.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { callTool, rpc, startServer, type TestServer, tempDir, waitFor } from '../helpers/server.ts';

const supported = process.platform === 'linux' && landlockAbi() > 0;
const KEY = 'sandbox-test-key-0123456789abcdefghijkl';
// These files lie beside the workspace in the system temp directory: as root, where the launcher shows its commands
// no more of it than their own TMPDIR and the workspace, they are not even there, and writing beside them meets the
// read-only tmpfs (Landlock's refusals as root: test/sandbox/confinement.test.ts, whose TMPDIRs live elsewhere).
const root = process.getuid?.() === 0;
const UNREADABLE = root ? 'No such file or directory' : 'Permission denied';
const UNWRITABLE = root ? 'Read-only file system' : 'Permission denied';

describe.skipIf(!supported)('sandbox on (HIDE_SANDBOX=required)', () => {
  let s: TestServer;
  let outside: string;
  let keysFile: string;
  const h = { 'X-API-Key': KEY };
  const run = (command: string, args: string[] = [], extra: Record<string, unknown> = {}) =>
    callTool(s.mcpUrl, 'shell_execute', { command, arguments: args, ...extra }, h);

  beforeAll(async () => {
    const secrets = tempDir('hide-secrets-');
    keysFile = join(secrets, 'keys.json');
    writeFileSync(keysFile, JSON.stringify({ clients: [{ client_id: 'a', api_key: KEY, enabled: true }] }));
    s = await startServer({ HIDE_SANDBOX: 'required', HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keysFile });
    outside = join(s.dir, 'outside.txt'); // the workspace's parent
    writeFileSync(outside, 'outside secret');
    mkdirSync(join(s.workspace, 'proj'));
    writeFileSync(join(s.workspace, 'proj', 'a.txt'), 'needle here\n');
  });
  afterAll(() => s.stop());

  test('/health reports the sandbox and the Landlock ABI', async () => {
    const body = (await (await fetch(`${s.url}/health`)).json()) as any;
    expect(body).toMatchObject({ sandbox: 'on', landlockAbi: landlockAbi() });
  });

  test.each([
    ['the keys file', () => keysFile],
    ['the audit log', () => s.auditFile],
    ["a file in the workspace's parent", () => outside],
    ['a file via ..', () => '../outside.txt'],
    ['a file via /proc/self/root', () => `/proc/self/root${outside}`],
  ])('cat of %s fails', async (_n, path) => {
    const r = await run('cat', [path()]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(UNREADABLE);
    expect(r.stdout).toBe('');
  });

  test("sh -c 'echo x > ../outside' fails; the same inside the workspace works", async () => {
    const bad = await run('sh', ['-c', 'echo x > ../outside-new']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain(UNWRITABLE);
    const good = await run('sh', ['-c', 'echo x > inside && cat inside']);
    expect(good).toMatchObject({ exitCode: 0, stdout: 'x\n' });
  });

  test('ls, grep, git and an interpreter work inside the workspace', async () => {
    expect((await run('ls', ['proj'])).stdout).toBe('a.txt\n');
    expect((await run('grep', ['-rn', 'needle', 'proj'])).stdout).toContain('proj/a.txt:1:needle here');
    if (Bun.which('git')) {
      const g = await run('sh', ['-c', 'git init -q repo && cd repo && git -c user.email=a@b -c user.name=a commit -q --allow-empty -m x && git log --oneline | wc -l']);
      expect(g.stdout.trim()).toBe('1');
    }
    // An interpreter from a system directory (one under $HOME, like pyenv's, is outside the sandbox).
    const interp = Bun.which('perl', { PATH: '/usr/bin:/bin' }) ? ['/usr/bin/perl', '-e', 'print 6*7, "\\n"'] : ['sh', '-c', 'echo 42'];
    expect((await run(interp[0]!, interp.slice(1))).stdout.trim()).toBe('42');
  });

  test('the server still writes its audit log and reloads its keys file outside the workspace', async () => {
    await waitFor(() => Bun.file(s.auditFile).text().then((t) => t.includes('"tool_call"')), 3000, 'audit line');
    const KEY2 = 'sandbox-second-key-0123456789abcdefghij';
    writeFileSync(keysFile, JSON.stringify({ clients: [{ client_id: 'a', api_key: KEY, enabled: true }, { client_id: 'b', api_key: KEY2, enabled: true }] }));
    await waitFor(async () => (await rpc(s.mcpUrl, 'tools/list', undefined, { 'X-API-Key': KEY2 })).status === 200, 3000, 'reloaded key');
  });

  test('/metrics counts commands running inside the launcher', async () => {
    const gauge = async () => {
      const text = await (await fetch(`${s.url}/metrics`)).text();
      return Number(/^hide_child_processes (\d+)/m.exec(text)?.[1] ?? -1);
    };
    const call = run('sleep', ['2']);
    await waitFor(async () => (await gauge()) >= 1, 3000, 'gauge counts the sandboxed sleep');
    await call;
    expect(await gauge()).toBe(0);
  });

  test('network off: a TCP connect to a listening loopback port fails', async () => {
    const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
    try {
      const r = await run('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${listener.port} && echo connected`]);
      expect(r.stdout).not.toContain('connected');
      expect(r.exitCode).not.toBe(0);
    } finally {
      listener.stop(true);
    }
  });

  test('a bounded storm of 2 000 processes ends with its call while another client keeps answering', async () => {
    const marker = `30.${process.pid}7`;
    const storm = run('sh', ['-c', `for i in $(seq 2000); do sleep ${marker} & done; wait`], { timeoutSeconds: 3 });
    // Meanwhile, other calls keep answering.
    for (let i = 0; i < 5; i++) expect((await run('echo', ['alive'])).stdout).toBe('alive\n');
    const r = await storm;
    expect(r.timedOut || r.exitCode !== 0).toBe(true);
    await waitFor(() => Bun.spawnSync(['pgrep', '-f', `sleep ${marker}`]).stdout.toString().trim() === '', 10_000, 'storm gone');
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  }, 30_000);
});

describe.skipIf(!supported)('sandbox network on', () => {
  test('a TCP connect to a listening loopback port succeeds', async () => {
    await using s = await startServer({ HIDE_SANDBOX: 'required', HIDE_SANDBOX_NETWORK: 'on' });
    const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
    try {
      const r = await callTool(s.mcpUrl, 'shell_execute', { command: 'bash', arguments: ['-c', `exec 3<>/dev/tcp/127.0.0.1/${listener.port} && echo connected`] });
      expect(r.stdout).toContain('connected');
    } finally {
      listener.stop(true);
    }
  });
});

describe('sandbox off', () => {
  test('HIDE_SANDBOX=off runs unsandboxed and /health says so', async () => {
    await using s = await startServer({ HIDE_SANDBOX: 'off' });
    expect(((await (await fetch(`${s.url}/health`)).json()) as any).sandbox).toBe('off');
  });
});
