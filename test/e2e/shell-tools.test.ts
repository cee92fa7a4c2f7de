/**
 * The shell tools through the real HTTP server: argv passed literally, policy
 * refusals as clear tool errors, confinement of workingDirectory, timeouts and
 * client disconnects that kill the whole process group, parallel calls.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServerProcess } from '../helpers/process.ts';
import { callTool, rpc, startServer, type TestServer, tempDir, waitFor } from '../helpers/server.ts';

let s: TestServer;

beforeAll(async () => {
  s = await startServer({ HIDE_EXEC_DENIED_COMMANDS: 'rm,dd' });
  mkdirSync(join(s.workspace, 'sub'));
  mkdirSync(`${s.workspace}-evil`, { recursive: true });
  symlinkSync('/etc', join(s.workspace, 'etc-link'));
});
afterAll(() => s.stop());

function pgrepCount(pattern: string): number {
  const r = Bun.spawnSync(['pgrep', '-f', pattern]);
  return r.stdout.toString().split('\n').filter((l) => l.trim() !== '').length;
}

describe('shell_execute', () => {
  test('passes shell metacharacters literally (no shell)', async () => {
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: 'echo', arguments: ['$(id)', ';', '|', '*'] });
    expect(r).toMatchObject({ stdout: '$(id) ; | *\n', exitCode: 0, isError: false, timedOut: false, truncated: false });
  });

  test('runs in a confined subdirectory', async () => {
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: 'pwd', workingDirectory: 'sub' });
    expect(r.stdout.trim()).toBe(join(s.workspace, 'sub'));
  });

  test('a missing command is a clear tool error', async () => {
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: 'no-such-command-xyz' });
    expect(r.isError).toBe(true);
    expect(r.exitCode).toBe(-1);
    expect(r.error).toContain("command 'no-such-command-xyz' was not found on PATH");
  });

  test.each(['rm', '/bin/rm', '/usr/bin/rm'])('a denied command (%s) is refused by base name', async (command) => {
    await Bun.write(join(s.workspace, 'victim.txt'), 'x');
    const r = await callTool(s.mcpUrl, 'shell_execute', { command, arguments: ['victim.txt'] });
    expect(r.isError).toBe(true);
    expect(r.error).toContain("command 'rm' is denied");
    expect(await Bun.file(join(s.workspace, 'victim.txt')).exists()).toBe(true);
  });

  test('a symlink to a denied command is refused too', async () => {
    symlinkSync('/bin/rm', join(s.workspace, 'innocent'));
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: './innocent', arguments: ['victim.txt'] });
    expect(r.isError).toBe(true);
    expect(r.error).toContain('denied');
  });

  test.each([
    ['..', 'outside the workspace'],
    ['/etc', 'outside the workspace'],
    ['etc-link', 'outside the workspace'],
    ['../ws-evil', 'outside the workspace'],
    ['sub/../../', 'outside the workspace'],
    ['does-not-exist', 'does not exist'],
    ['.keep', 'not a directory'],
    ['sub\u0000', 'NUL byte'],
  ])('workingDirectory %p is refused', async (dir, message) => {
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: 'pwd', workingDirectory: dir });
    expect(r.isError).toBe(true);
    expect(r.error).toContain('workingDirectory refused');
    expect(r.error).toContain(message);
  });

  test('the sibling "-evil" directory by absolute path is refused (segment comparison)', async () => {
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: 'pwd', workingDirectory: `${s.workspace}-evil` });
    expect(r.isError).toBe(true);
    expect(r.error).toContain('outside the workspace');
  });

  test('timeout kills the whole process group, keeps partial output', async () => {
    const marker = `sleep 100.${process.pid}1`;
    const r = await callTool(s.mcpUrl, 'shell_execute', {
      command: 'sh',
      arguments: ['-c', `echo started; ${marker.replace('sleep', 'sleep')} & ${marker}`],
      timeoutSeconds: 1,
    });
    expect(r).toMatchObject({ timedOut: true, exitCode: -1, isError: true, stdout: 'started\n' });
    expect(r.error).toContain('timed out after 1 s');
    await waitFor(() => pgrepCount(marker) === 0, 5000, 'no leftover sleep');
  });

  test('a client that disconnects mid-call gets its process group killed', async () => {
    const marker = `sleep 100.${process.pid}2`;
    const controller = new AbortController();
    const pending = fetch(s.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'shell_execute', arguments: { command: 'sh', arguments: ['-c', `${marker} & ${marker}`], timeoutSeconds: 60 } },
      }),
      signal: controller.signal,
    }).catch(() => null);
    await waitFor(() => pgrepCount(marker) >= 2, 5000, 'sleeps started');
    controller.abort();
    await pending;
    await waitFor(() => pgrepCount(marker) === 0, 5000, 'sleeps killed after disconnect');
  });

  test('background children do not outlive a call that exits normally', async () => {
    const marker = `sleep 100.${process.pid}3`;
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: 'sh', arguments: ['-c', `${marker} & echo done`] });
    expect(r.stdout).toBe('done\n');
    await waitFor(() => pgrepCount(marker) === 0, 5000, 'background sleep gone');
  });

  test('stdin is closed: a command reading stdin sees EOF at once', async () => {
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: 'cat', timeoutSeconds: 5 });
    expect(r).toMatchObject({ exitCode: 0, stdout: '', timedOut: false });
  });

  test('output over the cap is truncated', async () => {
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: 'sh', arguments: ['-c', "head -c 3000000 /dev/zero | tr '\\0' a"] });
    expect(r.truncated).toBe(true);
    expect(r.stdout).toBe('a'.repeat(256 * 1024));
  });

  test('16 concurrent calls run in parallel, each with its own correlation id', async () => {
    // Each call marks its start and waits until all 16 have started: only calls that overlap can all finish, and a
    // loaded machine's slow starts cost time, never the verdict (the calls' own timeout turns a serial run into a failure).
    mkdirSync(join(s.workspace, 'parallel'));
    const barrier = 'mktemp -p parallel >/dev/null; until [ "$(ls parallel | wc -l)" -ge 16 ]; do sleep 0.02; done; echo met';
    const calls = await Promise.all(
      Array.from({ length: 16 }, () => callTool(s.mcpUrl, 'shell_execute', { command: 'sh', arguments: ['-c', barrier], timeoutSeconds: 20 })),
    );
    expect(calls.map((c) => [c.stdout, c.timedOut])).toEqual(Array.from({ length: 16 }, () => ['met\n', false]));
    expect(new Set(calls.map((c) => c.correlationId)).size).toBe(16);
  });

  test('the correlationId argument is echoed in the result and the response header', async () => {
    const r = await rpc(s.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'true', correlationId: 'wf-42' } });
    expect(r.body.result.structuredContent.correlationId).toBe('wf-42');
    expect(r.headers.get('x-correlation-id')).toBe('wf-42');
  });

  test('X-Correlation-ID header is used when the argument is absent', async () => {
    const r = await rpc(s.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'true' } }, { 'x-correlation-id': 'hdr-7' });
    expect(r.body.result.structuredContent.correlationId).toBe('hdr-7');
    expect(r.headers.get('x-correlation-id')).toBe('hdr-7');
  });
});

describe('shell_execute_json', () => {
  test('parses JSON output', async () => {
    const r = await callTool(s.mcpUrl, 'shell_execute_json', { command: 'echo', arguments: ['{"a":[1,2]}'] });
    expect(r).toMatchObject({ json: { a: [1, 2] }, parseError: null, exitCode: 0, isError: false });
  });
  test('reports a parse error for non-JSON output', async () => {
    const r = await callTool(s.mcpUrl, 'shell_execute_json', { command: 'echo', arguments: ['not json'] });
    expect(r.isError).toBe(true);
    expect(r.json).toBeNull();
    expect(r.parseError).toContain('not valid JSON');
  });
  // The parser names the token it stopped at, a word of the output, and the reason is audited: a secret file read
  // with shell_execute_json, or a config with an unquoted value, went into the audit log in clear, twice.
  test('a parse error quotes no word of the output, in the answer or the audit log', async () => {
    const secrets = ['Zx9SuperSecretDbPassw0rd', 'Kq7UnquotedSecretValue', 'é'];
    for (const [i, out] of ['Zx9SuperSecretDbPassw0rd', '{"password": Kq7UnquotedSecretValue}', 'é'].entries()) {
      writeFileSync(join(s.workspace, `json-quote-${i}.txt`), `${out}\n`);
      const r = await callTool(s.mcpUrl, 'shell_execute_json', { command: 'cat', arguments: [`json-quote-${i}.txt`], correlationId: `json-quote-${i}` });
      expect(r.parseError).toStartWith('stdout is not valid JSON: ');
      expect(secrets.filter((w) => JSON.stringify(r).includes(w))).toEqual([]);
    }
    const lines = await waitFor(() => {
      const found = readFileSync(s.auditFile, 'utf8').split('\n').filter((l) => l.includes('"correlation_id":"json-quote-'));
      return found.length === 3 ? found : null;
    });
    expect(lines!.filter((l) => secrets.some((w) => l.includes(w)))).toEqual([]);
    // What does not quote the output stays as the parser said it.
    expect((await callTool(s.mcpUrl, 'shell_execute_json', { command: 'echo', arguments: ['[1,2'] })).parseError).toBe("stdout is not valid JSON: Expected ']'");
  });
});

describe('other tools', () => {
  test('shell_get_available_tools reports tools and the workspace', async () => {
    const r = await callTool(s.mcpUrl, 'shell_get_available_tools', {});
    expect(r.workspacePath).toBe(s.workspace);
    const git = r.tools.find((t: { name: string }) => t.name === 'sh');
    expect(git.available).toBe(true);
  });
  // A read-only client may ask for the probes; a toolchain file or a HOME config in the workspace must not pick what they run.
  test('shell_get_available_tools and search_files run from / with HOME /nonexistent, and never a program a client can write', async () => {
    // `bun run` and npx put a project's node_modules/.bin first on PATH: a `git` there must not be what the probe runs.
    const ws = tempDir('hide-probe-ws-');
    mkdirSync(join(ws, 'bin'));
    writeFileSync(join(ws, 'bin', 'git'), '#!/bin/sh\necho "workspace git"\n', { mode: 0o755 });
    // A `jq` outside the workspace that says where it runs (sandbox off: the runner's choices are what is tested),
    // and beside it links into the workspace (`npm link`, a ~/bin link into a project): a client can write their targets.
    const outside = tempDir('hide-probe-bin-');
    writeFileSync(join(outside, 'jq'), '#!/bin/sh\necho "fake-jq cwd=$(pwd) home=$HOME"\n', { mode: 0o755 });
    writeFileSync(join(ws, 'bin', 'tree'), '#!/bin/sh\necho "workspace tree"\n', { mode: 0o755 });
    writeFileSync(join(ws, 'bin', 'rg'), '#!/bin/sh\necho "workspace rg"\n', { mode: 0o755 });
    symlinkSync(join(ws, 'bin', 'tree'), join(outside, 'tree'));
    symlinkSync(join(ws, 'bin', 'rg'), join(outside, 'rg'));
    const env = { PATH: `${join(ws, 'bin')}:.::${outside}:/usr/bin:/bin`, HIDE_WORKSPACE: ws, HIDE_AUDIT_LOG_ENABLED: 'false', HIDE_SANDBOX: 'off' };
    const server = await startServerProcess({ cwd: ws, env });
    try {
      const tools = (await callTool(`${server.url}/mcp`, 'shell_get_available_tools', {})).tools as Array<{ name: string; version: string | null }>;
      expect(tools.find((t) => t.name === 'jq')).toMatchObject({ available: true, version: 'fake-jq cwd=/ home=/nonexistent' });
      expect(tools.find((t) => t.name === 'git')?.version ?? '').not.toContain('workspace');
      expect(tools.find((t) => t.name === 'tree')).toMatchObject({ available: false, version: null });
      // search_files is a read tool too: its engine is never the workspace's rg.
      writeFileSync(join(ws, 'note.txt'), 'needle\n');
      const found = await callTool(`${server.url}/mcp`, 'search_files', { pattern: 'needle' });
      expect({ engine: found.engine, paths: found.matches.map((m: { path: string }) => m.path) }).toEqual({ engine: 'builtin', paths: ['note.txt'] });
    } finally {
      await server.stop();
    }
  });
  test('a program on PATH the sandbox keeps commands from: the refusal says so, not just EACCES or ENOENT', async () => {
    const outside = tempDir('hide-outside-bin-');
    writeFileSync(join(outside, 'shim'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
    const ws = tempDir('hide-shim-ws-');
    const server = await startServerProcess({ cwd: ws, env: { PATH: `${outside}:/usr/bin:/bin`, HIDE_WORKSPACE: ws, HIDE_AUDIT_LOG_ENABLED: 'false', HIDE_SANDBOX: 'required' } });
    try {
      const r = await callTool(`${server.url}/mcp`, 'shell_execute', { command: 'shim' });
      expect(r.isError).toBe(true);
      expect(r.error).toMatch(/EACCES|ENOENT/);
      expect(r.error).toContain('the sandbox lets commands run programs only from the workspace');
    } finally {
      await server.stop();
    }
  });
  // The cap counts bytes, and a control byte is six characters of JSON (`\u0001`), carried twice in an answer: 256 KiB
  // of them on each stream made a 6.8 MB answer. Each stream is held to twice the cap as JSON text.
  test('output of control bytes is held to twice the cap as JSON text, and says it was cut', async () => {
    const cap = 64 * 1024;
    await using t = await startServer({ HIDE_EXEC_MAX_OUTPUT_BYTES: String(cap) });
    const script = `import sys; sys.stdout.write('\\x01' * ${cap}); sys.stderr.write('ok ' + '\\x02' * ${cap})`;
    const res = await rpc(t.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: '/usr/bin/python3', arguments: ['-c', script] } });
    const r = res.body.result.structuredContent;
    expect({ truncated: r.truncated, stdout: JSON.stringify(r.stdout).length <= 2 * cap + 2, stderr: JSON.stringify(r.stderr).length <= 2 * cap + 2 }).toEqual({ truncated: true, stdout: true, stderr: true });
    expect([r.stdout.length, r.stderr.startsWith('ok ')]).toEqual([Math.floor((2 * cap) / 6), true]);
    // Plain text up to the cap is whole.
    const plain = await callTool(t.mcpUrl, 'shell_execute', { command: '/usr/bin/python3', arguments: ['-c', `import sys; sys.stdout.write('a' * ${cap})`] });
    expect([plain.stdout.length, plain.truncated]).toEqual([cap, false]);
  });

  test('check_file_exists inside, missing, and outside', async () => {
    expect(await callTool(s.mcpUrl, 'check_file_exists', { fileName: '.keep' })).toMatchObject({ exists: true, type: 'file', isError: false });
    expect(await callTool(s.mcpUrl, 'check_file_exists', { fileName: 'nope' })).toMatchObject({ exists: false, isError: false });
    const out = await callTool(s.mcpUrl, 'check_file_exists', { fileName: '/etc/passwd' });
    expect(out.isError).toBe(true);
    expect(out.error).toContain('outside the workspace');
  });
});
