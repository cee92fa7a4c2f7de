/**
 * A launcher, and so every command it starts, gives way to the server when the
 * host runs short: the kernel's out-of-memory killer picks a command (or a
 * launcher) before the server, and the scheduler runs the server first.
 *
 * Without it the out-of-memory killer chooses by resident size alone, and the
 * server, whose binary's pages it counts, is the largest process of a
 * deployment: a command that fills a container's memory limit with memory
 * charged to no process (an unmapped memfd, a tmpfs file) or with many small
 * processes got the server killed, and with it every client's processes. And
 * with every process at one priority, one client's busy commands share the
 * CPU evenly with the server's threads however many they are.
 *
 * Both are inherited across fork and exec. Neither can be undone by what
 * inherits it: lowering `oom_score_adj` means writing to /proc, which
 * commands may only read (and below a value a privileged process set, needs
 * CAP_SYS_RESOURCE), and lowering a nice value needs CAP_SYS_NICE or an
 * RLIMIT_NICE, set to 0 here.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { ptr } from 'bun:ffi';
import { check, libc } from '../util/libc.ts';

/** The out-of-memory killer's most willing victim. */
export const OOM_SCORE_ADJ_FIRST = 1000;

const RLIMIT_NICE = 13;
const RLIMIT_RTPRIO = 14;

/**
 * This process's thread ids as setpriority names them: in its own PID
 * namespace (the last NSpid field), where /proc, still the host's when a root
 * launcher starts as the init of a new one, lists them by their outer ids.
 */
function ownThreadIds(): number[] {
  const ids: number[] = [];
  for (const task of readdirSync('/proc/self/task')) {
    let status: string;
    try {
      status = readFileSync(`/proc/self/task/${task}/status`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    const nspid = /^NSpid:\s*(.+)$/m.exec(status)?.[1]?.trim().split(/\s+/);
    ids.push(Number(nspid?.at(-1) ?? task));
  }
  return ids;
}

/**
 * Makes this process the out-of-memory killer's first choice and runs each of
 * its threads at `nice` at least (0–19; 0 leaves the priority alone). Returns
 * what could not be done, for the launcher to report; the rest is done.
 */
export function yieldToServer(nice: number): string[] {
  const missed: string[] = [];
  try {
    writeFileSync('/proc/self/oom_score_adj', String(OOM_SCORE_ADJ_FIRST));
  } catch (err) {
    // A /proc mounted read-only (some hardened containers) refuses it.
    missed.push(`oom_score_adj: ${(err as Error).message}`);
  }
  if (nice > 0) {
    // Linux keeps a nice value per thread, and a new thread takes its creator's: every thread there is now, each
    // raised to `nice` where it is lower (the operator may have started the server nicer still).
    for (const tid of ownThreadIds()) {
      try {
        if (getPriority(tid) < nice) setPriority(tid, nice);
      } catch (err) {
        // A thread that ended meanwhile.
        if ((err as { info?: { code?: string } }).info?.code !== 'ESRCH') missed.push(`nice: ${(err as Error).message}`);
      }
    }
  }
  // Then no thread of ours may get a lower nice value again, nor anything we start; nor a real-time policy, which
  // would run before the server whatever its nice value (a deployment may have raised RLIMIT_RTPRIO).
  check(libc().prlimit(0, RLIMIT_NICE, ptr(new BigUint64Array([0n, 0n])), null), 'prlimit(RLIMIT_NICE=0)');
  check(libc().prlimit(0, RLIMIT_RTPRIO, ptr(new BigUint64Array([0n, 0n])), null), 'prlimit(RLIMIT_RTPRIO=0)');
  return missed;
}
