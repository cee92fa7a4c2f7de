/** A fork bomb for the tests that attack the sweeps, and the process count it fills. */
import { callTool, waitFor } from './server.ts';

/**
 * `python3 -c FORK_BOMB DEADLINE MARKER`: leaves its call's group (setsid, its first process gone), says so in the
 * file `bomb-MARKER`, then every process forks whenever the uid's process count allows, until DEADLINE (Unix seconds).
 */
export const FORK_BOMB = [
  'import os, signal, sys, time',
  'deadline = float(sys.argv[1])',
  'signal.signal(signal.SIGCHLD, signal.SIG_IGN)',
  // Another test's processes of the same uid may hold the count full for a moment (the test files run side by side).
  'for _ in range(100):',
  '    try:',
  '        first = os.fork()',
  '        break',
  '    except OSError:',
  '        time.sleep(0.05)',
  'if first:',
  '    time.sleep(0.2)',
  '    os._exit(0)',
  'os.setsid()',
  "open('bomb-' + sys.argv[2], 'w').write('started')",
  'while time.time() < deadline:',
  '    try:',
  '        if os.fork() == 0:',
  '            continue',
  '    except OSError:',
  '        pass',
  '    time.sleep(0.05)',
  'os._exit(0)',
].join('\n');
/** RLIMIT_NPROC for the fork-bomb tests: the bomb fills the uid's count, past one budgeted sweep (256). */
export const BOMB_PROCESSES = '600';

/** Starts FORK_BOMB as a long-running process of the client with `key`, ending `seconds` from now; the call's answer. */
export function startForkBomb(url: string, key: string, seconds: number, marker: string) {
  return callTool(url, 'process_start', { command: 'python3', arguments: ['-c', FORK_BOMB, String(Date.now() / 1000 + seconds), marker] }, { 'X-API-Key': key });
}

/**
 * Runs `echo served` as the client with `key` until it answers so, within `timeoutMs`: after a bomb or a fill is
 * gone from view, its last members may be zombies yet to be reaped, each still holding a place in the uid's count.
 * Throws with the last answer.
 */
export async function servedOnceThereIsRoom(url: string, key: string, timeoutMs = 10_000): Promise<void> {
  let last: Record<string, unknown> = {};
  try {
    await waitFor(async () => (last = await callTool(url, 'shell_execute', { command: 'echo', arguments: ['served'] }, { 'X-API-Key': key })).stdout === 'served\n', timeoutMs, 'a command to run once the count has room');
  } catch (err) {
    throw new Error(`${(err as Error).message}; the last answer: ${JSON.stringify(last)}`);
  }
}
