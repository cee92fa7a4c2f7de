/**
 * mount(2) and umount2(2) for the launcher's own mount namespace (private
 * /proc, terminals and temp directory), with the flags they use. Numbers are
 * the running architecture's (x86_64 / aarch64).
 */
import { ptr } from 'bun:ffi';
import { check, cString, libc } from '../util/libc.ts';

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_REMOUNT = 32;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 1 << 18;
const MNT_DETACH = 2;

const SYS_mount = process.arch === 'arm64' ? 40 : 165;
const SYS_umount2 = process.arch === 'arm64' ? 39 : 166;

/** mount(2)'s raw result: 0, or -1 with errno set. The strings' buffers live until it returns. */
function rawMount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): number {
  const buffers = [source, target, fstype, data].map((s) => (s === null ? null : cString(s)));
  const [src, tgt, fs, dat] = buffers.map((b) => (b === null ? 0 : Number(ptr(b))));
  return Number(libc().syscall(SYS_mount, src!, tgt!, fs!, flags, dat!));
}

/** mount(2); false when it fails. */
export function tryMount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): boolean {
  return rawMount(source, target, fstype, flags, data) === 0;
}

/** mount(2); throws SyscallError naming `what`. */
export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null, what: string): void {
  check(rawMount(source, target, fstype, flags, data), what);
}

/** Detaches the mount at `target` (lazily, as umount -l does); false when it fails. */
export function detach(target: string): boolean {
  const t = cString(target);
  return Number(libc().syscall(SYS_umount2, Number(ptr(t)), MNT_DETACH, 0, 0, 0)) === 0;
}
