/**
 * The server's own secrets against the sandbox's rules at start-up: a keys
 * file under a granted read-only path makes `required` refuse to start and
 * `auto` warn, each naming the file and the rule; with the network on, plain
 * TCP works from a command (and stays refused with it off).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { startServerProcess } from '../helpers/process.ts';
import { callTool, startServer, tempDir } from '../helpers/server.ts';

const supported = process.platform === 'linux' && landlockAbi() >= 4;
const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts');
const KEY = 'secrets-test-key-0123456789abcdefghijklm';

describe.skipIf(!supported)('a keys file under a read-only path', () => {
  let dir: string;
  let env: Record<string, string>;
  let keysFile: string;
  beforeAll(() => {
    dir = tempDir('hide-secret-paths-');
    const etc = join(dir, 'etc-hide');
    mkdirSync(etc);
    mkdirSync(join(dir, 'ws'));
    keysFile = join(etc, 'keys.json');
    writeFileSync(keysFile, JSON.stringify({ clients: [{ client_id: 'a', api_key: KEY, enabled: true }] }));
    env = {
      PATH: '/usr/bin:/bin',
      HIDE_AUTH_ENABLED: 'true',
      HIDE_API_KEYS_FILE: keysFile,
      HIDE_WORKSPACE: join(dir, 'ws'),
      HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'),
      HIDE_SANDBOX_READ_ONLY_PATHS: `/usr,/bin,/lib,/lib64,${etc}`,
      HIDE_LOG_FORMAT: 'json',
    };
  });

  test('HIDE_SANDBOX=required refuses to start, naming the file and the rule', async () => {
    await using proc = Bun.spawn([process.execPath, MAIN, 'serve', '--port', '0'], { cwd: dir, env: { ...env, HIDE_SANDBOX: 'required' }, stdout: 'pipe', stderr: 'pipe' });
    const [stderr, code] = await Promise.all([proc.stderr.text(), proc.exited]);
    expect(code).toBe(2);
    expect(stderr).toContain(`HIDE_SANDBOX=required but ${keysFile} is readable by sandboxed commands (granted read-only by ${join(dir, 'etc-hide')})`);
  });

  test('HIDE_SANDBOX=auto starts and warns, naming the file and the rule', async () => {
    const server = await startServerProcess({ cwd: dir, env: { ...env, HIDE_SANDBOX: 'auto', HIDE_LOG_LEVEL: 'info' } });
    try {
      expect(server.logs()).toContain(`${keysFile} is readable by sandboxed commands (granted read-only by ${join(dir, 'etc-hide')})`);
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});

describe.skipIf(!supported)('a keys file inside the workspace', () => {
  test('HIDE_SANDBOX=auto warns that commands can rewrite it, not only read it', async () => {
    const dir = tempDir('hide-secret-paths-');
    const ws = join(dir, 'ws');
    mkdirSync(ws);
    const keysFile = join(ws, 'keys.json');
    writeFileSync(keysFile, JSON.stringify({ clients: [{ client_id: 'a', api_key: KEY, enabled: true }] }));
    const server = await startServerProcess({
      cwd: dir,
      env: { PATH: '/usr/bin:/bin', HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keysFile, HIDE_WORKSPACE: ws, HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'), HIDE_SANDBOX: 'auto', HIDE_LOG_LEVEL: 'info' },
    });
    try {
      expect(server.logs()).toContain(`${keysFile} is readable and writable by sandboxed commands (granted read-write by ${ws}): a command could rewrite it to change this server's keys or settings`);
    } finally {
      await server.stop();
    }
  });
});

describe.skipIf(!supported)('an audit log inside the workspace', () => {
  test('HIDE_SANDBOX=auto warns that commands can rewrite the audit trail, not that they change keys or settings', async () => {
    const dir = tempDir('hide-secret-paths-');
    const ws = join(dir, 'ws');
    mkdirSync(ws);
    const auditFile = join(ws, 'audit.jsonl');
    const server = await startServerProcess({
      cwd: dir,
      env: { PATH: '/usr/bin:/bin', HIDE_WORKSPACE: ws, HIDE_AUDIT_LOG_FILE: auditFile, HIDE_SANDBOX: 'auto', HIDE_LOG_LEVEL: 'info' },
    });
    try {
      expect(server.logs()).toContain(`${auditFile} is readable and writable by sandboxed commands (granted read-write by ${ws}): a command could rewrite it to forge or erase this server's audit trail`);
      expect(server.logs()).not.toContain("keys or settings");
    } finally {
      await server.stop();
    }
  });
});

describe.skipIf(!supported)('network switch through the server', () => {
  let listener: Bun.TCPSocketListener<undefined>;
  beforeAll(() => {
    listener = Bun.listen<undefined>({ hostname: '127.0.0.1', port: 0, socket: { open: (s) => void s.end('hello from outside\n'), data() {} } });
  });
  afterAll(() => listener.stop(true));

  test.each([
    ['on', 0, 'hello from outside\n'],
    ['off', 1, ''],
  ] as const)('HIDE_SANDBOX_NETWORK=%s: a plain TCP connect from a command exits %d', async (network, exitCode, stdout) => {
    await using s = await startServer({ HIDE_SANDBOX: 'required', HIDE_SANDBOX_NETWORK: network });
    const script = `import socket; s = socket.create_connection(("127.0.0.1", ${listener.port})); print(s.recv(100).decode(), end="")`;
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: '/usr/bin/python3', arguments: ['-c', script] });
    expect({ exitCode: r.exitCode, stdout: r.stdout }).toEqual({ exitCode, stdout });
  });
});
