/**
 * Long-running processes through the real server and the SDK client, over
 * HTTP and over stdio: a REPL under a pseudo-terminal, a pipe read
 * incrementally with cursors, waitMs woken by new output, and a kill that
 * leaves nothing of the group.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { rmSync } from 'node:fs';
import { type Connected, connectHttp, connectStdio } from '../helpers/mcp-client.ts';
import { waitFor } from '../helpers/wait.ts';

/** Reads with waitMs until `done(all output, last read)` holds; returns everything read and the last answer. */
async function readUntil(c: Connected, processId: string, done: (all: string, last: Record<string, any>) => boolean, cursor = 0) {
  let all = '';
  for (let i = 0; i < 100; i++) {
    const r = await c.call('process_read', { processId, cursor, waitMs: 2000 });
    expect(r.isError).toBe(false);
    all += r.output;
    cursor = r.cursor;
    if (done(all, r)) return { all, last: r, cursor };
  }
  throw new Error(`condition not reached; output so far: ${JSON.stringify(all.slice(-500))}`);
}

function pgrep(pattern: string): number[] {
  // Anchored: the shell that started them carries the pattern in its own command line.
  const r = Bun.spawnSync(['pgrep', '-f', `^[^ ]*${pattern}`]);
  return new TextDecoder().decode(r.stdout).split('\n').filter(Boolean).map(Number);
}

const transports = [
  ['http', () => connectHttp()],
  ['stdio', () => connectStdio()],
  // The same through local process groups, where the sandbox is off.
  ['http with the sandbox off', () => connectHttp({ HIDE_SANDBOX: 'off' })],
] as const;

describe.each(transports)('process tools over %s', (name, connect) => {
  let c: Connected;
  beforeAll(async () => {
    c = await connect();
  });
  afterAll(async () => {
    await c?.close();
    if (c) rmSync(c.dir, { recursive: true, force: true });
  });

  test('an interactive python3 under a terminal: 1+41 gives 42, exit() ends it', async () => {
    const s = await c.call('process_start', { command: '/usr/bin/python3', arguments: ['-q'], terminal: { cols: 80, rows: 24 } });
    expect(s.isError).toBe(false);
    expect(s.processId).toMatch(/^p-[0-9a-f]{32}@/);
    const prompt = await readUntil(c, s.processId, (all) => all.includes('>>> '));
    expect((await c.call('process_write', { processId: s.processId, input: '1+41\n' })).isError).toBe(false);
    const answer = await readUntil(c, s.processId, (all) => /\r?\n42\r?\n/.test(all), prompt.cursor);
    expect(answer.all).toContain('42');
    await c.call('process_write', { processId: s.processId, input: 'exit()\n' });
    const end = await readUntil(c, s.processId, (_all, last) => last.status !== 'running', answer.cursor);
    expect(end.last).toMatchObject({ status: 'exited', exitCode: 0 });
  });

  // As root under the sandbox the command is the init of its own PID namespace, and the kernel drops a signal an init
  // leaves at its default action: Ctrl-C to a `cat` did nothing there, where on any terminal it ends it.
  test('Ctrl-C and Ctrl-\\ typed on a terminal end a program that leaves them at their default; in raw mode Ctrl-C is a key', async () => {
    for (const [key, program] of [['\u0003', ['cat']], ['\u001c', ['sleep', '1000.6161']]] as const) {
      const s = await c.call('process_start', { command: program[0], arguments: program.slice(1), terminal: { cols: 80, rows: 24 } });
      expect(s.isError).toBe(false);
      // The terminal is set up (echo on) once what is typed comes back.
      await c.call('process_write', { processId: s.processId, input: 'ready\n' });
      const ready = await readUntil(c, s.processId, (all) => all.includes('ready'));
      expect((await c.call('process_write', { processId: s.processId, input: key })).isError).toBe(false);
      const end = await readUntil(c, s.processId, (_all, last) => last.status !== 'running', ready.cursor);
      expect([program[0], end.last.status]).toEqual([program[0], 'exited']);
    }
    // A program that reads its terminal raw gets the byte, and is not ended for it.
    // SIGINT left at its default (Python takes it itself otherwise): only raw mode keeps the byte from ending it.
    const raw = 'import signal, sys, tty; signal.signal(signal.SIGINT, signal.SIG_DFL); tty.setraw(0); print("raw", flush=True); b = sys.stdin.buffer.read(1); print(b.hex(), flush=True)';
    const s = await c.call('process_start', { command: '/usr/bin/python3', arguments: ['-c', raw], terminal: { cols: 80, rows: 24 } });
    const ready = await readUntil(c, s.processId, (all) => all.includes('raw'));
    await c.call('process_write', { processId: s.processId, input: '\u0003' });
    const end = await readUntil(c, s.processId, (_all, last) => last.status !== 'running', ready.cursor);
    expect([end.all.includes('03'), end.last.exitCode]).toEqual([true, 0]);
  });

  // Up to 40 processes a client, each with up to 4096 arguments of any length, were listed whole: 40 starts made
  // every later process_list a 157 MB answer.
  test('process_list shortens long command lines: 32 arguments at most, each cut to 256 characters', async () => {
    const long = Array.from({ length: 100 }, (_, i) => `${i}:${'\u0001'.repeat(1000)}`);
    const s = await c.call('process_start', { command: 'sleep', arguments: ['30.7171', ...long] });
    // sleep refuses the extra operands and ends; its entry stays listed.
    const entry = (await c.call('process_list', {})).processes.find((p: { processId: string }) => p.processId === s.processId);
    expect(entry.arguments).toHaveLength(33);
    expect(entry.arguments[0]).toBe('30.7171');
    expect(entry.arguments[32]).toBe('… 69 more');
    for (const a of entry.arguments.slice(1, 32)) expect(JSON.stringify(a).length).toBeLessThanOrEqual(256 + 3 + 2);
    expect(entry.arguments[1]).toEndWith('…');
  });

  test('a pipe printing a line every 100 ms, read with cursors: no line lost or repeated', async () => {
    const s = await c.call('process_start', {
      command: 'sh',
      arguments: ['-c', 'i=1; while [ $i -le 15 ]; do echo "line $i"; i=$((i+1)); sleep 0.1; done'],
    });
    expect(s.isError).toBe(false);
    let reads = 0;
    const { all, last } = await readUntil(c, s.processId, (_all, r) => {
      reads++;
      return r.status !== 'running';
    });
    expect(last.status).toBe('exited');
    expect(all.trimEnd().split('\n')).toEqual(Array.from({ length: 15 }, (_, i) => `line ${i + 1}`));
    // Read incrementally: more than one read brought output.
    expect(reads).toBeGreaterThan(2);
    expect(last.dropped).toBe(0);
  });

  test('waitMs wakes on new output: a read returns with the line that woke it, never at the end of its wait', async () => {
    const s = await c.call('process_start', {
      command: '/usr/bin/python3',
      // One write per line: print under -u writes the line and its newline apart.
      arguments: ['-c', 'import os, time\nfor i in range(5):\n    time.sleep(0.5)\n    os.write(1, b"%d\\n" % i)'],
    });
    // Each read may wait 30 s, longer than this test may take: a read that waited out its time instead of waking
    // fails the test by its timeout, and one that returned empty or late with several lines shows below.
    const reads: string[][] = [];
    let cursor = 0;
    for (let i = 0; i < 20; i++) {
      const r = await c.call('process_read', { processId: s.processId, cursor, waitMs: 30_000 });
      cursor = r.cursor;
      if (r.status !== 'running') break;
      reads.push(r.output.split('\n').filter(Boolean));
    }
    expect(reads.every((lines) => lines.length > 0)).toBe(true);
    // A line every 500 ms: a read woken by a line brings that one line. A busy machine may let two lines in before
    // a read returns now and then; a read that slept instead of waking would bring several every time.
    expect(reads.filter((lines) => lines.length === 1).length).toBeGreaterThanOrEqual(3);
  }, 20_000);

  test('process_kill leaves no process of its group', async () => {
    const marker = `1000.${process.pid}${transports.findIndex(([n]) => n === name)}`;
    const s = await c.call('process_start', { command: 'sh', arguments: ['-c', `sleep ${marker} & sleep ${marker} & echo up; wait`] });
    await readUntil(c, s.processId, (all) => all.includes('up'));
    // The shell may print before both children have exec'd sleep.
    await waitFor(() => pgrep(`sleep ${marker}`).length === 2, 5000, 'both sleeps');
    const k = await c.call('process_kill', { processId: s.processId });
    expect(k).toMatchObject({ isError: false, status: 'killed' });
    expect(pgrep(`sleep ${marker}`)).toEqual([]);
    const listed = await c.call('process_list', {});
    expect(listed.processes.find((p: { processId: string }) => p.processId === s.processId)).toMatchObject({ status: 'killed' });
  });
});
