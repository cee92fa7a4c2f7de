/**
 * Attacks on the stdio transport's output side, from source and from the
 * compiled binary (root and, where setpriv exists, an unprivileged uid):
 *
 * - a client that closes its end of stdout while a command runs: the server
 *   used to print a stack trace for every failed write and go on running
 *   commands for nobody until stdin closed; now it stops the running calls
 *   (killed, audited) and exits 0 with one line on stderr.
 * - a client that never reads stdout: every answer was queued in memory with
 *   no limit (a 47-byte tools/list asks for 30 KB, so a 1 MB flood of them
 *   held 600 MB); now stdin is not read while 1 MiB of answers waits, and
 *   every answer still arrives once the client reads.
 * - more requests at once than the session runs: refused at once (-31429),
 *   so stdin is still read and a cancellation reaches the calls that run.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { chmodSync, chownSync, closeSync, constants, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MAX_IN_FLIGHT } from '../../src/mcp/stdio.ts';
import { ensureBinary } from '../helpers/binary.ts';
import { hostEntries, isLive, newMarker, servingPid } from '../helpers/procfs.ts';
import { startStdio } from '../helpers/stdio.ts';
import { disposableTempDir } from '../helpers/temp.ts';
import { UNPRIVILEGED } from '../helpers/two-clients.ts';
import { waitFor } from '../helpers/wait.ts';

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts');
const ROOT_USER = process.getuid?.() === 0;
const variants = [
  { name: 'source', uid: null },
  { name: 'dist/hide', uid: null },
  ...(ROOT_USER && Bun.which('setpriv') ? [{ name: 'dist/hide unprivileged', uid: UNPRIVILEGED }] : []),
] as const;

const dirs: Disposable[] = [];
afterAll(() => {
  for (const d of dirs) d[Symbol.dispose]();
});

/** A workspace and an audit file the server's uid may write, outside the workspace. */
function place(uid: number | null) {
  const dir = disposableTempDir('hide-attack-stdio-');
  dirs.push(dir);
  const ws = join(dir.path, 'ws');
  mkdirSync(ws);
  if (uid !== null) {
    chmodSync(dir.path, 0o755);
    chownSync(ws, uid, uid);
    mkdirSync(join(dir.path, 'audit'));
    chownSync(join(dir.path, 'audit'), uid, uid);
  } else mkdirSync(join(dir.path, 'audit'));
  return { ws, audit: join(dir.path, 'audit', 'audit.jsonl') };
}

async function command(variant: (typeof variants)[number], ws: string): Promise<string[]> {
  if (variant.name === 'source') return [process.execPath, MAIN, 'stdio', '--workspace', ws];
  let bin = await ensureBinary();
  if (variant.uid !== null) {
    // A copy that uid can read (the checkout, a temp clone in CI, may not be), beside the workspace: the server
    // runs under setpriv, and its launchers are spawned from its own path.
    copyFileSync(bin, (bin = join(dirname(ws), 'hide')));
    chmodSync(bin, 0o755);
  }
  const run = [bin, 'stdio', '--workspace', ws];
  return variant.uid === null ? run : ['setpriv', `--reuid=${variant.uid}`, `--regid=${variant.uid}`, '--clear-groups', '--', ...run];
}

const env = (audit: string, extra: Record<string, string> = {}) => ({
  PATH: '/usr/bin:/bin',
  HIDE_AUDIT_LOG_FILE: audit,
  HIDE_LOG_LEVEL: 'warn',
  ...extra,
});

/** A FIFO in `dir` for a server's stdout: its path, our read end (non-blocking) and the write end to hand to the server. */
function stdoutFifo(dir: string): { path: string; reader: number; writer: number } {
  const fifo = join(dir, 'out');
  expect(Bun.spawnSync(['mkfifo', fifo]).exitCode).toBe(0);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  return { path: fifo, reader, writer: openSync(fifo, constants.O_WRONLY) };
}

/**
 * A FIFO in `dir` for a server's stdin, fed by `cat` from a file. A plain pipe, not the socket Bun.spawn makes: the
 * kernel counts a pipe's reads in the reader's rchar (a socket's are not), so the test sees what the server reads.
 * `reader` goes to the server; `feed` starts the writer, whose exit means the server has taken every byte.
 */
function stdinFifo(dir: string) {
  const fifo = join(dir, 'in');
  expect(Bun.spawnSync(['mkfifo', fifo]).exitCode).toBe(0);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(fifo, constants.O_WRONLY);
  /** Starts `argv` writing into the FIFO; the FIFO ends when it exits. */
  const feedFrom = (argv: string[]) => {
    const feeder = Bun.spawn(argv, { stdout: writer, stderr: 'ignore' });
    closeSync(writer);
    return feeder;
  };
  return {
    reader,
    feedFrom,
    feed(text: string) {
      const file = join(dir, 'in.txt');
      writeFileSync(file, text);
      return feedFrom(['cat', file]);
    },
  };
}

/** Bytes the process has read (files and pipes). */
const readBytes = (pid: number) => Number(/rchar: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);

/** Resolves once `pid` has read nothing new across `polls` polls: it is waiting (started up, or holding back). */
async function readingStopped(pid: number, polls: number, what: string): Promise<number> {
  let last = -1;
  let still = 0;
  return waitFor(
    () => {
      const now = readBytes(pid);
      still = now === last ? still + 1 : 0;
      last = now;
      return still >= polls ? now : 0;
    },
    30_000,
    what,
  );
}

const call = (id: number | string, command: string, args: string[]) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'shell_execute', arguments: { command, arguments: args } } });

const sleeping = (marker: string) => hostEntries((d) => isLive(d) && readFileSync(`${d}/cmdline`, 'utf8').includes(marker));

/**
 * `hide stdio` as `variant` runs it, its stdout a FIFO whose one read end is ours, so closing it is the client
 * closing its end, at a moment the test chooses (a cancelled pipe reader closes its descriptor whenever the runtime
 * gets to it).
 */
async function onStdoutFifo(variant: (typeof variants)[number], fifoDir: string) {
  const { ws, audit } = place(variant.uid);
  const { reader, writer } = stdoutFifo(fifoDir);
  const proc = Bun.spawn(await command(variant, ws), { cwd: ws, env: env(audit), stdin: 'pipe', stdout: writer, stderr: 'pipe' });
  closeSync(writer);
  return { audit, reader, proc };
}

describe.each(variants)('stdio output attacks ($name)', (variant) => {
  test('stdout closed by the client while a command runs: the call is killed and audited, the server exits 0 saying why, with no stack trace', async () => {
    const marker = newMarker();
    using fifoDir = disposableTempDir('hide-attack-stdio-fifo-');
    const started = await onStdoutFifo(variant, fifoDir.path);
    const { audit, reader } = started;
    await using proc = started.proc;
    let stderr = '';
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of proc.stderr) stderr += decoder.decode(chunk, { stream: true });
    })();
    const send = (line: string) => {
      proc.stdin.write(`${line}\n`);
      proc.stdin.flush();
    };
    let answered = '';
    const readAnswers = () => {
      const buf = Buffer.alloc(65536);
      try {
        const n = readSync(reader, buf);
        answered += buf.subarray(0, n).toString();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      }
      return answered;
    };
    send('{"jsonrpc":"2.0","id":0,"method":"ping"}');
    expect(await waitFor(() => readAnswers().endsWith('\n') && answered, 10_000, 'the answer to a ping')).toBe('{"jsonrpc":"2.0","id":0,"result":{}}\n');
    send(call(1, 'sleep', [marker]));
    await waitFor(() => sleeping(marker).length > 0, 10_000, 'the command running');
    // The client goes away from stdout only; stdin stays open. The next answer meets EPIPE: a large one (tools/list,
    // 30 KB) the sink cannot take at once, whose write hands back a promise before the flush throws, then a small one.
    closeSync(reader);
    send('{"jsonrpc":"2.0","id":2,"method":"tools/list"}');
    send('{"jsonrpc":"2.0","id":3,"method":"ping"}');
    // Anything on stderr but our one line (an unhandled EPIPE, a stack trace) ends the wait too.
    const stray = () => stderr.split('\n').filter((l) => l.trim() !== '' && !l.includes('stdout closed by the client'));
    await waitFor(() => proc.exitCode !== null || stray().length > 0, 10_000, 'the server exiting (or writing an error)');
    const audited = (existsSync(audit) ? readFileSync(audit, 'utf8').split('\n') : []).filter((l) => l !== '').map((l) => JSON.parse(l) as { event_type: string; tool_name: string });
    expect({
      exitCode: proc.exitCode,
      stray: stray(),
      said: stderr.includes('stdout closed by the client'),
      commandLeft: sleeping(marker).length,
      audited: audited.map((e) => [e.event_type, e.tool_name]),
    }).toEqual({ exitCode: 0, stray: [], said: true, commandLeft: 0, audited: [['tool_call', 'shell_execute']] });
  }, 60_000);

  test('stdout closed while a command runs and nothing more is sent (a client that crashed): the call is killed, the server exits', async () => {
    const marker = newMarker();
    using fifoDir = disposableTempDir('hide-attack-stdio-fifo-');
    const started = await onStdoutFifo(variant, fifoDir.path);
    const { reader } = started;
    await using proc = started.proc;
    proc.stdin.write(`${call(1, 'sleep', [marker])}\n`);
    proc.stdin.flush();
    await waitFor(() => sleeping(marker).length > 0, 10_000, 'the command running');
    // No answer is due until the command ends, so no write meets EPIPE: the server has to see the reader gone.
    closeSync(reader);
    await waitFor(() => proc.exitCode !== null, 10_000, 'the server exiting');
    expect({ exitCode: proc.exitCode, commandLeft: sleeping(marker).length, said: (await proc.stderr.text()).includes('stdout closed by the client (its reader is gone)') }).toEqual({
      exitCode: 0,
      commandLeft: 0,
      said: true,
    });
  }, 60_000);

  test('a client that never reads stdout: stdin is no longer read once answers wait, memory stays bounded, and every answer arrives when it reads', async () => {
    const { ws, audit } = place(variant.uid);
    using fifoDir = disposableTempDir('hide-attack-stdio-fifo-');
    // Our read end, opened and never read until the end: the server's stdout is a pipe nobody drains.
    const { path: fifo, reader, writer } = stdoutFifo(fifoDir.path);
    // 20 000 tools/list ask for about 600 MB of answers. Each line is padded to 256 bytes, so the flood (5 MB) is far
    // more than the pipe and the server's read-ahead can hold: a server that holds back cannot pass for one that
    // took it all.
    const count = 20_000;
    const stdin = stdinFifo(fifoDir.path);
    await using proc = Bun.spawn(await command(variant, ws), { cwd: ws, env: env(audit), stdin: stdin.reader, stdout: writer, stderr: 'pipe' });
    closeSync(writer);
    closeSync(stdin.reader);
    // setpriv execs the program in place; unprivileged, that is the supervisor, and the server runs below it.
    const server = await servingPid(proc.pid, variant.uid !== null);
    const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server}/status`, 'utf8'))![1]) / 1024;
    // Started up before the baseline is taken.
    const startRead = await readingStopped(server, 3, 'the server up');
    const baseline = rssMiB();

    await using cat = stdin.feed(Array.from({ length: count }, (_, i) => `${`{"jsonrpc":"2.0","id":${i},"method":"tools/list"}`.padEnd(255)}\n`).join(''));
    // Either the server takes the whole flood (it does not hold back), or it stops reading: its read count stays
    // put across polls while `cat` still waits to write.
    let last = -1;
    let still = 0;
    const settled = await waitFor(
      () => {
        if (cat.exitCode !== null) return 'took everything';
        const now = readBytes(server);
        still = now === last ? still + 1 : 0;
        last = now;
        return still >= 10 ? 'stopped reading' : rssMiB() - baseline > 400 ? 'memory grew' : null;
      },
      60_000,
      'the server to stop reading or take the whole flood',
    );
    const grewMiB = rssMiB() - baseline;
    const readMiB = (readBytes(server) - startRead) / 2 ** 20;

    // Now the client reads: every answer arrives, in full, and the rest of the flood is taken.
    const answers = new Set<string>();
    const decoder = new TextDecoder();
    let rest = '';
    const blocking = openSync(fifo, constants.O_RDONLY);
    closeSync(reader);
    for await (const chunk of Bun.file(blocking).stream()) {
      rest += decoder.decode(chunk, { stream: true });
      const lines = rest.split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        const m = /^\{"jsonrpc":"2\.0","id":(\d+),"result":\{"tools":\[/.exec(line);
        if (m) answers.add(m[1]!);
      }
      if (answers.size === count) break;
    }
    closeSync(blocking);
    // `cat` is done once the server has read it all; its end closing is the client closing stdin.
    expect({ settled, readLittle: readMiB < 2, grewLittle: grewMiB < 64, answers: answers.size, catCode: await cat.exited, exitCode: await proc.exited }).toEqual({
      settled: 'stopped reading',
      readLittle: true,
      grewLittle: true,
      answers: count,
      catCode: 0,
      exitCode: 0,
    });
  }, 120_000);
});

test(`more than ${MAX_IN_FLIGHT} requests at once: the next is refused at once (-31429) and a cancellation still reaches the running calls`, async () => {
  const { ws, audit } = place(null);
  const marker = newMarker();
  const peer = await startStdio(ws, env(audit, { HIDE_SANDBOX: 'off', HIDE_RATE_LIMIT_ENABLED: 'false' }));
  const { proc, lines } = peer;
  // `peer.send` ends the text with the last line's newline.
  const send = (text: string) => peer.send(text.replace(/\n$/, ''));
  try {
    send(Array.from({ length: MAX_IN_FLIGHT }, (_, i) => `${call(i, 'sleep', [marker])}\n`).join(''));
    await waitFor(() => sleeping(marker).length === MAX_IN_FLIGHT, 20_000, `${MAX_IN_FLIGHT} commands running`);
    send(`${call('one-more', 'sleep', [marker])}\n`);
    const refused = (await waitFor(() => lines.find((l) => l.includes('"one-more"')), 10_000, 'the answer to one request more'))!;
    // The session still reads: cancelling every running call ends them all.
    send(Array.from({ length: MAX_IN_FLIGHT }, (_, i) => `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":${i}}}\n`).join(''));
    await waitFor(() => sleeping(marker).length === 0, 20_000, 'every running command killed');
    send('{"jsonrpc":"2.0","id":"after","method":"ping"}\n');
    await waitFor(() => lines.some((l) => l.includes('"after"')), 10_000, 'the ping after');
    proc.stdin.end();
    expect({ refused: JSON.parse(refused), exitCode: await proc.exited }).toEqual({
      refused: {
        jsonrpc: '2.0',
        id: 'one-more',
        error: {
          code: -31429,
          message: `Too many requests: ${MAX_IN_FLIGHT} requests of this session are in flight; wait for an answer first`,
          data: { retryAfterSeconds: 1, reason: 'in_flight' },
        },
      },
      exitCode: 0,
    });
  } finally {
    await peer.stop();
  }
}, 60_000);

/** `hide stdio` from source, sandbox off, every stream a pipe. */
function sessionFromSource(ws: string, audit: string) {
  return Bun.spawn([process.execPath, MAIN, 'stdio', '--workspace', ws], { cwd: ws, env: env(audit, { HIDE_SANDBOX: 'off' }), stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
}

test('a line that is not UTF-8 is refused (-32700), not answered under an id the client never sent; the session goes on', async () => {
  const { ws, audit } = place(null);
  await using proc = sessionFromSource(ws, audit);
  // An id holding a lone continuation byte and a UTF-16 surrogate encoded as UTF-8 (both invalid), then a good ping.
  proc.stdin.write(Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":"a'), Buffer.from([0x80, 0xed, 0xa0, 0x80]), Buffer.from('","method":"ping"}\n')]));
  proc.stdin.write('{"jsonrpc":"2.0","id":2,"method":"ping"}\n');
  proc.stdin.end();
  const [out, code] = await Promise.all([proc.stdout.text(), proc.exited]);
  expect({ code, answers: out.trim().split('\n').map((l) => JSON.parse(l)) }).toEqual({
    code: 0,
    answers: [
      { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error: message is not valid UTF-8' } },
      { jsonrpc: '2.0', id: 2, result: {} },
    ],
  });
});

test('a tools/call that gives a name twice is refused (-32600) and does not run, as over HTTP; the session goes on', async () => {
  const { ws, audit } = place(null);
  await using proc = sessionFromSource(ws, audit);
  const call = (command: string) => `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"shell_execute","arguments":{${command},"arguments":["marker"]}}}\n`;
  proc.stdin.write(call('"command":"true","command":"touch"'));
  proc.stdin.write('{"jsonrpc":"2.0","id":2,"method":"ping"}\n');
  proc.stdin.end();
  const [out, code] = await Promise.all([proc.stdout.text(), proc.exited]);
  const answers = out.trim().split('\n').map((l) => JSON.parse(l));
  expect({ code, ids: answers.map((a) => [a.id, a.error?.code ?? 'result']) }).toEqual({ code: 0, ids: [[1, -32600], [2, 'result']] });
  expect(answers[0].error.message).toContain('"params.arguments.command" is given twice in one object');
  expect(existsSync(join(ws, 'marker'))).toBe(false);
});

test('SIGTERM while stdin is paused for a client that never reads stdout: the server still exits 0', async () => {
  const { ws, audit } = place(null);
  using fifoDir = disposableTempDir('hide-attack-stdio-fifo-');
  const fifo = join(fifoDir.path, 'out');
  expect(Bun.spawnSync(['mkfifo', fifo]).exitCode).toBe(0);
  // Our read end stays open and is never read: answers wait, and the unwritten ones used to hold the process open.
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(fifo, constants.O_WRONLY);
  try {
    const stdin = stdinFifo(fifoDir.path);
    await using proc = Bun.spawn([process.execPath, MAIN, 'stdio', '--workspace', ws], { cwd: ws, env: env(audit, { HIDE_SANDBOX: 'off' }), stdin: stdin.reader, stdout: writer, stderr: 'pipe' });
    closeSync(writer);
    closeSync(stdin.reader);
    const startRead = await readingStopped(proc.pid, 3, 'the server up');
    // About 6 MB of answers asked for: more than the pipe and the 1 MiB the server queues before it stops reading.
    const flood = Array.from({ length: 200 }, (_, i) => `{"jsonrpc":"2.0","id":${i},"method":"tools/list"}\n`).join('');
    await using cat = stdin.feed(flood);
    // The whole flood read (it fits in one read), and then nothing more: the server waits for its answers to be taken.
    await waitFor(() => readBytes(proc.pid) >= startRead + flood.length, 10_000, 'the server to read the requests');
    await readingStopped(proc.pid, 10, 'the server to hold back');
    proc.kill('SIGTERM');
    await waitFor(() => proc.exitCode !== null, 30_000, 'the server to exit after SIGTERM');
    expect(proc.exitCode).toBe(0);
  } finally {
    closeSync(reader);
  }
}, 60_000);

test('a session keeps none of what it has read: 256 MiB of input, refused as one oversized line, peaks well under its size', async () => {
  const { ws, audit } = place(null);
  using fifoDir = disposableTempDir('hide-attack-stdio-fifo-');
  const stdin = stdinFifo(fifoDir.path);
  const ping = '{"jsonrpc":"2.0","id":2,"method":"ping"}';
  await using proc = Bun.spawn([process.execPath, MAIN, 'stdio', '--workspace', ws], { cwd: ws, env: env(audit, { HIDE_SANDBOX: 'off' }), stdin: stdin.reader, stdout: 'pipe', stderr: 'pipe' });
  closeSync(stdin.reader);
  // Streamed by the kernel rather than held by this test; the input then stays open, so the server is still
  // there to be measured once it has answered.
  await using feeder = stdin.feedFrom(['sh', '-c', `head -c ${256 * 1024 * 1024} /dev/zero; printf '\\n%s\\n' '${ping}'; exec sleep 60`]);
  let out = '';
  const decoder = new TextDecoder();
  for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
    out += decoder.decode(chunk, { stream: true });
    if (out.split('\n').length > 2) break;
  }
  // The high-water mark of the server's own memory: a child's rusage would also count this test runner's, which
  // a vfork-style spawn lends it until exec.
  const peak = Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))![1]) * 1024;
  feeder.kill();
  expect(out.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
    { jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.stringContaining('Message exceeds the limit') } },
    { jsonrpc: '2.0', id: 2, result: {} },
  ]);
  // A session holding what it read peaks above the input's size (about 316 MB when it did); one that does not, near 85 MB.
  expect(peak).toBeLessThan(192 * 1024 * 1024);
}, 60_000);
