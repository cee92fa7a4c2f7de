/**
 * Long-running processes through the real server and the SDK client, over
 * HTTP and over stdio: a REPL under a pseudo-terminal, a pipe read
 * incrementally with cursors, waitMs woken by new output (timed by the
 * child's own clock), and a kill that leaves nothing of the group.
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

  test('waitMs wakes on new output: within 100 ms of the child writing it, by the child\'s clock', async () => {
    const s = await c.call('process_start', {
      command: '/usr/bin/python3',
      arguments: ['-u', '-c', 'import time\nfor i in range(5):\n    time.sleep(0.3)\n    print(time.time_ns() // 1000, flush=True)'],
    });
    const latencies: number[] = [];
    let cursor = 0;
    for (let i = 0; i < 50 && latencies.length < 5; i++) {
      const r = await c.call('process_read', { processId: s.processId, cursor, waitMs: 5000 });
      const arrived = (performance.timeOrigin + performance.now()) * 1000;
      cursor = r.cursor;
      const stamps = r.output.split('\n').filter(Boolean).map(Number);
      // A read that brought one line was woken by it; one that brought several was not waiting.
      if (stamps.length === 1) latencies.push((arrived - stamps[0]!) / 1000);
      else for (const _ of stamps) latencies.push(Number.NaN);
      if (r.status !== 'running') break;
    }
    const woken = latencies.filter((l) => !Number.isNaN(l));
    expect(woken.length).toBeGreaterThanOrEqual(3);
    // The median: one read delayed by a busy CI machine is the scheduler, not
    // the wake-up; a read that polled instead of waking would miss on every line.
    const median = [...woken].sort((a, b) => a - b)[woken.length >> 1]!;
    expect(median).toBeLessThan(100);
  });

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
