/**
 * A /proc of the launcher's own: as root, the launcher is the init of a PID
 * namespace of its own, so a procfs mounted from it shows only that
 * namespace — the launcher and its client's commands — and not the server,
 * other clients' launchers or their commands' command lines. The mount
 * lives in a mount namespace of the launcher's thread (unshare(CLONE_NEWNS)
 * is per thread), made private first so nothing propagates to the host. It
 * must happen before Landlock, which forbids mounting.
 */
import { ptr } from 'bun:ffi';
import { check, cString, libc } from '../util/libc.ts';
import { CLONE_NEWNS, unshare } from './namespaces.ts';

const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;
const MS_REC = 0x4000;
const MS_PRIVATE = 1 << 18;
const SYS_mount = process.arch === 'arm64' ? 40 : 165;

const addr = (b: Buffer): number => Number(ptr(b));

/** Mounts a fresh procfs over /proc in a private mount namespace of the calling thread. Throws SyscallError. */
export function mountPrivateProc(): void {
  const c = libc();
  unshare(CLONE_NEWNS, 'CLONE_NEWNS');
  const root = cString('/');
  check(c.syscall(SYS_mount, 0, addr(root), 0, MS_REC | MS_PRIVATE, 0), 'mount(/, MS_REC|MS_PRIVATE)');
  const proc = cString('proc');
  const target = cString('/proc');
  check(c.syscall(SYS_mount, addr(proc), addr(target), addr(proc), MS_NOSUID | MS_NODEV | MS_NOEXEC, 0), 'mount(proc, /proc)');
}

/**
 * Terminals one devpts instance (one client) may hold at once. Every
 * instance but the host's draws on one kernel-wide pool (kernel.pty.max less
 * kernel.pty.reserve): without a cap of its own, one client's process could
 * open them all and no other client could get a terminal.
 */
export const PTYS_PER_INSTANCE = 256;

/**
 * A devpts instance of the launcher's own over /dev/pts, in the same private
 * mount namespace: since Linux 4.7 /dev/ptmx opens the instance mounted at
 * /dev/pts beside it, so the terminals the launcher's processes get are
 * numbered in that instance and no other terminal on the host (an operator's
 * shell) is reachable through /dev/pts. Only then may the sandbox grant
 * /dev/ptmx and /dev/pts. At most PTYS_PER_INSTANCE of them at once. Returns
 * false when the mount fails.
 */
export function mountPrivatePts(): boolean {
  const c = libc();
  const devpts = cString('devpts');
  const target = cString('/dev/pts');
  const data = cString(`newinstance,ptmxmode=0666,mode=0620,max=${PTYS_PER_INSTANCE}`);
  return Number(c.syscall(SYS_mount, addr(devpts), addr(target), addr(devpts), MS_NOSUID | MS_NOEXEC, addr(data))) === 0;
}
