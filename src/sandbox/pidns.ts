/**
 * A fresh PID namespace for the next process the calling thread forks.
 *
 * The first process of a PID namespace is its init: when it exits, the
 * kernel kills every other process in the namespace, however it detached
 * (setsid, double fork, a forged environment). The server starts each
 * launcher this way, so nothing outlives a launcher that dies; the launcher
 * starts each command this way, so nothing outlives its call. A command in
 * its own namespace cannot name any process outside it either: kill, pidfd
 * and ptrace take pids of the caller's namespace.
 *
 * `unshare(CLONE_NEWPID)` is per thread and affects only children forked
 * afterwards; once the thread has a pending namespace a second unshare fails,
 * so each use first returns to the thread's own namespace with setns. Both
 * need CAP_SYS_ADMIN: a root server has it, an unprivileged one does not (a
 * user namespace would give it, but creating one needs a single-threaded
 * process, which a Bun process never is).
 */
import { check, cString, libc } from '../util/libc.ts';
import { CLONE_NEWIPC, CLONE_NEWPID, setns, unshare } from './namespaces.ts';

const O_RDONLY_CLOEXEC = 0o2000000;

export interface PidNamespaceOptions {
  /**
   * Also give the next child a fresh IPC namespace each time: its System V
   * shared memory, semaphores and message queues are its own and vanish with
   * it. unshare moves the calling thread itself into the new IPC namespace,
   * so restore() moves it back: a thread left there would keep the
   * command's segments (and their memory) alive after the command is gone.
   */
  ipc?: boolean;
}

export class PidNamespaces {
  private constructor(
    private readonly ownFd: number,
    /** The thread's own IPC namespace, when each child gets a new one; -1 otherwise. */
    private readonly ownIpcFd: number,
    private readonly flags: number,
  ) {}

  /** Opens the calling thread's own PID namespace and checks that a new one can be made; null when it cannot. */
  static open(opts: PidNamespaceOptions = {}): PidNamespaces | null {
    if (process.platform !== 'linux') return null;
    let fd = -1;
    let ipcFd = -1;
    try {
      fd = check(libc().open(cString('/proc/thread-self/ns/pid'), O_RDONLY_CLOEXEC), 'open(/proc/thread-self/ns/pid)');
      if (opts.ipc) {
        // A home of its own to return to, never the host's: anything this
        // thread forks outside spawnInNew still shares no segment with the host.
        unshare(CLONE_NEWIPC, 'CLONE_NEWIPC');
        ipcFd = check(libc().open(cString('/proc/thread-self/ns/ipc'), O_RDONLY_CLOEXEC), 'open(/proc/thread-self/ns/ipc)');
      }
      const ns = new PidNamespaces(fd, ipcFd, opts.ipc ? CLONE_NEWPID | CLONE_NEWIPC : CLONE_NEWPID);
      ns.prepare();
      ns.restore();
      return ns;
    } catch {
      if (fd >= 0) libc().close(fd);
      if (ipcFd >= 0) libc().close(ipcFd);
      return null;
    }
  }

  /** The next process this thread forks starts a new PID namespace. Throws SyscallError. */
  prepare(): void {
    setns(this.ownFd, CLONE_NEWPID, 'own PID namespace');
    unshare(this.flags, 'CLONE_NEWPID');
  }

  /** Children forked from here on share this thread's namespaces again; the thread leaves the IPC namespace it made. */
  restore(): void {
    setns(this.ownFd, CLONE_NEWPID, 'own PID namespace');
    if (this.ownIpcFd >= 0) setns(this.ownIpcFd, CLONE_NEWIPC, 'own IPC namespace');
  }

  /** Runs `fork` (a synchronous Bun.spawn) so that its child is the init of a new namespace. */
  spawnInNew<T>(fork: () => T): T {
    this.prepare();
    try {
      return fork();
    } finally {
      this.restore();
    }
  }
}
