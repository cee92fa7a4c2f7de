/**
 * Reading the host's /proc from tests that look for the processes a command
 * left behind: entries by a predicate, and the state and parent of one.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Host process dirs (`/proc/PID`, or with `threads` `/proc/PID/task/TID`) for which `has` holds; entries that vanish are skipped. */
export function hostEntries(has: (dir: string) => boolean, threads = false): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const dirs = threads ? readdirSync(`/proc/${pid}/task`).map((t) => `/proc/${pid}/task/${t}`) : [`/proc/${pid}`];
      for (const dir of dirs) if (has(dir)) found.push(dir);
    } catch {
      // Gone.
    }
  }
  return found;
}

/** State letter (`R`, `S`, `Z`, …) and parent pid of the process or thread at `dir` (`/proc/PID`); throws once it is gone. */
export function procStat(dir: string): { state: string; ppid: number } {
  const stat = readFileSync(`${dir}/stat`, 'utf8');
  // The command name in parentheses may hold spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, ppid: Number(fields[1]) };
}

/** True while the process at `dir` exists and is not a zombie. */
export function isLive(dir: string): boolean {
  try {
    return procStat(dir).state !== 'Z';
  } catch {
    return false;
  }
}

/** Pids of live processes anywhere on the host whose command line (arguments joined by NUL) contains `text`. */
export function livePidsWith(text: string): number[] {
  return hostEntries((dir) => isLive(dir) && readFileSync(`${dir}/cmdline`, 'utf8').includes(text)).map((dir) => Number(dir.slice('/proc/'.length)));
}

/** A random number unlikely to appear in any other command line: finds one command's processes (or names one test's files). */
export const newMarker = () => `4${Math.floor(Math.random() * 1e6)}.${Math.floor(Math.random() * 1e6)}`;

/** Children of `pid`, over all its threads. */
export function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

/** The server a supervisor `pid` started (an unprivileged server, see src/sandbox/supervisor.ts), if it has one. */
export function supervisedServer(pid: number): number | undefined {
  return childrenOf(pid).find((child) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes(`\0__supervised\0${pid}\0`);
    } catch {
      return false;
    }
  });
}

/**
 * The process that serves for `hide serve` or `hide stdio` started as `pid`:
 * when `supervised`, the server its supervisor started, waited for the
 * moment that takes; else `pid` itself.
 */
export async function servingPid(pid: number, supervised: boolean, timeoutMs = 5000): Promise<number> {
  if (!supervised) return pid;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const server = supervisedServer(pid);
    if (server !== undefined) return server;
    if (Date.now() > deadline) throw new Error(`no server under the supervisor ${pid}`);
    await Bun.sleep(10);
  }
}
