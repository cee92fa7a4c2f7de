/**
 * A /proc of the launcher's own: as root, the launcher is the init of a PID
 * namespace of its own, so a procfs mounted from it shows only that
 * namespace — the launcher and its client's commands — and not the server,
 * other clients' launchers or their commands' command lines. The mount
 * lives in a mount namespace of the launcher's thread (unshare(CLONE_NEWNS)
 * is per thread), made private first so nothing propagates to the host. It
 * must happen before Landlock, which forbids mounting.
 */
import { readFileSync } from 'node:fs';
import { CLONE_NEWNS, refusal, unshare } from './namespaces.ts';
import { mount, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_REC, tryMount } from './mounts.ts';

/**
 * How a kernel with a policy over mount says no: an LSM profile (AppArmor's
 * `deny mount`, as container runtimes' default profiles have) answers
 * EACCES, a seccomp filter or a namespace the caller may not mount in EPERM.
 */
const MOUNT_REFUSED = new Set(['EACCES', 'EPERM']);

/**
 * Mounts a fresh procfs over /proc in a private mount namespace of the
 * calling thread. Returns null when it did, or the refusal when the
 * kernel's policy forbids mounting here: the other layers do not need the
 * mount, so a launcher goes on without it, as an unprivileged one does.
 * Throws SyscallError for any other failure (want of memory or descriptors).
 */
export function mountPrivateProc(): string | null {
  return refusal(() => {
    unshare(CLONE_NEWNS, 'CLONE_NEWNS');
    mount(null, '/', null, MS_REC | MS_PRIVATE, null, 'mount(/, MS_REC|MS_PRIVATE)');
    mount('proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC, null, 'mount(proc, /proc)');
  }, MOUNT_REFUSED);
}

/** Terminals one devpts instance (one client's launcher) may hold at once, at the most. */
export const MAX_PTYS_PER_LAUNCHER = 256;

/**
 * The pool every devpts instance but the host's draws on, kernel.pty.max
 * less kernel.pty.reserve; null when /proc does not say.
 */
export function sharedPtyPool(): number | null {
  try {
    const read = (name: string) => Number.parseInt(readFileSync(`/proc/sys/kernel/pty/${name}`, 'utf8'), 10);
    const pool = read('max') - read('reserve');
    return Number.isSafeInteger(pool) && pool > 0 ? pool : null;
  } catch {
    return null;
  }
}

/**
 * Terminals each launcher's instance may hold: without a cap one client's
 * process could open every terminal of the shared pool, and with 256 each a
 * dozen clients still could. So all `launchers` together (the most a server
 * has at once) stay within half the pool, leaving the rest to other
 * containers of the host; at most 256, at least 1.
 */
export function ptysPerLauncher(launchers: number, pool: number | null): number {
  if (pool === null) return MAX_PTYS_PER_LAUNCHER;
  return Math.max(1, Math.min(MAX_PTYS_PER_LAUNCHER, Math.floor(pool / 2 / Math.max(1, launchers))));
}

/**
 * A devpts instance of the launcher's own over /dev/pts, in the same private
 * mount namespace: since Linux 4.7 /dev/ptmx opens the instance mounted at
 * /dev/pts beside it, so the terminals the launcher's processes get are
 * numbered in that instance and no other terminal on the host (an operator's
 * shell) is reachable through /dev/pts. Only then may the sandbox grant
 * /dev/ptmx and /dev/pts. At most `max` of them at once (ptysPerLauncher).
 * Returns false when the mount fails.
 */
export function mountPrivatePts(max: number): boolean {
  return tryMount('devpts', '/dev/pts', 'devpts', MS_NOSUID | MS_NOEXEC, `newinstance,ptmxmode=0666,mode=0620,max=${max}`);
}
