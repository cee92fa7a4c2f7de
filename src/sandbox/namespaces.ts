/**
 * The clone flags and the two namespace syscalls (unshare, setns) the
 * sandbox uses, once: the PID and IPC namespaces per command (pidns.ts), the
 * launcher's network namespace and private /proc, and the seccomp filter,
 * which names the same flags. Numbers are the running architecture's.
 */
import { check, libc, SyscallError } from '../util/libc.ts';

export const CLONE_PARENT = 0x00008000;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

// x86_64 / aarch64
const SYS_unshare = process.arch === 'arm64' ? 97 : 272;
const SYS_setns = process.arch === 'arm64' ? 268 : 308;

/** unshare(2) for the calling thread; throws SyscallError naming `what`. */
export function unshare(flags: number, what: string): void {
  check(libc().syscall(SYS_unshare, flags, 0, 0, 0, 0), `unshare(${what})`);
}

/** setns(2) for the calling thread; throws SyscallError naming `what`. */
export function setns(fd: number, nstype: number, what: string): void {
  check(libc().syscall(SYS_setns, fd, nstype, 0, 0, 0), `setns(${what})`);
}

/**
 * Runs `step`; returns null when it succeeds, or its error's message when it
 * failed with one of `codes`, the kernel's policy saying no to something a
 * launcher can do without. Any other error is thrown.
 */
export function refusal(step: () => void, codes: ReadonlySet<string>): string | null {
  try {
    step();
    return null;
  } catch (err) {
    if (err instanceof SyscallError && codes.has(err.code)) return err.message;
    throw err;
  }
}

/**
 * How a network namespace is refused: by a security module or a seccomp
 * filter (EACCES, EPERM), or by a count an administrator set to 0
 * (user.max_net_namespaces, ENOSPC).
 */
const NETWORK_NAMESPACE_REFUSED = new Set(['EACCES', 'EPERM', 'ENOSPC']);

/**
 * An empty network namespace for the calling thread (and the commands it
 * starts afterwards), when the network is off and the server is root:
 * commands then see no interface but a down loopback, and no socket of the
 * host in /proc/net (other clients' connections to the server included).
 * seccomp already refuses socket(); this hides what is there, so where the
 * kernel refuses the namespace a launcher goes on without it: returns null
 * when it was made, else the refusal.
 */
export function isolateNetwork(): string | null {
  return refusal(() => unshare(CLONE_NEWNET, 'CLONE_NEWNET'), NETWORK_NAMESPACE_REFUSED);
}
