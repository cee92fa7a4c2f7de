/**
 * Operations surfaces attacked through the real server: the keys file and its
 * hot reload, limits, the audit log and its chain, /metrics and start-up
 * settings. Each test asserts the safe behaviour.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ECHO_WINDOW_MS } from '../../src/ops/stop-requests.ts';
import { runCli } from '../helpers/cli.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { rpc, tempDir, toolCallsInFlight, waitFor } from '../helpers/server.ts';

const started: ServerProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const s of started) {
    s.proc.kill('SIGKILL');
    await s.proc.exited;
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A directory removed after the file, with an empty workspace `ws` in it. */
function testDir(): { dir: string; ws: string } {
  const dir = tempDir();
  dirs.push(dir);
  const ws = join(dir, 'ws');
  mkdirSync(ws);
  return { dir, ws };
}

async function serve(cwd: string, env: Record<string, string>): Promise<ServerProcess> {
  const s = await startServerProcess({ cwd, env: { HIDE_RATE_LIMIT_ENABLED: 'false', HIDE_LOG_LEVEL: 'info', ...env } });
  started.push(s);
  return s;
}

async function call(s: ServerProcess, key: string, name: string, args: Record<string, unknown>) {
  const r = await rpc(`${s.url}/mcp`, 'tools/call', { name, arguments: args }, { 'X-API-Key': key });
  return { status: r.status, body: r.body as Record<string, any> };
}

describe('keys file inside the workspace', () => {
  // HIDE_API_KEYS_FILE=.mcp_keys.json started from the workspace itself, which the README's cluster profile warns against.
  const KEY_WRITER = 'w'.repeat(43);
  const KEY_READER = 'r'.repeat(43);
  const KEY_ROGUE = 'x'.repeat(43);

  test('a client allowed only file tools cannot rewrite the keys file to grant itself commands', async () => {
    const { dir, ws } = testDir();
    const keysFile = join(ws, '.mcp_keys.json');
    writeFileSync(
      keysFile,
      JSON.stringify({ clients: [{ client_id: 'writer', api_key: KEY_WRITER, tools: ['read_file', 'write_file', 'edit_file'] }, { client_id: 'reader', api_key: KEY_READER, readOnly: true }] }),
    );
    const s = await serve(ws, { HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: '.mcp_keys.json', HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl') });
    // Reading it hands over every plaintext key of the file.
    const read = await call(s, KEY_READER, 'read_file', { path: '.mcp_keys.json' });
    expect(read.body.result?.isError).toBe(true);
    expect(JSON.stringify(read.body)).not.toContain(KEY_WRITER);
    const found = await call(s, KEY_READER, 'search_files', { pattern: 'api_key' });
    expect(found.body.result?.structuredContent?.matches).toEqual([]);
    const edited = await call(s, KEY_WRITER, 'edit_file', { path: '.mcp_keys.json', edits: [{ oldText: '"read_file",', newText: '"shell_execute","read_file",' }] });
    expect(edited.body.result?.isError).toBe(true);
    const rogue = { clients: [{ client_id: 'writer', api_key: KEY_WRITER }, { client_id: 'rogue', api_key: KEY_ROGUE }] };
    const wrote = await call(s, KEY_WRITER, 'write_file', { path: '.mcp_keys.json', content: JSON.stringify(rogue) });
    expect(wrote.body.result?.isError).toBe(true);
    expect(JSON.parse(readFileSync(keysFile, 'utf8')).clients.map((c: { client_id: string }) => c.client_id)).toEqual(['writer', 'reader']);
    const shell = await call(s, KEY_ROGUE, 'shell_execute', { command: 'id' });
    expect(shell.status).toBe(401);
  }, 30_000);

  test('a .mcp_keys.json a cloned repository brought is not taken by default: serve and check-config refuse, naming it; named by the operator, it is used', async () => {
    const { dir, ws } = testDir();
    const planted = join(ws, '.mcp_keys.json');
    writeFileSync(planted, JSON.stringify({ clients: [{ client_id: 'repo-author', api_key: KEY_ROGUE }] }));
    const env = { HIDE_AUTH_ENABLED: 'true', HIDE_API_KEY: KEY_WRITER, HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl') };
    const refusal = `the keys file ${planted} lies in the workspace (${ws})`;
    const served = await runCli(['serve', '--port', '0'], ws, env);
    expect([served.code, served.stderr.includes(refusal)]).toEqual([2, true]);
    const checked = await runCli(['check-config'], ws, env);
    expect([checked.code, checked.stderr.includes(refusal)]).toEqual([2, true]);
    // Started from elsewhere, the workspace's file is not the working directory's, and nothing is taken.
    const elsewhere = await runCli(['check-config', '--workspace', ws], dir, env);
    expect([elsewhere.code, JSON.parse(elsewhere.stdout).config.auth.keysFile]).toEqual([0, undefined]);
    // Reached from outside through a link that lies in the workspace (and leads out of it): a command could repoint the link.
    mkdirSync(join(dir, 'safe'));
    writeFileSync(join(dir, 'safe', 'k.json'), JSON.stringify({ clients: [{ client_id: 'ops', api_key: KEY_READER }] }));
    symlinkSync(join(dir, 'safe'), join(ws, 'lnk'));
    symlinkSync(join(ws, 'lnk', 'k.json'), join(dir, '.mcp_keys.json'));
    const hop = await runCli(['serve', '--port', '0', '--workspace', ws], dir, env);
    expect([hop.code, hop.stderr.includes(`the keys file ${join(dir, '.mcp_keys.json')} lies in the workspace (${ws})`)]).toEqual([2, true]);
    // Named by the operator, it is used (the sandbox's secret check warns that commands can rewrite it).
    const s = await serve(ws, { ...env, HIDE_API_KEYS_FILE: '.mcp_keys.json' });
    expect((await rpc(`${s.url}/mcp`, 'tools/list', {}, { 'X-API-Key': KEY_ROGUE })).status).toBe(200);
  }, 30_000);
});

describe('audit log inside the workspace', () => {
  // `hide-audit.jsonl` in the working directory is the last default, and the working directory is the default workspace.
  test('file tools neither read the log nor rewrite it, its checkpoint or a rotation to come; the chain still verifies', async () => {
    const { ws } = testDir();
    const s = await serve(ws, { HIDE_AUDIT_LOG_FILE: 'hide-audit.jsonl' });
    const secret = 'first-call-marker';
    expect((await call(s, '', 'shell_execute', { command: 'echo', arguments: [secret] })).status).toBe(200);
    await waitFor(() => Bun.file(join(ws, 'hide-audit.jsonl.head')).exists(), 5_000, 'the checkpoint');
    const read = await call(s, '', 'read_file', { path: 'hide-audit.jsonl' });
    expect([read.body.result?.isError, JSON.stringify(read.body).includes(secret)]).toEqual([true, false]);
    const found = await call(s, '', 'search_files', { pattern: secret });
    expect(found.body.result?.structuredContent?.matches).toEqual([]);
    for (const path of ['hide-audit.jsonl', 'hide-audit.jsonl.head', 'hide-audit.jsonl.1', 'hide-audit.jsonl.1.head']) {
      const wrote = await call(s, '', 'write_file', { path, content: '' });
      expect([path, wrote.body.result?.isError]).toEqual([path, true]);
    }
    const edited = await call(s, '', 'edit_file', { path: 'hide-audit.jsonl', edits: [{ oldText: secret, newText: 'nothing-here' }] });
    expect(edited.body.result?.isError).toBe(true);
    await s.stop();
    const verify = Bun.spawnSync([process.execPath, join(import.meta.dir, '..', '..', 'src', 'main.ts'), 'audit', 'verify', join(ws, 'hide-audit.jsonl')]);
    expect([verify.exitCode, readFileSync(join(ws, 'hide-audit.jsonl'), 'utf8').includes(secret)]).toEqual([0, true]);
  }, 30_000);
});

describe('audit evidence at shutdown', () => {
  test('a second SIGTERM while calls run still leaves one line per admitted call, and the chain verifies', async () => {
    const { dir, ws } = testDir();
    const audit = join(dir, 'audit.jsonl');
    const s = await serve(dir, { HIDE_WORKSPACE: ws, HIDE_AUDIT_LOG_FILE: audit });
    const ids = ['c-0', 'c-1', 'c-2'];
    const calls = ids.map((correlationId) =>
      rpc(`${s.url}/mcp`, 'tools/call', { name: 'shell_execute', arguments: { command: 'sleep', arguments: ['30'], correlationId } }).catch(() => null),
    );
    await waitFor(async () => (await toolCallsInFlight(s.url)) === 3, 10_000, 'three calls running');
    s.proc.kill('SIGTERM');
    await waitFor(() => s.logs().includes('draining'), 5_000, 'the drain to start');
    // A second stop, not the first delivered again.
    await Bun.sleep(ECHO_WINDOW_MS + 100);
    s.proc.kill('SIGTERM');
    await s.proc.exited;
    await Promise.all(calls);
    const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.event_type === 'tool_call').map((l) => l.correlation_id).sort()).toEqual(ids);
    for (const l of lines) expect(l.error).toBe('the server exited before the call ended');
    const verify = Bun.spawnSync([process.execPath, join(import.meta.dir, '..', '..', 'src', 'main.ts'), 'audit', 'verify', audit]);
    expect(verify.exitCode).toBe(0);
  }, 30_000);
});

describe('a key known only by its digest, in the audit log', () => {
  // hide keys generate stores only the SHA-256: the redactor finds the key by hashing pieces of each run.
  const KEY = 'Zk3_9aQ-pLm2Xv8rT0bWc5Yd1eF4gH6jK7nS2uV3wA1';

  test('URL-encoded (%20, +) or after ~ it is still masked', async () => {
    const { dir, ws } = testDir();
    const keysFile = join(dir, 'keys.json');
    writeFileSync(keysFile, JSON.stringify({ clients: [{ client_id: 'alice', api_key_sha256: new Bun.CryptoHasher('sha256').update(KEY).digest('hex') }] }));
    const audit = join(dir, 'audit.jsonl');
    const s = await serve(dir, { HIDE_WORKSPACE: ws, HIDE_AUDIT_LOG_FILE: audit, HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keysFile });
    const spellings = [`q=a%20b%20${KEY}`, `a+b+${KEY}`, `~${KEY}~`, `%2F${KEY}%2F`];
    const r = await call(s, KEY, 'shell_execute', { command: 'echo', arguments: spellings });
    expect(r.status).toBe(200);
    await s.stop();
    const text = readFileSync(audit, 'utf8');
    expect(text).toContain('a%20b%20[REDACTED]');
    expect(text).not.toContain(KEY);
  }, 30_000);

  // Disabling a client is not revoking its key: it may be enabled again, so its key stays a secret the log must not keep.
  test("a disabled client's key, sent by another client as an argument, is masked too", async () => {
    const { dir, ws } = testDir();
    const keysFile = join(dir, 'keys.json');
    const OTHER = 'Qp7_2mN-xR4tY8uW1vZ3aB5cD6eF9gH0jK2lM4nP6sT';
    const digest = (k: string) => new Bun.CryptoHasher('sha256').update(k).digest('hex');
    writeFileSync(
      keysFile,
      JSON.stringify({ clients: [{ client_id: 'alice', api_key_sha256: digest(KEY) }, { client_id: 'mallory', api_key_sha256: digest(OTHER), enabled: false }] }),
    );
    const audit = join(dir, 'audit.jsonl');
    const s = await serve(dir, { HIDE_WORKSPACE: ws, HIDE_AUDIT_LOG_FILE: audit, HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keysFile });
    expect((await call(s, OTHER, 'shell_execute', { command: 'true' })).status).toBe(401);
    const r = await call(s, KEY, 'shell_execute', { command: 'echo', arguments: [OTHER, `key=${OTHER}`] });
    expect(r.status).toBe(200);
    await s.stop();
    const text = readFileSync(audit, 'utf8');
    expect(text).toContain('"arguments":["[REDACTED]","key=[REDACTED]"]');
    expect(text).not.toContain(OTHER);
  }, 30_000);
});

describe('settings from the workspace', () => {
  // The server reads `.env` from its working directory, which is also the default workspace. A client that can
  // write there (write_file on a .env that did not exist at start, or any command: the sandbox grants the workspace
  // read-write), or a cloned repository, must not set what the environment and flags leave unset for the next
  // start — HIDE_SANDBOX=off, HIDE_ALLOWED_PATHS=/, HIDE_AUTH_ENABLED=false.
  test('a .env written by a client does not configure the next start: the start is refused, naming it', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const audit = join(dir, 'audit.jsonl');
    const first = await serve(dir, { HIDE_AUDIT_LOG_FILE: audit });
    const wrote = await rpc(`${first.url}/mcp`, 'tools/call', { name: 'write_file', arguments: { path: '.env', content: 'HIDE_SANDBOX=off\nHIDE_ALLOWED_PATHS=/\n' } });
    expect(wrote.status).toBe(200);
    await first.stop();
    const second = await runCli(['serve', '--port', '0'], dir, { HIDE_AUDIT_LOG_FILE: audit });
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`${join(dir, '.env')} sets HIDE_SANDBOX, HIDE_ALLOWED_PATHS but lies in the workspace (${dir})`);
    expect(second.stderr).not.toContain('listening on');
  }, 30_000);

  test('a .env that moves the workspace away from itself is refused too', async () => {
    const { dir, ws } = testDir();
    writeFileSync(join(dir, '.env'), `HIDE_WORKSPACE=${ws}\nHIDE_SANDBOX=off\n`);
    const r = await runCli(['check-config'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`lies in the workspace (${dir})`);
  });

  test('a .env that names a config file moving the workspace away is judged without that file too', async () => {
    // A cloned repository brings both: `.env` names `hide.json` beside it, which moves the workspace elsewhere and
    // turns the sandbox off. Judged with a config file it named itself, the `.env` no longer lay in the workspace.
    const { dir, ws } = testDir();
    const project = join(dir, 'project');
    mkdirSync(project);
    writeFileSync(join(project, '.env'), 'HIDE_CONFIG=hide.json\n');
    writeFileSync(join(project, 'hide.json'), JSON.stringify({ workspace: ws, sandbox: { mode: 'off' } }));
    const r = await runCli(['serve', '--port', '0'], project, { HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl') });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${join(project, '.env')} sets HIDE_CONFIG but lies in the workspace (${project})`);
    expect(r.stderr).not.toContain('listening on');
  }, 30_000);

  test('a .env reached through a link from outside into the workspace is refused', async () => {
    const { dir, ws } = testDir();
    const outside = join(dir, 'conf');
    mkdirSync(outside);
    writeFileSync(join(ws, 'planted.env'), 'HIDE_AUTH_ENABLED=false\n');
    symlinkSync(join(ws, 'planted.env'), join(outside, '.env'));
    const r = await runCli(['check-config', '--workspace', ws], outside);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${join(outside, '.env')} sets HIDE_AUTH_ENABLED but lies in the workspace (${ws})`);
  });

  test('a .env in an allowed path is refused; one outside the workspace configures the server as before', async () => {
    const { dir, ws } = testDir();
    writeFileSync(join(dir, '.env'), 'HIDE_RATE_LIMIT_RPM=7\n');
    const allowed = await runCli(['check-config', '--workspace', ws], dir, { HIDE_ALLOWED_PATHS: dir });
    expect(allowed.code).toBe(2);
    expect(allowed.stderr).toContain(`lies in an allowed path (${dir})`);
    const outside = await runCli(['check-config', '--workspace', ws], dir);
    expect(outside.code).toBe(0);
    expect(outside.stdout).toContain('"rpm": 7');
  });

  test("a project's .env that is a directory (a Python virtual environment) is no settings file: the start goes on", async () => {
    const dir = tempDir();
    dirs.push(dir);
    mkdirSync(join(dir, '.env', 'bin'), { recursive: true });
    writeFileSync(join(dir, '.env', 'pyvenv.cfg'), 'home = /usr/bin\n');
    const s = await serve(dir, { HIDE_AUDIT_LOG_FILE: join(tempDir(), 'audit.jsonl') });
    const read = await rpc(`${s.url}/mcp`, 'tools/call', { name: 'read_file', arguments: { path: '.env/pyvenv.cfg' } });
    expect(JSON.stringify(read.body)).toContain('home = /usr/bin');
    await s.stop();
  }, 30_000);

  test("a project's own .env, with none of the server's settings, is the workspace's file: no warning, readable", async () => {
    const dir = tempDir();
    dirs.push(dir);
    writeFileSync(join(dir, '.env'), 'DATABASE_URL=postgres://app@db/app\nPORT=3000\n');
    const s = await serve(dir, { HIDE_AUDIT_LOG_FILE: join(tempDir(), 'audit.jsonl'), HIDE_SANDBOX: 'required' });
    const read = await rpc(`${s.url}/mcp`, 'tools/call', { name: 'read_file', arguments: { path: '.env' } });
    expect(JSON.stringify(read.body)).toContain('DATABASE_URL');
    await s.stop();
    expect(s.logs()).not.toContain('.env');
  }, 30_000);
});
