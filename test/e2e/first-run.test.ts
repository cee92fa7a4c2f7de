/**
 * A developer's first run: `hide serve` started with no settings in an empty
 * project directory, then one command. It writes nothing into the project
 * and logs no warning or error — as root and as an unprivileged user, where
 * commands get fewer layers (no PID namespace) by design, which is news, not
 * a fault of the set-up. The compiled binary, as a user runs it.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { ensureBinary } from '../helpers/binary.ts';
import { startServerProcess } from '../helpers/process.ts';
import { tempDir } from '../helpers/temp.ts';
import { UNPRIVILEGED } from '../helpers/two-clients.ts';

const root = process.getuid?.() === 0;
const running: Bun.Subprocess[] = [];
afterAll(() => {
  for (const p of running) p.kill('SIGKILL');
});

interface LogLine {
  level: string;
  msg: string;
}

/** Runs a first `hide serve` (as `uid` when given), one shell_execute, a SIGTERM; returns its log lines and what the project holds after. */
async function firstRun(uid: number | undefined): Promise<{ lines: LogLine[]; project: string[]; stdout: string }> {
  const dir = tempDir('hide-first-run-');
  chmodSync(dir, 0o755);
  const project = join(dir, 'project');
  const home = join(dir, 'home');
  mkdirSync(project);
  mkdirSync(home);
  let bin = await ensureBinary();
  let argv = [bin];
  if (uid !== undefined) {
    // A copy that uid can read: the checkout may not be readable by it.
    copyFileSync(bin, (bin = join(dir, 'hide')));
    chmodSync(bin, 0o755);
    for (const p of [project, home]) chownSync(p, uid, uid);
    argv = ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', bin];
  }
  const server = await startServerProcess({ cwd: project, env: { PATH: '/usr/bin:/bin', HOME: home }, program: argv });
  running.push(server.proc);
  const res = await fetch(`${server.url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'echo', arguments: ['hi'] } } }),
  });
  const answer = (await res.json()) as { result: { structuredContent: { stdout: string } } };
  expect(answer.result.structuredContent.stdout).toBe('hi\n');
  server.proc.kill('SIGTERM');
  expect(await server.ended()).toBe(0);
  const lines = server
    .logs()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as LogLine);
  const left = readdirSync(project);
  // The binary's copy is ~110 MB: gone now, not at the end of the run.
  rmSync(dir, { recursive: true, force: true });
  return { lines, project: left, stdout: server.output() };
}

describe('first run in an empty project, no settings', () => {
  test.each([
    ['as the user running the tests', undefined],
    ...(root && Bun.which('setpriv') ? [[`as uid ${UNPRIVILEGED}`, UNPRIVILEGED] as const] : []),
  ])('%s: nothing written into the project, no warning logged', async (_name, uid) => {
    const { lines, project, stdout } = await firstRun(uid);
    expect(project).toEqual([]);
    expect(stdout).toBe('');
    expect(lines.filter((l) => l.level !== 'info' && l.level !== 'debug')).toEqual([]);
    expect(lines.some((l) => l.msg.includes('listening on'))).toBe(true);
    if (uid !== undefined && landlockAbi() > 0) {
      // Still said, once, at the level it belongs to.
      expect(lines.filter((l) => l.msg.includes('no PID namespace'))).toHaveLength(1);
    }
  }, 60_000);
});
