/**
 * The supervisor above an unprivileged server (src/sandbox/supervisor.ts):
 * the server runs below it in a session of its own, a terminal's or an
 * operator's signal to the supervisor reaches the server once, the
 * supervisor exits with the server's status, and a supervisor killed stops
 * the server and what its clients run. As root, where each command gets a
 * PID namespace, there is none. What the supervisor is for — killing what a
 * server that died leaves — is attacked in attack-leftovers.
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLOSE_WAIT_MS } from '../../src/exec/process-table.ts';
import { LAUNCHER_CLOSE_MS } from '../../src/sandbox/launcher-client.ts';
import { LAST_SWEEP_MS } from '../../src/sandbox/orphans.ts';
import { BOMB_PROCESSES, servedOnceThereIsRoom, startForkBomb } from '../helpers/bombs.ts';
import { isLive, livePidsWith, newMarker, procStat } from '../helpers/procfs.ts';
import { callTool, waitFor } from '../helpers/server.ts';
import { ALICE, BOB, COUNT_FILLERS, startTwoClientServer, TWO_CLIENT_ATTACKS_SUPPORTED, UNPRIVILEGED } from '../helpers/two-clients.ts';

const start = (uid: number | undefined) => startTwoClientServer({ prefix: 'hide-supervisor-', uid, prepare: () => [] });

/** Session id of a process (the fourth field after its name in /proc/PID/stat). */
const sessionOf = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
};

/**
 * The longest a server whose supervisor died may take to stop with a client's launcher stopped: its processes' ends
 * waited for, the launcher's close waited for, then the last sweep of what the launcher left, and a margin. A fork
 * bomb on a loaded machine makes the sweep the long part.
 */
const STOP_WITH_STOPPED_LAUNCHER_MS = CLOSE_WAIT_MS + LAUNCHER_CLOSE_MS + LAST_SWEEP_MS + 3000;

/** How long the fork bomb may take to pass one budgeted sweep (300 processes). */
const GROWTH_MS = 20_000;

const occurrences = (text: string, what: string) => text.split(what).length - 1;

const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** The uid's process count in the fill test: RLIMIT_NPROC of the server and of its commands. */
const FILL = 400;

/**
 * `python3 -c FILL_COUNT DEADLINE MARKER`: forks, and every process forks on, until the uid's process count is full;
 * all of it stays in its call's group and ends at DEADLINE (Unix seconds).
 */
const FILL_COUNT = [
  'import os, sys, time',
  'deadline = float(sys.argv[1])',
  'while time.time() < deadline:',
  '    try:',
  '        os.fork()',
  '    except OSError:',
  '        time.sleep(0.05)',
  'os._exit(0)',
].join('\n');

describe.skipIf(!TWO_CLIENT_ATTACKS_SUPPORTED)('supervisor', () => {
  test('as root there is none: the process started is the server', async () => {
    const s = await start(undefined);
    try {
      expect(s.server.pid).toBe(s.server.proc.pid);
    } finally {
      await s.stop();
    }
  });

  test('unprivileged, the server runs below it in a session of its own; one SIGINT to it drains the server once, and both exit 0', async () => {
    const s = await start(UNPRIVILEGED);
    const { server } = s;
    try {
      expect(server.pid).not.toBe(server.proc.pid);
      expect(procStat(`/proc/${server.pid}`).ppid).toBe(server.proc.pid);
      // Its own session: a terminal's Ctrl-C goes to the supervisor's group alone, and is passed on once.
      expect(sessionOf(server.pid)).toBe(server.pid);
      expect(sessionOf(server.proc.pid)).not.toBe(server.pid);
      server.proc.kill('SIGINT');
      expect(await server.ended()).toBe(0);
      expect(isLive(`/proc/${server.pid}`)).toBe(false);
      expect({ drains: occurrences(server.logs(), 'SIGINT received: draining'), again: occurrences(server.logs(), 'received again') }).toEqual({ drains: 1, again: 0 });
    } finally {
      await s.stop();
    }
  }, 30_000);

  // Both run on Bun, whose JavaScriptCore starts helper threads (the JIT's, the collector's) when first needed; a
  // thread the kernel refuses aborts the runtime. Any client's commands can fill the uid's process count, and a
  // leader that forks before its limits apply does so under the server's own limit: both start none.
  // Bun's file-system worker threads start on first use too, and a pool whose first one is refused never runs a call
  // again: the file tools would hang for every client, long after the count freed.
  test("the uid's process count filled, past the server's own limit, kills neither the supervisor nor the server, nor stops the file tools", async () => {
    const s = await startTwoClientServer({
      prefix: 'hide-supervisor-',
      uid: COUNT_FILLERS.supervisor,
      prepare: (_dir, ws) => {
        writeFileSync(join(ws, 'notes.txt'), 'kept\n');
        return [join(ws, 'notes.txt')];
      },
      wrap: ['prlimit', `--nproc=${FILL}`, '--'],
      env: { HIDE_SANDBOX_PROCESSES: String(FILL) },
    });
    const { server } = s;
    const m = newMarker();
    const marked = () => livePidsWith(`\0${m}\0`);
    try {
      const url = `${server.url}/mcp`;
      // Long enough to fill on a loaded machine (the whole suite running): 8 s fell short there once.
      const fill = await callTool(url, 'process_start', { command: 'python3', arguments: ['-c', FILL_COUNT, String(Date.now() / 1000 + 20), m] }, { 'X-API-Key': ALICE });
      expect(fill.error).toBeNull();
      await waitFor(() => marked().length >= FILL - 100, 20_000, 'the count to fill');
      // Answered while it is full: what needs no new process, a file read too.
      for (let i = 0; i < 20; i++) {
        expect((await fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, 'X-API-Key': BOB }, body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/list' }) })).status).toBe(200);
        await Bun.sleep(100);
      }
      expect((await callTool(url, 'read_file', { path: 'notes.txt' }, { 'X-API-Key': BOB })).content).toBe('kept\n');
      await waitFor(() => marked().length === 0, 30_000, 'the fill to end');
      expect((await callTool(url, 'read_file', { path: 'notes.txt' }, { 'X-API-Key': BOB })).content).toBe('kept\n');
      await servedOnceThereIsRoom(url, BOB);
      expect({ supervisor: isLive(`/proc/${server.proc.pid}`), server: isLive(`/proc/${server.pid}`), crashed: server.logs().includes('panic') }).toEqual({ supervisor: true, server: true, crashed: false });
    } finally {
      await s.stop();
      for (const pid of marked()) process.kill(pid, 'SIGKILL');
    }
  }, 75_000);

  // With its supervisor alive the server is no subreaper (the supervisor takes what a dead launcher leaves); once it
  // is gone the server must take that itself, and sweep it as the supervisor does: a fork bomb at the uid's process
  // count regrows from what a sweep of one tree at a time leaves running. Alice's launcher, stopped here, cannot
  // end her bomb, and is killed by the server when it does not close in time: what it ran then goes to the server.
  test("a supervisor killed stops its server as a SIGTERM does, and its clients' processes with it, a bomb its stopped launcher left too", async () => {
    const s = await startTwoClientServer({ prefix: 'hide-supervisor-', uid: COUNT_FILLERS.supervisor, prepare: () => [], env: { HIDE_SANDBOX_PROCESSES: BOMB_PROCESSES } });
    const { server } = s;
    const m = newMarker();
    const marked = () => livePidsWith(`\0${m}\0`);
    try {
      // It outlives the slowest growth and stop allowed here: the bomb's own end must not be what ends it.
      const started = await startForkBomb(`${server.url}/mcp`, ALICE, (GROWTH_MS + STOP_WITH_STOPPED_LAUNCHER_MS) / 1000 + 10, m);
      expect(started.error).toBeNull();
      process.kill(procStat(`/proc/${started.pid}`).ppid, 'SIGSTOP');
      // Five seconds on this test's machine beside four busy cores; four test files run side by side in CI.
      await waitFor(() => marked().length >= 300, GROWTH_MS, 'the bomb to grow under its stopped launcher');
      server.proc.kill('SIGKILL');
      await waitFor(() => !isLive(`/proc/${server.pid}`), STOP_WITH_STOPPED_LAUNCHER_MS, 'the server to end');
      expect(marked().length).toBe(0);
      await server.ended();
      // The kernel tells the server of its supervisor's death once per thread of the supervisor that exits: one stop.
      expect({ drains: occurrences(server.logs(), 'SIGTERM received: draining'), again: occurrences(server.logs(), 'received again') }).toEqual({ drains: 1, again: 0 });
    } finally {
      await s.stop();
      for (const pid of marked()) process.kill(pid, 'SIGKILL');
    }
  }, GROWTH_MS + STOP_WITH_STOPPED_LAUNCHER_MS + 15_000);
});
