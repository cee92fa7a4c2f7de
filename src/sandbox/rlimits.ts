/**
 * Resource limits (setrlimit/prlimit64 through libc) for the current process
 * or a given pid. Limits are inherited across fork and exec, so applying them
 * to a command's leader right after spawn covers what it starts later.
 *
 * Known gap of the after-spawn approach (Bun.spawn has no pre-exec hook): a
 * leader that forks within microseconds of its exec, before the launcher's
 * prlimit lands, gives those early children the launcher's own limits: the
 * server's, but for processes, open files and pending signals, which a
 * launcher holds near the commands' own (LAUNCHER_LIMIT_RESERVE). Such
 * children are still in the call's process group and die with the call; the
 * timeout bounds them. A tiny exec trampoline would close the gap at ~0.7 ms
 * a call.
 */
import { ptr } from 'bun:ffi';
import { check, libc } from '../util/libc.ts';

// RLIMIT_* numbers shared by x86_64 and aarch64 (asm-generic/resource.h).
const RLIMIT_CPU = 0;
const RLIMIT_FSIZE = 1;
const RLIMIT_DATA = 2;
const RLIMIT_CORE = 4;
const RLIMIT_NPROC = 6;
const RLIMIT_NOFILE = 7;
const RLIMIT_SIGPENDING = 11;

export interface ResourceLimits {
  /** CPU time; SIGXCPU at the limit, SIGKILL one second later. */
  cpuSeconds?: number;
  /**
   * Writable private memory (RLIMIT_DATA: heap and anonymous mappings). Chosen
   * over RLIMIT_AS because runtimes such as the JVM, Go and Bun reserve large
   * PROT_NONE address ranges and refuse to start under a small RLIMIT_AS.
   */
  memoryBytes?: number;
  openFiles?: number;
  /** Largest file a process may write. */
  fileSizeBytes?: number;
  /** RLIMIT_NPROC: counts all processes of the user; root ignores it. */
  processes?: number;
  /** RLIMIT_SIGPENDING: signals queued and POSIX timers held, counted for all processes of the user. */
  pendingSignals?: number;
}

const RESOURCES: ReadonlyArray<[keyof ResourceLimits, number]> = [
  ['cpuSeconds', RLIMIT_CPU],
  ['memoryBytes', RLIMIT_DATA],
  ['openFiles', RLIMIT_NOFILE],
  ['fileSizeBytes', RLIMIT_FSIZE],
  ['processes', RLIMIT_NPROC],
  ['pendingSignals', RLIMIT_SIGPENDING],
];

/** The limits a child inherits that a launcher holds itself to, near the commands' own. */
export type InheritedLimits = Pick<ResourceLimits, 'processes' | 'openFiles' | 'pendingSignals'>;
const INHERITED = ['processes', 'openFiles', 'pendingSignals'] as const;

/** Those of `limits` among InheritedLimits, each plus `reserve`. */
export function inheritedLimits(limits: ResourceLimits | undefined, reserve = 0): InheritedLimits {
  const out: InheritedLimits = {};
  for (const key of INHERITED) if (limits?.[key] !== undefined) out[key] = limits[key] + reserve;
  return out;
}

/** True when at least one limit is set. */
export function hasLimits(limits: ResourceLimits | undefined): limits is ResourceLimits {
  return limits !== undefined && RESOURCES.some(([key]) => limits[key] !== undefined);
}

/**
 * Sets soft and hard limits (so the process cannot raise them back without
 * CAP_SYS_RESOURCE) on `pid`, default the current process. Throws naming the
 * limit and errno.
 *
 * @example
 * setResourceLimits({ memoryBytes: 512 * 2 ** 20, cpuSeconds: 60 }, child.pid);
 */
export function setResourceLimits(limits: ResourceLimits, pid = 0): void {
  const c = libc();
  for (const [key, resource] of RESOURCES) {
    const value = limits[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`resource limit ${key} must be a non-negative integer, got ${value}`);
    const soft = BigInt(value);
    // A hard CPU limit equal to the soft one would kill without the SIGXCPU warning.
    const hard = key === 'cpuSeconds' ? soft + 1n : soft;
    const rlimit = new BigUint64Array([soft, hard]);
    check(c.prlimit(pid, resource, ptr(rlimit), null), `prlimit(${key}=${value}${pid ? `, pid ${pid}` : ''})`);
  }
}

/**
 * Lowers this process's own limits, soft and hard, to the values given where
 * they are higher; never raises either (an unprivileged process cannot raise
 * its hard limit, and a lower one the operator set stays).
 */
export function lowerOwnLimits(limits: InheritedLimits): void {
  const c = libc();
  for (const [key, resource] of [['processes', RLIMIT_NPROC], ['openFiles', RLIMIT_NOFILE], ['pendingSignals', RLIMIT_SIGPENDING]] as const) {
    const value = limits[key];
    if (value === undefined) continue;
    const now = new BigUint64Array(2);
    check(c.prlimit(0, resource, null, ptr(now)), `prlimit(${key})`);
    const cap = BigInt(value);
    const [soft, hard] = [now[0]!, now[1]!].map((v) => (v < cap ? v : cap));
    check(c.prlimit(0, resource, ptr(new BigUint64Array([soft!, hard!])), null), `prlimit(${key}=${value})`);
  }
}

/**
 * No core files from this process or anything it starts: soft and hard limit
 * 0, which an unprivileged process cannot raise again. A crashing command
 * would otherwise write its memory (its environment, what it read from its
 * client's private TMPDIR) into its working directory: the workspace, which
 * every client reads.
 */
export function forbidCoreDumps(): void {
  check(libc().prlimit(0, RLIMIT_CORE, ptr(new BigUint64Array([0n, 0n])), null), 'prlimit(RLIMIT_CORE=0)');
}
