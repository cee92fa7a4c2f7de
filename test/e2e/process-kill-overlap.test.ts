/**
 * process_kill with a signal that need not end the process (SIGINT) while an
 * end is under way (SIGTERM, escalating to SIGKILL after its grace): the
 * process ends as the end says, killed for its reason, whichever call's wait
 * finishes first.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Connected, connectHttp } from '../helpers/mcp-client.ts';
import { waitFor } from '../helpers/wait.ts';

const PY = '/usr/bin/python3';
// Handles INT and TERM (says so, runs on): only the SIGKILL the TERM escalates to ends it.
const SURVIVOR = [
  '-c',
  'import os, signal, time\n' +
    'signal.signal(signal.SIGINT, lambda *a: os.write(1, b"int\\n"))\n' +
    'signal.signal(signal.SIGTERM, lambda *a: os.write(1, b"term\\n"))\n' +
    'print("ready", flush=True)\n' +
    'while True: time.sleep(1000)',
];

/** Reads with waitMs until `done(all output, last read)` holds. */
async function readUntil(c: Connected, processId: string, done: (all: string, last: Record<string, any>) => boolean) {
  let all = '';
  let cursor = 0;
  for (let i = 0; i < 50; i++) {
    const r = await c.call('process_read', { processId, cursor, waitMs: 5000 });
    expect(r.isError).toBe(false);
    all += r.output;
    cursor = r.cursor;
    if (done(all, r)) return r;
  }
  throw new Error(`condition not reached; output so far: ${JSON.stringify(all.slice(-500))}`);
}

describe.each([
  ['the sandbox on', {}],
  ['the sandbox off', { HIDE_SANDBOX: 'off' }],
] as const)('a SIGINT the process survives, then SIGTERM, with %s', (_name, env) => {
  let c: Connected & { url: string };
  beforeAll(async () => {
    c = await connectHttp(env);
  });
  afterAll(async () => {
    await c?.close();
    if (c) rmSync(c.dir, { recursive: true, force: true });
  });

  test('the process ends killed by the SIGTERM, and its process_exit line says so', async () => {
    const s = await c.call('process_start', { command: PY, arguments: SURVIVOR });
    expect(s.isError).toBe(false);
    await readUntil(c, s.processId, (all) => all.includes('ready\n'));
    // The SIGINT's call waits a second for an end that does not come; meanwhile the SIGTERM's end is under way.
    const interrupted = c.call('process_kill', { processId: s.processId, signal: 'SIGINT' });
    await readUntil(c, s.processId, (all) => all.includes('int\n'));
    const killed = await c.call('process_kill', { processId: s.processId, signal: 'SIGTERM' });
    expect((await interrupted).isError).toBe(false);
    // process_kill looks for the end for a while; on a loaded machine it may come later: a read waits for it.
    const ended = killed.status === 'running' ? await readUntil(c, s.processId, (_all, last) => last.status !== 'running') : killed;
    expect({ status: ended.status, reason: ended.reason }).toEqual({ status: 'killed', reason: 'process_kill sent SIGTERM' });
    const auditFile = join(c.dir, 'audit.jsonl');
    const exitLine = () =>
      readFileSync(auditFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .find((l) => l.event_type === 'process_exit' && l.arguments.processId === s.processId);
    await waitFor(() => exitLine() !== undefined, 5000, 'the process_exit line');
    expect({ status: exitLine().result.status, reason: exitLine().result.reason }).toEqual({ status: 'killed', reason: 'process_kill sent SIGTERM' });
  }, 30_000);
});
