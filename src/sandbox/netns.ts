/**
 * An empty network namespace for a launcher's thread, when the network is
 * off and the server is root: commands then see no interface but a down
 * loopback, and no socket of the host in /proc/net (other clients'
 * connections to the server included). seccomp already refuses socket();
 * this hides what is there. unshare(CLONE_NEWNET) moves only the calling
 * thread, and the commands it starts afterwards.
 */
import { check, libc } from './libc.ts';

const CLONE_NEWNET = 0x40000000;
const SYS_unshare = process.arch === 'arm64' ? 97 : 272;

export function isolateNetwork(): void {
  check(libc().syscall(SYS_unshare, CLONE_NEWNET, 0, 0, 0, 0), 'unshare(CLONE_NEWNET)');
}
