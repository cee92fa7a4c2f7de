/**
 * `echo '{…}' | hide stdio` answers and exits when its input closes, with the
 * sandbox on too (its launchers must not keep the process alive, nor start
 * after the session ended); SIGTERM stops a running call at once, which is
 * answered saying why.
 */
import { expect, test } from 'bun:test';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../helpers/wait.ts';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { disposableTempDir, tempDir } from '../helpers/temp.ts';

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts');
const CALL = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"shell_execute","arguments":{"command":"echo","arguments":["hi"]}}}';

test.each(landlockAbi() > 0 ? ['auto', 'required', 'off'] : ['off'])('HIDE_SANDBOX=%s: stdio answers and exits 0 when stdin closes', async (mode) => {
  const ws = tempDir('hide-stdio-exit-');
  // Outside the workspace, in a directory of its own (beside the workspace would be /tmp itself, shared and left behind).
  const auditDir = tempDir('hide-stdio-exit-audit-');
  for (const input of ['{"jsonrpc":"2.0","id":1,"method":"ping"}\n', `${CALL}\n`]) {
    await using proc = Bun.spawn([process.execPath, MAIN, 'stdio', '--workspace', ws], {
      env: { PATH: '/usr/bin:/bin', HIDE_SANDBOX: mode, HIDE_AUDIT_LOG_FILE: join(auditDir, 'audit.jsonl'), HIDE_LOG_LEVEL: 'warn' },
      stdin: new Blob([input]),
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [out, err, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
    expect({ code, answered: out.includes('"id":1'), warnings: err }).toEqual({ code: 0, answered: true, warnings: '' });
  }
});

// A server started from source, and its first command, took more than 5 s with the machine loaded past 20: the waits are 15 s.
test.each(landlockAbi() > 0 ? ['auto', 'off'] : ['off'])('HIDE_SANDBOX=%s: SIGTERM stops a running call, which is answered and audited; exit 0', async (mode) => {
  using wsDir = disposableTempDir('hide-stdio-term-');
  const ws = wsDir.path;
  // Outside the workspace, in a directory of its own: each run reads only its own lines.
  using auditDir = disposableTempDir('hide-stdio-term-audit-');
  const auditFile = join(auditDir.path, 'audit.jsonl');
  const call = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"shell_execute","arguments":{"command":"sleep","arguments":["60.0913"]}}}';
  await using proc = Bun.spawn([process.execPath, MAIN, 'stdio', '--workspace', ws], {
    env: { PATH: '/usr/bin:/bin', HIDE_SANDBOX: mode, HIDE_AUDIT_LOG_FILE: auditFile, HIDE_LOG_LEVEL: 'warn' },
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  proc.stdin.write(`${call}\n`);
  proc.stdin.flush();
  await waitFor(() => Bun.spawnSync(['pgrep', '-f', 'sleep 60.0913']).exitCode === 0, 15_000, 'the command running');
  proc.kill('SIGTERM');
  const [out, err, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
  const answer = JSON.parse(out.trim()) as { id: number; result: { isError: boolean; structuredContent: { error: string } } };
  const audited = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event_type: string; tool_name: string });
  expect({ code, id: answer.id, isError: answer.result.isError, warnings: err, audited: audited.map((e) => [e.event_type, e.tool_name]) }).toEqual({
    code: 0,
    id: 7,
    isError: true,
    warnings: '',
    audited: [['tool_call', 'shell_execute']],
  });
  if (mode === 'auto') expect(answer.result.structuredContent.error).toBe('the command was killed: the server is shutting down');
});

test('the same SIGTERM twice at once (the host to the group, a wrapper to its child) is one stop: the call is still answered; exit 0', async () => {
  using wsDir = disposableTempDir('hide-stdio-echo-');
  using auditDir = disposableTempDir('hide-stdio-echo-audit-');
  const auditFile = join(auditDir.path, 'audit.jsonl');
  const call = '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"shell_execute","arguments":{"command":"sleep","arguments":["60.0914"]}}}';
  await using proc = Bun.spawn([process.execPath, MAIN, 'stdio', '--workspace', wsDir.path], {
    env: { PATH: '/usr/bin:/bin', HIDE_SANDBOX: 'off', HIDE_AUDIT_LOG_FILE: auditFile, HIDE_LOG_LEVEL: 'warn' },
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  proc.stdin.write(`${call}\n`);
  proc.stdin.flush();
  const running = () => Bun.spawnSync(['pgrep', '-f', 'sleep 60.0914']).exitCode === 0;
  await waitFor(running, 15_000, 'the command running');
  proc.kill('SIGTERM');
  // Sent once the first is taken (its command is killed), as a wrapper's comes.
  await waitFor(() => !running(), 15_000, 'the command killed');
  proc.kill('SIGTERM');
  const [out, code] = await Promise.all([proc.stdout.text(), proc.exited]);
  const audited = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { result: unknown });
  expect({ code, answered: out.includes('"id":8'), interrupted: audited.some((l) => JSON.stringify(l.result).includes('interrupted')) }).toEqual({
    code: 0,
    answered: true,
    interrupted: false,
  });
});

test('SIGHUP reopens the audit log (an external logrotate moved it) and the session goes on', async () => {
  using dir = disposableTempDir('hide-stdio-hup-');
  const ws = join(dir.path, 'ws');
  mkdirSync(ws);
  const auditFile = join(dir.path, 'audit.jsonl');
  await using proc = Bun.spawn([process.execPath, MAIN, 'stdio', '--workspace', ws], {
    env: { PATH: '/usr/bin:/bin', HIDE_SANDBOX: 'off', HIDE_AUDIT_LOG_FILE: auditFile, HIDE_LOG_LEVEL: 'warn' },
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const out = proc.stdout.text();
  const send = (line: string) => {
    proc.stdin.write(`${line}\n`);
    proc.stdin.flush();
  };
  send(CALL);
  await waitFor(() => existsSync(auditFile) && readFileSync(auditFile, 'utf8').includes('shell_execute'), 15_000, 'the first audit line');
  renameSync(auditFile, `${auditFile}.1`);
  proc.kill('SIGHUP');
  await waitFor(() => existsSync(auditFile), 15_000, 'the audit log reopened at its path');
  send(CALL.replace('"id":1', '"id":2'));
  await waitFor(() => readFileSync(auditFile, 'utf8').includes('shell_execute'), 15_000, 'the second call audited in the new file');
  proc.stdin.end();
  const [text, code] = await Promise.all([out, proc.exited]);
  expect({ code, answered: ['"id":1', '"id":2'].map((id) => text.includes(id)) }).toEqual({ code: 0, answered: [true, true] });
});

// A client (or a log collector) that closed the server's stderr makes every log write fail with EPIPE. Uncaught, the
// first one ended the session with exit status 1 and a crash report written to the same dead pipe.
test('stderr whose reader is gone: the session still answers, logs nothing, and exits 0 when stdin closes', () => {
  using wsDir = disposableTempDir('hide-stdio-epipe-');
  using auditDir = disposableTempDir('hide-stdio-epipe-audit-');
  // Python makes the pipe and closes its read end before the server starts; the debug level makes every request log.
  const run = Bun.spawnSync(
    [
      'python3',
      '-c',
      `import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=w)
os.close(w)
out, _ = p.communicate(sys.stdin.buffer.read())
sys.stdout.write(f"{p.returncode}\\n{out.decode()}")`,
      process.execPath,
      MAIN,
      'stdio',
      '--workspace',
      wsDir.path,
    ],
    {
      env: { PATH: '/usr/bin:/bin', HIDE_SANDBOX: 'off', HIDE_AUDIT_LOG_FILE: join(auditDir.path, 'audit.jsonl'), HIDE_LOG_LEVEL: 'debug' },
      stdin: new TextEncoder().encode(`${CALL}\n{"jsonrpc":"2.0","id":2,"method":"nope"}\n`),
    },
  );
  const [code, ...answers] = run.stdout.toString().trim().split('\n');
  expect({ code, ids: answers.map((a) => (JSON.parse(a) as { id: number }).id).sort() }).toEqual({ code: '0', ids: [1, 2] });
});

// With the sandbox off, a process that left its group keeps the write end of its output pipe: the server, its client
// gone and everything answered, lingered until that process ended.
test('HIDE_SANDBOX=off: stdin closed while a process that left its group holds an output pipe: the server exits 0 all the same', async () => {
  using wsDir = disposableTempDir('hide-stdio-escaped-');
  using auditDir = disposableTempDir('hide-stdio-escaped-audit-');
  const marker = '30.4848';
  // The shell waits until its child has its own session: a group leader that ends first has its group killed, and a
  // child that had not yet called setsid went with it (a loaded machine never saw the escaped process).
  const escape = `setsid sleep ${marker} & p=$!; while [ "$(cut -d' ' -f6 /proc/$p/stat)" = "$(cut -d' ' -f6 /proc/$$/stat)" ]; do sleep 0.01; done; echo started`;
  const start = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'process_start', arguments: { command: 'sh', arguments: ['-c', escape] } } });
  await using proc = Bun.spawn([process.execPath, MAIN, 'stdio', '--workspace', wsDir.path], {
    env: { PATH: '/usr/bin:/bin', HIDE_SANDBOX: 'off', HIDE_AUDIT_LOG_FILE: join(auditDir.path, 'audit.jsonl'), HIDE_LOG_LEVEL: 'warn' },
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  try {
    proc.stdin.write(`${start}\n`);
    proc.stdin.flush();
    await waitFor(() => Bun.spawnSync(['pgrep', '-f', `sleep ${marker}`]).exitCode === 0, 15_000, 'the escaped process');
    proc.stdin.end();
    expect(await Promise.race([proc.exited, Bun.sleep(15_000).then(() => 'still running 15 s after its client left')])).toBe(0);
  } finally {
    Bun.spawnSync(['pkill', '-KILL', '-f', `sleep ${marker}`]);
  }
}, 40_000);
