/**
 * Catches processes that leave their call's process group (setsid, daemons):
 * the launcher becomes a child subreaper, so such orphans are re-parented to
 * it instead of init, and `sweep` kills those whose call has ended and reaps
 * the zombies, which Bun does not collect for children it did not spawn.
 */
import { readFileSync } from 'node:fs';
import { check, libc } from './libc.ts';

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;
/** Environment variable that tags every process of a call with the call's id. */
export const CALL_ID_ENV = 'HIDE_CALL_ID';

export function becomeSubreaper(): void {
  check(libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 'prctl(PR_SET_CHILD_SUBREAPER)');
}

/**
 * Children of the main thread. Bun spawns from it, and the kernel re-parents
 * orphans to a subreaper's thread-group leader while it lives, so one file
 * covers every pid we care about.
 */
function childPids(): number[] {
  try {
    const list = readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8').trim();
    return list === '' ? [] : list.split(' ').map(Number);
  } catch {
    return [];
  }
}

/** State letter and process group of a pid, or null when it is gone. */
function statOf(pid: number): { state: string; pgrp: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state ppid pgrp ...
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '?', pgrp: Number(rest[2]) };
  } catch {
    return null;
  }
}

function callIdOf(pid: number): string | null {
  try {
    const prefix = `${CALL_ID_ENV}=`;
    const entry = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith(prefix));
    return entry ? entry.slice(prefix.length) : null;
  } catch {
    return null;
  }
}

/**
 * Kills orphans whose call is over (or that dropped their call tag) and reaps
 * zombies. `leaders` are the pids Bun spawned and still waits for: never
 * touched. Returns how many orphans it killed (zombies to reap on a later sweep).
 */
export function sweepOrphans(leaders: ReadonlySet<number>, liveCalls: ReadonlySet<string>): number {
  const c = libc();
  let remaining = 0;
  for (const pid of childPids()) {
    if (leaders.has(pid)) continue;
    const stat = statOf(pid);
    if (stat === null) continue;
    if (stat.state === 'Z') {
      c.waitpid(pid, null, WNOHANG);
      continue;
    }
    const callId = callIdOf(pid);
    if (callId !== null && liveCalls.has(callId)) continue;
    remaining++;
    try {
      process.kill(pid, 'SIGKILL');
      if (stat.pgrp === pid) process.kill(-pid, 'SIGKILL');
    } catch {
      // Exited meanwhile.
    }
  }
  return remaining;
}
