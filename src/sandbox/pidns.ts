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
 *
 * While a namespace is pending, the kernel refuses every thread the thread
 * creates (clone with CLONE_THREAD fails with EINVAL): the runtime aborts
 * when its JIT or collector cannot start one, and its worker pool stays
 * without a thread for good. So the pending stretch runs no JavaScript that
 * could make the runtime start a thread: `posixSpawnInNew` (the server
 * starting launchers, a launcher starting commands) is libc calls with their
 * arguments made beforehand. `spawnInNew` (a launcher starting a terminal
 * process with Bun.spawn) relies on the launcher's runtime options, under
 * which the JIT and the collector never start a thread (launcher-argv.ts);
 * they do not cover the worker pool.
 *
 * With an IPC namespace per child, the launcher keeps a descriptor of each
 * from the child's start and, once the child (the init: everything else in
 * the namespace dies with it) has been reaped, enters it, removes every
 * System V object left there and lets it go: a sibling holding the
 * namespace open would otherwise keep an unattached segment's memory.
 */
import { FFIType, ptr, read, type Pointer } from 'bun:ffi';
import { check, cString, lastErrno, libc, openLibc, SyscallError } from '../util/libc.ts';
import { CLONE_NEWIPC, CLONE_NEWPID } from './namespaces.ts';
import { removeSysvObjects } from './sysv-ipc.ts';

const O_RDONLY_CLOEXEC = 0o2000000;

/**
 * The namespace calls as libc functions returning int: calling them creates
 * no object (a raw syscall's 64-bit result would be a BigInt), and they are
 * bound once, outside any pending stretch.
 */
const nsTable = {
  setns: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  unshare: { args: [FFIType.i32], returns: FFIType.i32 },
  open: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  posix_spawn: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
} as const;

let nsLibc: ReturnType<typeof openLibc<typeof nsTable>> | null = null;

type Native = (...args: number[]) => number;

/**
 * bun:ffi wraps each symbol that takes arguments in a JavaScript function
 * converting them; `.native` is the call itself, which runs no JavaScript.
 * It takes the arguments as they are, so only numbers go to it.
 */
function native(fn: unknown): Native {
  return (fn as { native?: Native }).native ?? (fn as Native);
}

/** The calls of the pending stretch, unwrapped. */
interface RawCalls {
  setns: Native;
  unshare: Native;
  open: Native;
  posixSpawn: Native;
}

/**
 * The calling thread's IPC namespace, as a path made once: the pending stretch allocates nothing. Its address is
 * taken right before each use: JavaScriptCore holds a typed array's address valid only until its next call.
 */
const THREAD_IPC = cString('/proc/thread-self/ns/ipc');

/** A child started in new namespaces, and the descriptor of its IPC namespace (-1 without one of its own). */
export interface SpawnedInNew {
  /** posix_spawn's result: 0, or the errno of a failed start (its IPC namespace is let go then). */
  result: number;
  ipc: number;
}

/** The arguments of posix_spawn(3), each already a pointer. */
export interface PosixSpawnCall {
  pid: Pointer;
  path: Pointer;
  fileActions: Pointer;
  attributes: Pointer;
  argv: Pointer;
  envp: Pointer;
}

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
  /** Whether a start that could not hold its child's IPC namespace has been reported. */
  private saidUnheld = false;

  private constructor(
    private readonly ownFd: number,
    /** The thread's own IPC namespace, when each child gets a new one; -1 otherwise. */
    private readonly ownIpcFd: number,
    private readonly flags: number,
    private readonly c: NonNullable<typeof nsLibc>,
    private readonly raw: RawCalls = { setns: native(c.setns), unshare: native(c.unshare), open: native(c.open), posixSpawn: native(c.posix_spawn) },
  ) {}

  /** Opens the calling thread's own PID namespace and checks that a new one can be made; null when it cannot. */
  static open(opts: PidNamespaceOptions = {}): PidNamespaces | null {
    return PidNamespaces.openOrWhy(opts).ns;
  }

  /** As open(), with why none could be made (the call refused and its errno), null for a platform that has none. */
  static openOrWhy(opts: PidNamespaceOptions = {}): { ns: PidNamespaces | null; why: string | null } {
    if (process.platform !== 'linux') return { ns: null, why: null };
    let fd = -1;
    let ipcFd = -1;
    try {
      const c = (nsLibc ??= openLibc(nsTable));
      fd = check(libc().open(cString('/proc/thread-self/ns/pid'), O_RDONLY_CLOEXEC), 'open(/proc/thread-self/ns/pid)');
      if (opts.ipc) {
        // A home of its own to return to, never the host's: anything this
        // thread forks outside spawnInNew still shares no segment with the host.
        check(c.unshare(CLONE_NEWIPC), 'unshare(CLONE_NEWIPC)');
        ipcFd = check(libc().open(cString('/proc/thread-self/ns/ipc'), O_RDONLY_CLOEXEC), 'open(/proc/thread-self/ns/ipc)');
      }
      const ns = new PidNamespaces(fd, ipcFd, opts.ipc ? CLONE_NEWPID | CLONE_NEWIPC : CLONE_NEWPID, c);
      // Whether a namespace can be made, pending for as short a stretch as posixSpawnInNew's.
      const { setns, unshare } = ns.raw;
      check(setns(fd, CLONE_NEWPID), 'setns(own PID namespace)');
      if (unshare(ns.flags) !== 0) throw new SyscallError('unshare(CLONE_NEWPID)', lastErrno());
      const back = setns(fd, CLONE_NEWPID);
      const backIpc = ipcFd >= 0 ? setns(ipcFd, CLONE_NEWIPC) : 0;
      if (back !== 0 || backIpc !== 0) throw new SyscallError('setns(back to its own namespaces)', lastErrno());
      return { ns, why: null };
    } catch (err) {
      if (fd >= 0) libc().close(fd);
      if (ipcFd >= 0) libc().close(ipcFd);
      return { ns: null, why: (err as Error).message };
    }
  }

  /** The next process this thread forks starts a new PID namespace. Throws SyscallError. */
  prepare(): void {
    check(this.c.setns(this.ownFd, CLONE_NEWPID), 'setns(own PID namespace)');
    check(this.c.unshare(this.flags), 'unshare(CLONE_NEWPID)');
  }

  /** Children forked from here on share this thread's namespaces again; the thread leaves the IPC namespace it made. */
  restore(): void {
    check(this.c.setns(this.ownFd, CLONE_NEWPID), 'setns(own PID namespace)');
    if (this.ownIpcFd >= 0) check(this.c.setns(this.ownIpcFd, CLONE_NEWIPC), 'setns(own IPC namespace)');
  }

  /**
   * Runs `fork` (a synchronous Bun.spawn) so that its child is the init of a
   * new namespace; its IPC namespace is emptied once it has exited. Only for
   * a process whose runtime starts no thread on demand from this thread (a
   * launcher): see the top of this file.
   */
  spawnInNew<T extends { readonly pid: number; readonly exited: Promise<unknown> }>(fork: () => T): T {
    this.prepare();
    let ipc = -1;
    let child: T;
    try {
      if (this.ownIpcFd >= 0) ipc = libc().open(ptr(THREAD_IPC), O_RDONLY_CLOEXEC);
      child = fork();
    } catch (err) {
      if (ipc >= 0) libc().close(ipc);
      throw err;
    } finally {
      this.restore();
    }
    if (this.ownIpcFd >= 0 && ipc < 0) ipc = this.holdIpcOf(child.pid);
    if (ipc >= 0) void child.exited.then(() => setImmediate(() => this.emptyIpc(ipc)));
    return child;
  }

  /**
   * A hold on the IPC namespace of `pid`, a child just started, for when the
   * start could not take one itself; -1 when this cannot either (the child
   * has ended already, say): the child runs anyway, and what it leaves in
   * its namespace stays for as long as another process holds that, as it
   * would without this. The first time either happens it is said on stderr,
   * so a start that keeps failing to take the hold shows in the server's log.
   */
  private holdIpcOf(pid: number): number {
    const path = cString(`/proc/${pid}/ns/ipc`);
    const fd = libc().open(ptr(path), O_RDONLY_CLOEXEC);
    if (!this.saidUnheld) {
      this.saidUnheld = true;
      const then = fd >= 0 ? 'it was taken from the child instead' : `nor from the child (${new SyscallError('open', lastErrno()).code}): what that command leaves there is removed only once nothing holds it`;
      console.error(`a command's start could not hold its IPC namespace; ${then}`);
    }
    return fd;
  }

  /**
   * Removes every System V object left in the IPC namespace `ipc` (from
   * posixSpawnInNew or spawnInNew: a child's, reaped by now, so nothing is
   * attached any more) and closes the descriptor, the last hold of ours on
   * it. Never throws (it runs where a child is reaped): a namespace it cannot
   * enter keeps its objects until nobody holds it, when the kernel frees them.
   */
  emptyIpc(ipc: number): void {
    if (ipc < 0) return;
    if (this.c.setns(ipc, CLONE_NEWIPC) === 0) {
      removeSysvObjects();
      // Staying there would keep the namespace, and whatever this thread makes later, alive with it. Should the
      // way back fail, the next start fails on it too (restore), rather than run a command from here.
      this.c.setns(this.ownIpcFd, CLONE_NEWIPC);
    }
    libc().close(ipc);
  }

  /**
   * posix_spawn(3) through libc, its child the init of a new namespace.
   * Between the unshare and the setns back there are only libc calls made
   * directly (not through bun:ffi's converting wrappers) and comparisons: no
   * JavaScript function is entered or left (where the JIT may decide to
   * compile) and nothing is allocated (where the collector may start), so
   * the runtime starts no thread while the kernel would refuse it. The
   * child's IPC namespace is opened in the same stretch (the thread is in it
   * then), before the child can end (failing that, of the child right after:
   * holdIpcOf); hand it to emptyIpc once the child is reaped. Throws
   * SyscallError when a namespace step failed.
   */
  posixSpawnInNew(call: PosixSpawnCall): SpawnedInNew {
    const { setns, unshare, open, posixSpawn } = this.raw;
    const own = this.ownFd;
    const ownIpc = this.ownIpcFd;
    const flags = this.flags;
    const { pid, path, fileActions, attributes, argv, envp } = call;
    const holdsIpc = ownIpc >= 0;
    const ipcPath = ptr(THREAD_IPC);
    if (setns(own, CLONE_NEWPID) !== 0) throw new SyscallError('setns(own PID namespace)', lastErrno());
    if (unshare(flags) !== 0) throw new SyscallError('unshare(CLONE_NEWPID)', lastErrno());
    const ipc = holdsIpc ? open(ipcPath, O_RDONLY_CLOEXEC) : -1;
    const result = posixSpawn(pid, path, fileActions, attributes, argv, envp);
    const back = setns(own, CLONE_NEWPID);
    const backIpc = holdsIpc ? setns(ownIpc, CLONE_NEWIPC) : 0;
    if (back !== 0 || backIpc !== 0) {
      const errno = lastErrno();
      if (ipc >= 0) libc().close(ipc);
      throw new SyscallError('setns(back to its own namespaces)', errno);
    }
    if (result !== 0) {
      if (ipc >= 0) libc().close(ipc);
      return { result, ipc: -1 };
    }
    return { result, ipc: holdsIpc && ipc < 0 ? this.holdIpcOf(read.i32(pid, 0)) : ipc };
  }
}
