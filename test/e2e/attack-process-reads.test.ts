/**
 * The process tools attacked where a call waits or spans time: reads of output
 * that arrives in pieces (a character split between two writes), cursors a
 * client made up, idle limits shorter than a waiting read, a keys reload that
 * revokes a client while its processes run, a command's timeout, and a drain
 * with long polls open. Through the real server; each test asserts the safe behaviour.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from '../../src/util/sha256.ts';
import { startServerProcess } from '../helpers/process.ts';
import { callTool, rpc, startServer, tempDir, type TestServer, toolCallsInFlight, waitFor } from '../helpers/server.ts';

const KEY_A = 'a'.repeat(43);
const KEY_B = 'b'.repeat(43);
const KEY_B2 = 'B'.repeat(43);
const PY = '/usr/bin/python3';

let keysDir: string;
let keysFile: string;
let server: TestServer;

function writeKeys(clients: { client_id: string; api_key: string; enabled: boolean; tools?: string[]; readOnly?: boolean }[]): void {
  writeFileSync(keysFile, JSON.stringify({ clients }));
}

beforeAll(async () => {
  keysDir = tempDir();
  keysFile = join(keysDir, 'keys.json');
  writeKeys([
    { client_id: 'alice', api_key: KEY_A, enabled: true },
    { client_id: 'bob', api_key: KEY_B, enabled: true },
  ]);
  server = await startServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keysFile, HIDE_PROCESS_KEEP_EXITED_SECONDS: '60' });
});
afterAll(async () => {
  await server?.stop();
  rmSync(keysDir, { recursive: true, force: true });
});

const as = (key: string, name: string, args: Record<string, unknown>) => callTool(server.mcpUrl, name, args, { 'X-API-Key': key });
const alice = (name: string, args: Record<string, unknown>) => as(KEY_A, name, args);

/** A python3 program that writes each piece (bytes, as \x escapes) to stdout, waiting for a SIGUSR1 (which it handles) before each one after the first. */
function pieces(...parts: string[]): string[] {
  const writes = parts.map((p) => `os.write(1, b"${p}")`).join('\nos.read(r, 1)\n');
  const setup = 'import os, signal\nr, w = os.pipe()\nos.set_blocking(w, False)\nsignal.set_wakeup_fd(w)\nsignal.signal(signal.SIGUSR1, lambda *a: None)';
  return ['-c', `${setup}\n${writes}\nos.read(r, 1)`];
}
/** Lets a `pieces` program write its next piece. */
const next = (processId: string) => alice('process_kill', { processId, signal: 'SIGUSR1' });

describe('reading output that arrives in pieces', () => {
  test('a character split between two writes reads whole, through a pipe and through a terminal', async () => {
    for (const terminal of [false, { cols: 80, rows: 24 }]) {
      // "A€B": the euro sign's three bytes, two in the first write and the last in the second.
      const s = await alice('process_start', { command: PY, arguments: pieces('A\\xe2\\x82', '\\xacB'), terminal });
      const first = await alice('process_read', { processId: s.processId, waitMs: 5000 });
      expect(first.output).toBe('A');
      await next(s.processId);
      let output = first.output;
      let cursor = first.cursor;
      while (!output.includes('B')) {
        const r = await alice('process_read', { processId: s.processId, cursor, waitMs: 5000 });
        expect(r.status).toBe('running');
        output += r.output;
        cursor = r.cursor;
      }
      expect(output).toBe('A€B');
      await alice('process_kill', { processId: s.processId, signal: 'SIGKILL' });
    }
  });

  test('a waiting read is not answered empty while only the start of a character has arrived', async () => {
    const s = await alice('process_start', { command: PY, arguments: pieces('\\xf0\\x9f', '\\x98\\x80') });
    // The first read waits past the two bytes of the four-byte emoji until the rest arrives.
    const read = alice('process_read', { processId: s.processId, waitMs: 10_000 });
    await waitFor(async () => (await alice('process_list', {})).processes.find((p: any) => p.processId === s.processId)?.bytesOut === 2, 5000, 'the first half');
    await next(s.processId);
    expect(await read).toMatchObject({ output: '😀', cursor: 4, status: 'running' });
    await alice('process_kill', { processId: s.processId, signal: 'SIGKILL' });
  });

  test('a process that ends in the middle of a character: what it wrote is still read, as U+FFFD', async () => {
    const s = await alice('process_start', { command: PY, arguments: ['-c', 'import os\nos.write(1, b"ok\\xe2\\x82")'] });
    let r = await alice('process_read', { processId: s.processId, waitMs: 5000 });
    let output = r.output;
    while (r.status === 'running') {
      r = await alice('process_read', { processId: s.processId, cursor: r.cursor, waitMs: 5000 });
      output += r.output;
    }
    expect(r.status).toBe('exited');
    expect(output).toBe('ok\uFFFD');
    expect(r.cursor).toBe(4);
  });
});

describe('a cursor the client made up', () => {
  test('a cursor past the end loses none of the output that arrives while the read waits', async () => {
    const s = await alice('process_start', { command: PY, arguments: pieces('>', 'hello\\n') });
    expect((await alice('process_read', { processId: s.processId, waitMs: 5000 })).output).toBe('>');
    const read = alice('process_read', { processId: s.processId, cursor: 1_000_000, waitMs: 10_000 });
    // The read waits (nothing new yet); now the process prints.
    await next(s.processId);
    expect(await read).toMatchObject({ output: 'hello\n', cursor: 7, dropped: 0 });
    await alice('process_kill', { processId: s.processId, signal: 'SIGKILL' });
  });
});

describe('the idle limit', () => {
  test('a read waiting on a quiet process keeps it alive past an idle limit shorter than its wait', async () => {
    // Two seconds: room for a loaded machine between the start and the read.
    const s = await alice('process_start', { command: 'sleep', arguments: ['1000.2424'], idleTimeoutSeconds: 2 });
    // An agent polling as the tool asks (process_read with waitMs) is reading the process the whole time.
    const r = await alice('process_read', { processId: s.processId, waitMs: 4000 });
    expect(r).toMatchObject({ status: 'running', reason: null });
    // With no call naming it, the idle limit still ends it (watched from outside: a call would name it).
    await waitFor(() => Bun.spawnSync(['pgrep', '-f', 'sleep 1000.2424']).exitCode !== 0, 10_000, 'the idle limit');
    expect(await alice('process_read', { processId: s.processId })).toMatchObject({ status: 'timed-out' });
  }, 20_000);
});

describe('a keys reload', () => {
  test("disabling a client ends its running processes; another client's, and a client whose key was rotated, keep theirs", async () => {
    const a = await alice('process_start', { command: 'sleep', arguments: ['1000.3131'] });
    const b = await as(KEY_B, 'process_start', { command: 'sleep', arguments: ['1000.3232'] });
    // Running for sure before the reload: between fork and exec pgrep does not see the sleep, and its end below proves nothing.
    await waitFor(() => Bun.spawnSync(['pgrep', '-f', 'sleep 1000.3131']).exitCode === 0, 5000, "alice's process to start");
    // alice is revoked (her key leaked, say); bob's key is rotated.
    writeKeys([
      { client_id: 'alice', api_key: KEY_A, enabled: false },
      { client_id: 'bob', api_key: KEY_B2, enabled: true },
    ]);
    server.rt.keyStore!.reload();
    expect((await rpc(server.mcpUrl, 'tools/call', { name: 'process_list', arguments: {} }, { 'X-API-Key': KEY_A })).status).toBe(401);
    const listed = await as(KEY_B2, 'process_list', {});
    expect(listed.processes.map((p: any) => p.processId)).toEqual([b.processId]);
    expect(listed.processes[0].status).toBe('running');
    // Nobody can reach alice's process any more, so it must not run on until its idle limit.
    await waitFor(() => Bun.spawnSync(['pgrep', '-f', 'sleep 1000.3131']).exitCode !== 0, 5000, "alice's process to end");
    // Re-enabled, alice finds it ended, with the reason.
    writeKeys([
      { client_id: 'alice', api_key: KEY_A, enabled: true },
      { client_id: 'bob', api_key: KEY_B2, enabled: true },
    ]);
    server.rt.keyStore!.reload();
    // The end is recorded once the launcher reports it, a moment after the sleep is gone.
    const mine = await waitFor(async () => {
      const r = await alice('process_read', { processId: a.processId });
      return r.status !== 'running' && r;
    }, 5000, 'the end to be recorded');
    expect(mine).toMatchObject({ status: 'killed', reason: 'its client was disabled or removed from the keys file' });
    await as(KEY_B2, 'process_kill', { processId: b.processId, signal: 'SIGKILL' });
  });

  test("disabling a client, taking the tool from it, or replacing its key, stops its calls still running, saying why; another client's call runs on", async () => {
    const [KEY_F, KEY_G, KEY_G2] = ['f', 'g', 'h'].map((c) => c.repeat(43)) as [string, string, string];
    const others = [
      { client_id: 'alice', api_key: KEY_A, enabled: true },
      { client_id: 'bob', api_key: KEY_B2, enabled: true },
    ];
    writeKeys([...others, { client_id: 'frank', api_key: KEY_F, enabled: true }, { client_id: 'gina', api_key: KEY_G, enabled: true }]);
    server.rt.keyStore!.reload();
    const calls = new Map<string, Promise<any>>();
    for (const [key, marker] of [[KEY_A, '1000.3737'], [KEY_F, '1000.3838'], [KEY_G, '1000.4040'], [KEY_B2, '1000.3939']] as const) {
      calls.set(marker, as(key, 'shell_execute', { command: 'sleep', arguments: [marker], timeoutSeconds: 60 }));
      await waitFor(() => Bun.spawnSync(['pgrep', '-f', `sleep ${marker}`]).exitCode === 0, 5000, `sleep ${marker} to start`);
    }
    // alice is disabled, frank keeps his key but loses shell_execute, gina's key is replaced (it leaked); bob is untouched.
    writeKeys([
      { client_id: 'alice', api_key: KEY_A, enabled: false },
      others[1]!,
      { client_id: 'frank', api_key: KEY_F, enabled: true, tools: ['read_file'] },
      { client_id: 'gina', api_key: KEY_G2, enabled: true },
    ]);
    server.rt.keyStore!.reload();
    expect(await calls.get('1000.3737')).toMatchObject({ exitCode: -1, error: 'command cancelled: the server stopped it: its client was disabled or removed from the keys file; its process group was killed' });
    expect(await calls.get('1000.3838')).toMatchObject({
      exitCode: -1,
      error: 'command cancelled: the server stopped it: its client may no longer call shell_execute (its tools or readOnly in the keys file); its process group was killed',
    });
    expect(await calls.get('1000.4040')).toMatchObject({
      exitCode: -1,
      error: 'command cancelled: the server stopped it: the key it was made with no longer signs in its client (replaced, disabled or removed in the keys file); its process group was killed',
    });
    expect(Bun.spawnSync(['pgrep', '-f', 'sleep 1000.3939']).exitCode).toBe(0);
    // SIGKILL: the first process of a PID namespace ignores a TERM it has no handler for.
    Bun.spawnSync(['pkill', '-KILL', '-f', 'sleep 1000.3939']);
    // Ended by the signal sent here, not by the server.
    expect((await calls.get('1000.3939')).error).not.toContain('the server stopped it');
    writeKeys(others);
    server.rt.keyStore!.reload();
  }, 30_000);

  // A request is signed in on its headers; its body may come up to 30 s later, and admission after it. A reload in
  // between (the key replaced, the client disabled, the tool taken) must stop it before it runs: a request held open
  // with its body unsent ran with a revoked key. Here the message core is handed a call signed in before the reload.
  test('a call signed in before a reload and run after it is refused when its key no longer allows it, and runs nothing', async () => {
    const [KEY_H, KEY_H2] = ['i', 'j'].map((c) => c.repeat(43)) as [string, string];
    const others = [
      { client_id: 'alice', api_key: KEY_A, enabled: true },
      { client_id: 'bob', api_key: KEY_B2, enabled: true },
    ];
    const core = server.rt.core;
    const ws = server.rt.config.workspace;
    const signedIn = (key: string, clientId: string) => ({
      clientId,
      clientIp: '127.0.0.1',
      apiKeyHash: sha256Hex(key),
      correlationId: `late-${clientId}`,
      transport: 'http' as const,
      signal: new AbortController().signal,
      allowedTools: null,
      readOnly: false,
    });
    const run = async (key: string, clientId: string, marker: string) => {
      const incoming = core.read(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'touch', arguments: [join(ws, marker)] } } }), null);
      if (!incoming.ok) throw new Error('not read');
      return core.answer(incoming, signedIn(key, clientId));
    };
    writeKeys([...others, { client_id: 'hank', api_key: KEY_H, enabled: true }]);
    server.rt.keyStore!.reload();
    // hank's key is replaced, bob loses shell_execute: calls they signed in with before are refused; alice's runs.
    writeKeys([{ ...others[0]! }, { ...others[1]!, tools: ['read_file'] }, { client_id: 'hank', api_key: KEY_H2, enabled: true }]);
    server.rt.keyStore!.reload();
    const [hank, bob, alice] = [await run(KEY_H, 'hank', 'late-hank'), await run(KEY_B2, 'bob', 'late-bob'), await run(KEY_A, 'alice', 'late-alice')];
    expect([hank.status, bob.status, alice.status]).toEqual([401, 403, 200]);
    expect(['late-hank', 'late-bob', 'late-alice'].map((m) => existsSync(join(ws, m)))).toEqual([false, false, true]);
    writeKeys(others);
    server.rt.keyStore!.reload();
  });

  test('taking process_read and process_kill from a client (its tools, readOnly) ends its running processes; a client left one of them keeps its own', async () => {
    const [KEY_C, KEY_D, KEY_E] = ['c', 'd', 'e'].map((c) => c.repeat(43)) as [string, string, string];
    const PROCESS_TOOLS = ['process_start', 'process_read', 'process_kill'];
    const others = [
      { client_id: 'alice', api_key: KEY_A, enabled: true },
      { client_id: 'bob', api_key: KEY_B2, enabled: true },
    ];
    writeKeys([
      ...others,
      { client_id: 'carol', api_key: KEY_C, enabled: true, tools: PROCESS_TOOLS },
      { client_id: 'dave', api_key: KEY_D, enabled: true, tools: PROCESS_TOOLS },
      { client_id: 'erin', api_key: KEY_E, enabled: true },
    ]);
    server.rt.keyStore!.reload();
    const started = new Map<string, string>();
    for (const [key, marker] of [[KEY_C, '1000.3333'], [KEY_D, '1000.3434'], [KEY_E, '1000.3535']] as const) {
      started.set(marker, (await as(key, 'process_start', { command: 'sleep', arguments: [marker] })).processId);
      await waitFor(() => Bun.spawnSync(['pgrep', '-f', `sleep ${marker}`]).exitCode === 0, 5000, `sleep ${marker} to start`);
    }
    // carol loses every process tool, erin becomes read-only (the process tools all change state), dave keeps process_kill.
    writeKeys([
      ...others,
      { client_id: 'carol', api_key: KEY_C, enabled: true, tools: ['shell_execute'] },
      { client_id: 'dave', api_key: KEY_D, enabled: true, tools: ['process_start', 'process_kill'] },
      { client_id: 'erin', api_key: KEY_E, enabled: true, readOnly: true },
    ]);
    server.rt.keyStore!.reload();
    for (const marker of ['1000.3333', '1000.3535']) {
      await waitFor(() => Bun.spawnSync(['pgrep', '-f', `sleep ${marker}`]).exitCode !== 0, 5000, `sleep ${marker} to end`);
    }
    // dave's was not touched by the reload: he still stops it himself.
    expect(await as(KEY_D, 'process_kill', { processId: started.get('1000.3434'), signal: 'SIGKILL' })).toMatchObject({ status: 'killed', reason: 'process_kill sent SIGKILL' });
    // Given their tools back, carol and erin find theirs ended, with the reason.
    writeKeys([...others, { client_id: 'carol', api_key: KEY_C, enabled: true }, { client_id: 'erin', api_key: KEY_E, enabled: true }]);
    server.rt.keyStore!.reload();
    for (const [key, marker] of [[KEY_C, '1000.3333'], [KEY_E, '1000.3535']] as const) {
      const ended = await waitFor(async () => {
        const r = await as(key, 'process_read', { processId: started.get(marker) });
        return r.status !== 'running' && r;
      }, 5000, 'the end to be recorded');
      expect(ended).toMatchObject({ status: 'killed', reason: 'its client may no longer call process_read or process_kill (its tools or readOnly in the keys file)' });
    }
    // Nor is such a process started: a client that may start processes and list them, but neither read nor kill
    // them, started ones that ran unwatched to their lifetime (process_list kept them from their idle limit).
    writeKeys([...others, { client_id: 'carol', api_key: KEY_C, enabled: true, tools: ['process_start', 'process_list'] }]);
    server.rt.keyStore!.reload();
    const refused = await as(KEY_C, 'process_start', { command: 'sleep', arguments: ['1000.3636'] });
    expect(refused.error).toBe('this client may call neither process_read nor process_kill: nobody could read or stop a process it started, so none is started');
    expect(Bun.spawnSync(['pgrep', '-f', 'sleep 1000.3636']).exitCode).not.toBe(0);
    expect((await as(KEY_C, 'process_list', {})).processes.filter((p: { status: string }) => p.status === 'running')).toEqual([]);
    writeKeys(others);
    server.rt.keyStore!.reload();
  });
});

describe('process_kill with a signal the process leaves at its default', () => {
  test('ends it, also where it is the init of its own PID namespace (sandbox as root); a process that handles the signal survives it', async () => {
    // Without the sandbox's PID namespaces (sandbox off, an unprivileged server) this holds trivially: the kernel delivers the signal.
    for (const signal of ['SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGTERM']) {
      const s = await alice('process_start', { command: 'sleep', arguments: ['1000.6464'] });
      await waitFor(() => Bun.spawnSync(['pgrep', '-f', 'sleep 1000.6464']).exitCode === 0, 5000, 'the sleep');
      const killed = await alice('process_kill', { processId: s.processId, signal });
      // process_kill looks for the end for a second; on a loaded machine the end may come later: a read waits for it.
      const ended = killed.status === 'running' ? await alice('process_read', { processId: s.processId, waitMs: 10_000 }) : killed;
      expect(ended).toMatchObject({ status: 'killed', reason: `process_kill sent ${signal}` });
      await waitFor(() => Bun.spawnSync(['pgrep', '-f', 'sleep 1000.6464']).exitCode !== 0, 5000, 'the sleep gone');
    }
    // os.write in the handler: a print there, with the signal in time to land inside print("ready"), failed on the
    // reentrant call into stdout's buffer and ended the program.
    const p = await alice('process_start', {
      command: PY,
      arguments: ['-c', 'import os, signal, time\nsignal.signal(signal.SIGINT, lambda *a: os.write(1, b"caught\\n"))\nprint("ready", flush=True)\ntime.sleep(1000)'],
    });
    const ready = await alice('process_read', { processId: p.processId, waitMs: 5000 });
    expect(ready.output).toBe('ready\n');
    expect(await alice('process_kill', { processId: p.processId, signal: 'SIGINT' })).toMatchObject({ status: 'running' });
    expect(await alice('process_read', { processId: p.processId, cursor: ready.cursor, waitMs: 5000 })).toMatchObject({ output: 'caught\n', status: 'running' });
    await alice('process_kill', { processId: p.processId, signal: 'SIGKILL' });
  }, 60_000);

  // A shell blocks nearly every signal around each fork (dash for about a tenth of a busy loop's time). A signal that
  // lands then stays pending until the shell unblocks it, and is discarded then, as the init leaves it at its
  // default: judged only before sending, the shell ran on (a timeout or cancellation waited out its grace, a
  // process_kill of SIGHUP was lost).
  test('an init that had the signal blocked only for a moment, and leaves it at its default, is ended when it unblocks it', async () => {
    const p = await alice('process_start', {
      command: PY,
      arguments: ['-c', 'import signal, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGHUP])\nprint("ready", flush=True)\nwhile signal.SIGHUP not in signal.sigpending(): time.sleep(0.002)\nsignal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGHUP])\ntime.sleep(1000)'],
    });
    expect((await alice('process_read', { processId: p.processId, waitMs: 5000 })).output).toBe('ready\n');
    const killed = await alice('process_kill', { processId: p.processId, signal: 'SIGHUP' });
    const ended = killed.status === 'running' ? await alice('process_read', { processId: p.processId, waitMs: 10_000 }) : killed;
    expect(ended).toMatchObject({ status: 'killed', reason: 'process_kill sent SIGHUP' });
  }, 30_000);

  // Told apart from the shell above by a look that finds the signal blocked and no longer pending: it was taken.
  test('an init that takes the blocked signal (sigwaitinfo, signalfd) and then unblocks it finishes on its own', async () => {
    const p = await alice('process_start', {
      command: PY,
      arguments: [
        '-c',
        'import signal, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGHUP])\nprint("ready", flush=True)\nwhile signal.SIGHUP not in signal.sigpending(): time.sleep(0.002)\nsignal.sigwaitinfo([signal.SIGHUP])\ntime.sleep(0.2)\nsignal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGHUP])\ntime.sleep(1)\nprint("cleaned up", flush=True)',
      ],
    });
    let r = await alice('process_read', { processId: p.processId, waitMs: 5000 });
    expect(r.output).toBe('ready\n');
    await alice('process_kill', { processId: p.processId, signal: 'SIGHUP' });
    r = await alice('process_read', { processId: p.processId, cursor: r.cursor, waitMs: 10_000 });
    expect(r).toMatchObject({ output: 'cleaned up\n' });
    if (r.status === 'running') r = await alice('process_read', { processId: p.processId, cursor: r.cursor, waitMs: 10_000 });
    expect(r).toMatchObject({ status: 'exited', exitCode: 0 });
  }, 30_000);

  test('an init waiting for the signal in sigwait (as tini and dumb-init do) takes it, each time, and runs on', async () => {
    // The signal left blocked and waited for: SigBlk no longer shows it while the wait lasts, and once the signal
    // wakes the process, nothing in /proc says it waited. Judged after sending, it was killed about every other time.
    const marker = `sigwait-${process.pid}`;
    const p = await alice('process_start', {
      command: PY,
      arguments: ['-c', `# ${marker}\nimport signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])\nprint("ready", flush=True)\nwhile True:\n  print("got", signal.sigwait([signal.SIGUSR1]), flush=True)`],
    });
    let r = await alice('process_read', { processId: p.processId, waitMs: 5000 });
    expect(r.output).toBe('ready\n');
    const pid = Number(Bun.spawnSync(['pgrep', '-f', marker]).stdout.toString().trim());
    for (let i = 0; i < 5; i++) {
      await waitFor(() => readFileSync(`/proc/${pid}/wchan`, 'utf8').includes('sigtimedwait'), 5000, 'the sigwait');
      expect(await alice('process_kill', { processId: p.processId, signal: 'SIGUSR1' })).toMatchObject({ status: 'running' });
      r = await alice('process_read', { processId: p.processId, cursor: r.cursor, waitMs: 5000 });
      expect(r).toMatchObject({ output: 'got 10\n', status: 'running' });
    }
    await alice('process_kill', { processId: p.processId, signal: 'SIGKILL' });
    // Each process_kill of a signal that does not end the process waits a second to see whether it does.
  }, 20_000);
});

describe('shell_execute timing out', () => {
  test('a command that leaves SIGTERM at its default ends at once, also as the init of its own PID namespace (sandbox as root): a shell does not run on to its next line', async () => {
    // The shell waits on a child that takes the TERM and holds on until this test says go. The shell leaves TERM at
    // its default: where it is a namespace init the kernel would discard it, and the shell would run on to its next
    // line while the grace before SIGKILL lasts. Ended at once (as TERM ends it anywhere else), it never does.
    writeFileSync(
      join(server.workspace, 'hold-on-term.py'),
      "import os, signal, time\ndef term(*_):\n  open('got-term', 'w').close()\n  while not os.path.exists('go'): time.sleep(0.01)\n  os._exit(0)\nsignal.signal(signal.SIGTERM, term)\ntime.sleep(1000)\n",
    );
    let settled = false;
    const call = alice('shell_execute', { command: 'sh', arguments: ['-c', `${PY} hold-on-term.py; echo ran-on`], timeoutSeconds: 1 });
    void call.finally(() => (settled = true)).catch(() => {});
    // Killed with the shell, the child may never get to say it took the TERM.
    await waitFor(() => settled || existsSync(join(server.workspace, 'got-term')), 10_000, 'the timeout');
    writeFileSync(join(server.workspace, 'go'), '');
    expect(await call).toMatchObject({ stdout: '', exitCode: -1, timedOut: true, error: 'command timed out after 1 s; its process group was killed' });
    for (const f of ['hold-on-term.py', 'got-term', 'go']) rmSync(join(server.workspace, f), { force: true });
  }, 20_000);

  test('a command that handles SIGTERM gets it and ends on its own', async () => {
    const r = await alice('shell_execute', { command: 'sh', arguments: ['-c', 'trap "echo term; exit 3" TERM\nsleep 1000.7171 & wait'], timeoutSeconds: 1 });
    expect(r).toMatchObject({ stdout: 'term\n', exitCode: -1, timedOut: true, error: 'command timed out after 1 s; its process group was killed' });
    expect(Bun.spawnSync(['pgrep', '-f', 'sleep 1000.7171']).exitCode).not.toBe(0);
  }, 20_000);
});

// The answer carries the output twice, once inside a string of the other, and JSON writes a control byte as six
// characters: one read of 1 MiB of them made 13.6 MB of JSON and held the event loop a third of a second.
describe('output of control bytes', () => {
  test('one read returns fewer bytes, its answer a few MB at most; the cursor goes on from there and every byte comes', async () => {
    const s = await alice('process_start', { command: 'head', arguments: ['-c', '1048576', '/dev/zero'] });
    await waitFor(async () => (await alice('process_read', { processId: s.processId, maxBytes: 1 })).status !== 'running', 10_000, 'the process to end');
    let cursor = 0;
    let total = 0;
    const sizes: number[] = [];
    for (let i = 0; i < 10 && total < 1048576; i++) {
      const body = JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'process_read', arguments: { processId: s.processId, cursor, maxBytes: 1048576 } } });
      const res = await fetch(server.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'X-API-Key': KEY_A }, body });
      const text = await res.text();
      sizes.push(text.length);
      const read = JSON.parse(text).result.structuredContent;
      expect(read.output).toBe('\0'.repeat(read.cursor - cursor));
      total += read.output.length;
      cursor = read.cursor;
    }
    expect({ total, largestAnswerUnder6MB: Math.max(...sizes) < 6_000_000, reads: sizes.length > 1 }).toEqual({ total: 1048576, largestAnswerUnder6MB: true, reads: true });
  }, 60_000);
});

describe('SIGTERM to the server', () => {
  test('a long poll is answered when the drain begins instead of holding it for the whole grace', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'ws'));
    // A grace far longer than the read's wait: an answer that came from the drain's end would say "killed".
    const s = await startServerProcess({
      cwd: dir,
      env: { HIDE_WORKSPACE: join(dir, 'ws'), HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'), HIDE_SHUTDOWN_GRACE_SECONDS: '60', HIDE_RATE_LIMIT_ENABLED: 'false' },
    });
    try {
      const url = `${s.url}/mcp`;
      const p = await callTool(url, 'process_start', { command: 'sleep', arguments: ['1000.5757'] });
      const read = callTool(url, 'process_read', { processId: p.processId, waitMs: 30_000 });
      await waitFor(async () => (await toolCallsInFlight(s.url)) === 1, 5000, 'the read to be in flight');
      s.proc.kill('SIGTERM');
      expect(await read).toMatchObject({ status: 'running', output: '' });
      expect(await s.proc.exited).toBe(0);
      expect(Bun.spawnSync(['pgrep', '-f', 'sleep 1000.5757']).exitCode).not.toBe(0);
    } finally {
      if (s.proc.exitCode === null) await s.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
