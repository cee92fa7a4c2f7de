/**
 * seccomp-BPF for the launcher: a small classic-BPF program that refuses the
 * syscalls Landlock cannot see (sockets, ptrace and descriptor theft, set-id
 * modes, namespaces and mounts, kernel attack surface, signals aimed at
 * protected processes), installed on the calling thread and inherited by
 * every process forked from it afterwards.
 *
 * The launcher keeps running under the same filter, so it refuses only what
 * neither Bun nor an ordinary command needs: Bun.spawn (clone/vfork without
 * namespace flags, pipes, socketpair, epoll, pidfd_open, waitid, kill of its
 * own process groups, prlimit64) and file access pass untouched.
 *
 * Refusals return EPERM (clone3 and openat2: ENOSYS, so libc and callers fall
 * back to clone / openat, whose arguments the filter can read); tools then
 * fail the way they would without the permission instead of being killed.
 * Only a syscall of a foreign ABI (i386 via int 0x80, arm32) kills the
 * process: its numbers mean other calls, so nothing below would apply.
 *
 * A policy is built once and read like a table: RULES lists each group of
 * syscalls with what it refuses and the argument test it needs; the program
 * is a linear chain of "is it this syscall? then decide" blocks, one per
 * syscall, each ending in its own return, so no jump ever leaves its block.
 */
import { ptr } from 'bun:ffi';
import { check, libc } from '../util/libc.ts';
import { CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS, CLONE_PARENT } from './namespaces.ts';

export interface SeccompPolicy {
  /** 'off': socket() of every family refused (socketpair stays allowed so pipes between a command's own processes work). 'on': socket() allowed. */
  network: 'off' | 'on';
  /** pids/tids no process under the filter may signal or open a pidfd for (kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo, pidfd_open on arg0; tgkill/rt_tgsigqueueinfo also on arg1 (tid)). Negative-pid group kills of these values too (kill(-p)). */
  protectedPids: readonly number[];
  /** Allow unshare(flags == CLONE_NEWPID or CLONE_NEWPID|CLONE_NEWIPC exactly) and setns(fd, nstype == CLONE_NEWPID or CLONE_NEWIPC exactly): the launcher needs them for a PID and IPC namespace per command, and to return to its own afterwards (it holds CAP_SYS_ADMIN as root; commands have no capabilities, so the kernel refuses them anyway). Otherwise unshare and setns are refused. */
  allowPidNamespace: boolean;
  /**
   * Allow System V IPC (shared memory, semaphores, message queues). Only
   * safe when every command has an IPC namespace of its own: otherwise a
   * segment is shared between clients and outlives the call.
   */
  sysvIpc?: boolean;
  /**
   * Refuse stop signals (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) sent by any
   * syscall but kill(0, …), the caller's own process group. Where commands
   * share the launcher's PID namespace they can name it, by its pid or by any
   * of its threads' ids (kill() takes a thread's id for its process), and a
   * stopped launcher neither ends its commands when the server dies nor runs
   * new ones. The launcher's own stop signals go through a thread started
   * before the filter.
   */
  refuseStopSignals?: boolean;
}

// ---------------------------------------------------------------------------
// Syscall numbers: [x86_64, aarch64]. aarch64 uses the asm-generic table,
// which has only the *at forms of the path calls (null: no such syscall).
// Numbers from 424 up are shared by every architecture.

const NR = {
  // processes
  ptrace: [101, 117],
  process_vm_readv: [310, 270],
  process_vm_writev: [311, 271],
  pidfd_getfd: [438, 438],
  pidfd_open: [434, 434],
  kill: [62, 129],
  tkill: [200, 130],
  tgkill: [234, 131],
  rt_sigqueueinfo: [129, 138],
  rt_tgsigqueueinfo: [297, 240],
  pidfd_send_signal: [424, 424],
  personality: [135, 92],
  // namespaces
  clone: [56, 220],
  clone3: [435, 435],
  unshare: [272, 97],
  setns: [308, 268],
  // mounts and roots
  mount: [165, 40],
  umount2: [166, 39],
  pivot_root: [155, 41],
  chroot: [161, 51],
  open_tree: [428, 428],
  move_mount: [429, 429],
  fsopen: [430, 430],
  fsmount: [432, 432],
  fspick: [433, 433],
  mount_setattr: [442, 442],
  // file handles
  name_to_handle_at: [303, 264],
  open_by_handle_at: [304, 265],
  // kernel attack surface
  io_uring_setup: [425, 425],
  io_uring_enter: [426, 426],
  io_uring_register: [427, 427],
  io_setup: [206, 0],
  io_destroy: [207, 1],
  io_submit: [209, 2],
  io_cancel: [210, 3],
  io_getevents: [208, 4],
  io_pgetevents: [333, 292],
  bpf: [321, 280],
  perf_event_open: [298, 241],
  fanotify_init: [300, 262],
  fanotify_mark: [301, 263],
  userfaultfd: [323, 282],
  memfd_secret: [447, 447],
  add_key: [248, 217],
  request_key: [249, 218],
  keyctl: [250, 219],
  // system administration
  kexec_load: [246, 104],
  kexec_file_load: [320, 294],
  init_module: [175, 105],
  finit_module: [313, 273],
  delete_module: [176, 106],
  swapon: [167, 224],
  swapoff: [168, 225],
  reboot: [169, 142],
  acct: [163, 89],
  quotactl: [179, 60],
  quotactl_fd: [443, 443],
  file_setattr: [469, 469],
  // modes and file creation
  chmod: [90, null],
  fchmod: [91, 52],
  fchmodat: [268, 53],
  fchmodat2: [452, 452],
  open: [2, null],
  openat: [257, 56],
  openat2: [437, 437],
  creat: [85, null],
  mknod: [133, null],
  mknodat: [259, 33],
  renameat2: [316, 276],
  // network
  socket: [41, 198],
  socketpair: [53, 199],
  bind: [49, 200],
  setsockopt: [54, 208],
  // file leases
  fcntl: [72, 25],
  ioctl: [16, 29],
  // other processes' limits and scheduling
  prlimit64: [302, 261],
  setpriority: [141, 140],
  sched_setaffinity: [203, 122],
  sched_setscheduler: [144, 119],
  sched_setparam: [142, 118],
  sched_setattr: [314, 274],
  ioprio_set: [251, 30],
  migrate_pages: [256, 238],
  move_pages: [279, 239],
  // System V IPC
  shmget: [29, 194],
  shmat: [30, 196],
  shmctl: [31, 195],
  shmdt: [67, 197],
  semget: [64, 190],
  semop: [65, 193],
  semctl: [66, 191],
  semtimedop: [220, 192],
  msgget: [68, 186],
  msgsnd: [69, 189],
  msgrcv: [70, 188],
  msgctl: [71, 187],
  // POSIX message queues
  mq_open: [240, 180],
  mq_unlink: [241, 181],
  mq_timedsend: [242, 182],
  mq_timedreceive: [243, 183],
  mq_notify: [244, 184],
  mq_getsetattr: [245, 185],
  // huge pages
  mmap: [9, 222],
  memfd_create: [319, 279],
} as const satisfies Record<string, readonly [number, number | null]>;

type Syscall = keyof typeof NR;

/** A syscall's number on x86_64 and on aarch64 (null where it has none), by name. */
export function syscallNumbers(name: Syscall): readonly [number, number | null] {
  return NR[name];
}
export type { Syscall };

interface Arch {
  /** AUDIT_ARCH_* value the kernel puts in seccomp_data.arch. */
  audit: number;
  /** Column of NR. */
  column: 0 | 1;
  /** x86_64 only: x32 syscalls arrive with this bit set and the x86_64 audit arch. */
  x32Bit: number | null;
}

const ARCHES: Partial<Record<NodeJS.Architecture, Arch>> = {
  x64: { audit: 0xc000003e, column: 0, x32Bit: 0x40000000 },
  arm64: { audit: 0xc00000b7, column: 1, x32Bit: null },
};

// ---------------------------------------------------------------------------
// Constants (uapi headers).

const EPERM = 1;
const ENOSYS = 38;

const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_ALLOW = 0x7fff0000;

const PR_SET_SECCOMP = 22;
const PR_GET_NO_NEW_PRIVS = 39;
const SECCOMP_MODE_FILTER = 2;
/** BPF_MAXINSNS: the kernel refuses longer programs. */
const MAX_INSNS = 4096;

// Every namespace flag clone() accepts. CLONE_NEWTIME (0x80) is missing on
// purpose: in clone()'s flags that bit belongs to the exit signal (CSIGNAL).
const CLONE_NAMESPACES = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;

const SOCK_TYPE_MASK = 0xf;
// Same values on x86_64 and aarch64 (asm-generic).
const SOL_SOCKET = 1;
const SO_REUSEPORT = 15;
/** Socket filters (classic BPF, eBPF, and their reuseport forms): each is compiled to kernel code. */
const SO_ATTACH_FILTER = 26;
const SO_ATTACH_BPF = 50;
const SO_ATTACH_REUSEPORT_CBPF = 51;
const SO_ATTACH_REUSEPORT_EBPF = 52;
const F_SETLEASE = 1024;
/**
 * ioctl commands by family: the type byte (bits 8-15) names the driver or
 * filesystem; `_IOC(dir, type, nr, size)` puts the direction and argument size
 * above it, which a driver may accept in more than one form, so a command is
 * told by its type and number (the low 16 bits).
 */
const IOCTL_TYPE = 0xff00;
const IOCTL_TYPE_NR = 0xffff;
/**
 * Filesystems whose own ioctls create or change files through a descriptor
 * opened only for reading, where Landlock's path rules never look: btrfs
 * (0x94: subvolumes and snapshots made in a read-only grant), f2fs (0xf5),
 * bcachefs (0xbc: subvolumes, like btrfs).
 */
const FILESYSTEM_IOCTL_TYPES = [0x9400, 0xf500, 0xbc00];
/** Generic VFS ioctls that borrow btrfs's type, each needing a destination open for writing: FICLONE, FICLONERANGE, FIDEDUPERANGE (cp --reflink). */
const CLONE_IOCTLS = [0x40049409, 0x4020940d, 0xc0189436];
/**
 * By type and number: fscrypt's FS_IOC_SET_ENCRYPTION_POLICY,
 * GET_ENCRYPTION_PWSALT, ADD_ENCRYPTION_KEY, REMOVE_ENCRYPTION_KEY,
 * REMOVE_ENCRYPTION_KEY_ALL_USERS ('f' 19, 20, 23-25: kernel keys through any
 * descriptor on the filesystem, charged to the user's key quota and outliving
 * the server; the salt written into the superblock for good); fs-verity's
 * FS_IOC_ENABLE_VERITY ('f' 133: a file made unwritable for good through a
 * read descriptor); FS_IOC_SETFLAGS and FS_IOC_FSSETXATTR ('f' 2, 'X' 32:
 * inode flags and the project id, which decides the project quota a file is
 * charged to, an owner may change through a read descriptor — out of the
 * quota bounding the workspace, or into another's); pidfs's PIDFD_GET_INFO
 * (0xff 11: the credentials and exit status of any process a pidfd names,
 * another client's where commands share a PID namespace).
 */
const REFUSED_IOCTL_NRS = [0x6613, 0x6614, 0x6617, 0x6618, 0x6619, 0x6685, 0x6602, 0x5820, 0xff0b];
/** renameat2's RENAME_WHITEOUT: leaves a character device (0:0) where the name was, which Landlock's device rule does not see. */
const RENAME_WHITEOUT = 4;
/** TIOCSETD: a terminal's line discipline, which the kernel loads as a module on demand (n_gsm, n_hdlc). */
const TIOCSETD = 0x5423;
const F_SETSIG = 10;
/** SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU: the same numbers on x86_64 and aarch64. */
const STOP_SIGNALS = [19, 20, 21, 22];
const AF_UNIX = 1;
const MAP_HUGETLB = 0x40000;
const MFD_HUGETLB = 4;
const SHM_HUGETLB = 0o4000;
const SOCK_STREAM = 1;
const SOCK_SEQPACKET = 5;
const PRIO_PROCESS = 0;
const IOPRIO_WHO_PROCESS = 1;
/**
 * The I/O priorities a command may give itself: none (derived from its nice
 * value, which the launcher raised: best-effort 6 at nice 10), best-effort 6
 * or 7, or idle. Any best-effort level needs no privilege, and 0 would put
 * its I/O before the server's (best-effort 4 at nice 0) where the scheduler
 * weighs them (BFQ).
 */
const IOPRIO_CLASS_SHIFT = 13;
const IOPRIO_LOWERED = [0, (2 << IOPRIO_CLASS_SHIFT) | 6, (2 << IOPRIO_CLASS_SHIFT) | 7, ...Array.from({ length: 8 }, (_, level) => (3 << IOPRIO_CLASS_SHIFT) | level)];
/** shmctl commands that pin a segment in memory; IPC_64 (0x100) may ride on them. */
const SHM_LOCK = 11;
const SHM_UNLOCK = 12;
const IPC_64 = 0x100;

/** S_ISUID | S_ISGID. */
const SET_ID_BITS = 0o6000;
// Same values on x86_64 and aarch64. The kernel reads open's mode only when
// one of these is set (O_TMPFILE always carries __O_TMPFILE); without them
// the mode slot may hold anything, so it is not looked at.
const O_CREAT = 0o100;
const __O_TMPFILE = 0o20000000;

// personality(): PER_LINUX, PER_LINUX32, UNAME26 and their union, and the
// 0xffffffff query, as Docker's default profile allows. Refused: flags such
// as ADDR_NO_RANDOMIZE or READ_IMPLIES_EXEC that weaken what the child execs.
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

// ---------------------------------------------------------------------------
// The policy table.

/** What a block does once the syscall number matched; every test reads low argument words only (see argLow). */
type Test =
  /** Refuse outright with this errno. */
  | { kind: 'refuse'; errno: number }
  /** EPERM when args[arg] & mask; with `gate`, only when args[gate.arg] & gate.mask as well. */
  | { kind: 'bits'; arg: number; mask: number; gate?: { arg: number; mask: number } }
  /** EPERM unless args[arg] is one of the values. */
  | { kind: 'only'; arg: number; values: readonly number[] }
  /** EPERM when any of the args is one of the values. */
  | { kind: 'match'; args: readonly number[]; values: readonly number[] }
  /** EPERM unless args[arg] & mask is one of the values. */
  | { kind: 'onlyMasked'; arg: number; mask: number; values: readonly number[] }
  /** EPERM when args[arg] & mask is one of the values, unless args[arg] is one of `except`. */
  | { kind: 'maskedIn'; arg: number; mask: number; values: readonly number[]; except?: readonly number[] }
  /** EPERM unless every args[arg] equals its value. */
  | { kind: 'require'; pairs: ReadonlyArray<readonly [arg: number, value: number]> }
  /** EPERM when every args[arg] equals its value. */
  | { kind: 'when'; pairs: ReadonlyArray<readonly [arg: number, value: number]> }
  /** EPERM when, for every condition, args[arg] is one of `in` (or none of `notIn`). */
  | { kind: 'whenAll'; conditions: readonly Condition[] }
  /** EPERM when any of the tests refuses. */
  | { kind: 'any'; tests: readonly Test[] };

type Condition = { arg: number; in: readonly number[] } | { arg: number; notIn: readonly number[] };

interface Rule {
  calls: readonly Syscall[];
  /** What the row refuses, in words (SECCOMP_DENIED). */
  refuses: string;
  /** The test for a policy; null when that policy lets the calls through. */
  test: (policy: Normalized) => Test | null;
}

interface Normalized {
  network: 'off' | 'on';
  /** protectedPids as the kernel compares them: 32-bit pid_t values. */
  pids: readonly number[];
  allowPidNamespace: boolean;
  sysvIpc: boolean;
  refuseStopSignals: boolean;
}

const refuse = (errno = EPERM): (() => Test) => () => ({ kind: 'refuse', errno });
const setIdMode =
  (arg: number, gate?: { arg: number; mask: number }): (() => Test) =>
  () => ({ kind: 'bits', arg, mask: SET_ID_BITS, gate });
/** Signals and pidfds aimed at a protected pid (args are the pid/tid slots). */
const protect =
  (...args: number[]) =>
  (p: Normalized): Test | null =>
    p.pids.length === 0 ? null : { kind: 'match', args, values: p.pids };
/** A stop signal in args[sig], with the further conditions given, when stop signals are refused. */
const stopSignal =
  (sig: number, ...more: Condition[]) =>
  (p: Normalized): Test | null =>
    p.refuseStopSignals ? { kind: 'whenAll', conditions: [{ arg: sig, in: STOP_SIGNALS }, ...more] } : null;
/** Refuses what any of the rows' tests refuses (one block per syscall: tests of two concerns must share it). */
const either =
  (...tests: ((p: Normalized) => Test | null)[]) =>
  (p: Normalized): Test | null => {
    const live = tests.map((t) => t(p)).filter((t): t is Test => t !== null);
    return live.length === 0 ? null : live.length === 1 ? live[0]! : { kind: 'any', tests: live };
  };

const RULES: readonly Rule[] = [
  {
    calls: ['ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_getfd'],
    refuses: 'reading, writing or driving another process, or copying its descriptors',
    test: refuse(),
  },
  {
    calls: ['io_uring_setup', 'io_uring_enter', 'io_uring_register'],
    refuses: 'io_uring (it performs socket, open and other operations this filter never sees)',
    test: refuse(),
  },
  {
    // Every AIO context is taken from one pool the whole host shares (fs.aio-max-nr, 65536 events by default): two
    // io_setup calls of one command took all of it, and every other process, root's too, got EAGAIN until it ended.
    calls: ['io_setup', 'io_destroy', 'io_submit', 'io_cancel', 'io_getevents', 'io_pgetevents'],
    refuses: "Linux AIO (io_setup and its calls: its contexts come from a pool the whole host shares, fs.aio-max-nr, which one command could take whole)",
    test: refuse(),
  },
  {
    // memfd_secret's pages are taken out of the kernel's direct map, which splits the large pages around each into
    // small ones for good: one command looping over 8 MiB of them moved 800 MiB of the host's direct map to 4 KiB
    // pages in 3 s, a cost every process of the host pays in TLB misses until a reboot.
    calls: ['bpf', 'perf_event_open', 'userfaultfd', 'memfd_secret', 'add_key', 'request_key', 'keyctl'],
    refuses: "kernel attack surface: eBPF, perf events, userfaultfd, secret memory (memfd_secret splits the host kernel's direct map for good), kernel keyrings (not namespaced)",
    test: refuse(),
  },
  {
    calls: ['kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'swapon', 'swapoff', 'reboot', 'acct', 'quotactl', 'quotactl_fd', 'file_setattr'],
    refuses: 'system administration: kexec, kernel modules, swap, reboot, process accounting, quotas, inode flags and project ids by path (file_setattr)',
    test: refuse(),
  },
  {
    calls: ['mount', 'umount2', 'pivot_root', 'chroot', 'open_tree', 'move_mount', 'fsopen', 'fsmount', 'fspick', 'mount_setattr'],
    refuses: 'mounts and changes of root',
    test: refuse(),
  },
  {
    calls: ['name_to_handle_at', 'open_by_handle_at'],
    refuses: 'file handles (open_by_handle_at opens by inode, past any path rule)',
    test: refuse(),
  },
  {
    // Flags are arg0 on both arches; the kernel reads only their low 32 bits.
    calls: ['clone'],
    // CLONE_PARENT makes the new process a sibling — a child of whoever
    // started the caller (a launcher, the server): a chain of such hops could
    // outrun any sweep of orphans and fill the process table with zombies.
    refuses: 'clone with any namespace flag (CLONE_NEWNS/CGROUP/UTS/IPC/USER/PID/NET) or CLONE_PARENT',
    test: () => ({ kind: 'bits', arg: 0, mask: CLONE_NAMESPACES | CLONE_PARENT }),
  },
  {
    // clone3 passes its flags in a struct the filter cannot read.
    calls: ['clone3'],
    refuses: 'clone3, with ENOSYS: libc then falls back to clone, whose flags are checked',
    test: refuse(ENOSYS),
  },
  {
    calls: ['unshare'],
    refuses: 'unshare, except unshare(CLONE_NEWPID), alone or with CLONE_NEWIPC, when the PID namespace is allowed (commands lack the capability even for that)',
    test: (p) => (p.allowPidNamespace ? { kind: 'only', arg: 0, values: [CLONE_NEWPID, CLONE_NEWPID | CLONE_NEWIPC] } : { kind: 'refuse', errno: EPERM }),
  },
  {
    calls: ['setns'],
    refuses: 'setns, except setns(fd, CLONE_NEWPID) or setns(fd, CLONE_NEWIPC) when the PID namespace is allowed (the launcher returning to its own; commands lack the capability even for that)',
    test: (p) => (p.allowPidNamespace ? { kind: 'only', arg: 1, values: [CLONE_NEWPID, CLONE_NEWIPC] } : { kind: 'refuse', errno: EPERM }),
  },
  {
    calls: ['personality'],
    refuses: 'personality flags such as ADDR_NO_RANDOMIZE or READ_IMPLIES_EXEC (the query and PER_LINUX/PER_LINUX32/UNAME26 pass)',
    test: () => ({ kind: 'only', arg: 0, values: PERSONALITIES }),
  },
  // Set-uid / set-gid modes: a file made set-uid root here runs as root with
  // every capability for whoever executes it outside the sandbox.
  { calls: ['chmod', 'fchmod', 'creat', 'mknod'], refuses: 'set-uid/set-gid modes (S_ISUID|S_ISGID) in chmod, fchmod, creat, mknod', test: setIdMode(1) },
  { calls: ['fchmodat', 'fchmodat2', 'mknodat'], refuses: 'set-uid/set-gid modes in fchmodat, fchmodat2, mknodat', test: setIdMode(2) },
  {
    calls: ['renameat2'],
    refuses: 'renameat2 with RENAME_WHITEOUT (it leaves a character device node where the name was)',
    test: () => ({ kind: 'bits', arg: 4, mask: RENAME_WHITEOUT }),
  },
  { calls: ['open'], refuses: 'open(O_CREAT or O_TMPFILE) with a set-uid/set-gid mode', test: setIdMode(2, { arg: 1, mask: O_CREAT | __O_TMPFILE }) },
  { calls: ['openat'], refuses: 'openat(O_CREAT or O_TMPFILE) with a set-uid/set-gid mode', test: setIdMode(3, { arg: 2, mask: O_CREAT | __O_TMPFILE }) },
  {
    // Its mode sits in a struct the filter cannot read; callers fall back to openat.
    calls: ['openat2'],
    refuses: 'openat2, with ENOSYS: callers fall back to openat, whose mode is checked',
    test: refuse(ENOSYS),
  },
  {
    calls: ['socket'],
    refuses: 'socket() of every family when network is off (socketpair stays allowed)',
    test: (p) => (p.network === 'off' ? { kind: 'refuse', errno: EPERM } : null),
  },
  {
    // With socket() refused, only socketpair ends exist, connected already: nothing a command runs needs a name for
    // one. Bound to an abstract name it takes that name from the host's services (an unprivileged server's commands
    // share the host's network namespace), for as long as a process holds it; a service starting later cannot bind it.
    calls: ['bind'],
    refuses: "bind() when network is off: a socketpair end bound to an abstract name takes it from the host's services",
    test: (p) => (p.network === 'off' ? { kind: 'refuse', errno: EPERM } : null),
  },
  {
    // A datagram socketpair can still sendto() or connect() a pathname Unix
    // socket anywhere (/dev/log, a daemon's socket): Landlock does not cover
    // those before ABI 9. Stream and seqpacket pairs are connected already.
    // Of another family, the kernel builds both sockets with that family's own code (and loads its module, where
    // modules load on demand) before it finds the family has no pairs: the surface socket() is refused to keep away.
    calls: ['socketpair'],
    refuses: 'socketpair of a family other than AF_UNIX, or of a type other than SOCK_STREAM or SOCK_SEQPACKET, when network is off',
    test: (p) =>
      p.network === 'off'
        ? { kind: 'any', tests: [{ kind: 'only', arg: 0, values: [AF_UNIX] }, { kind: 'onlyMasked', arg: 1, mask: SOCK_TYPE_MASK, values: [SOCK_STREAM, SOCK_SEQPACKET] }] }
        : null,
  },
  {
    // A port another process of the same uid listens on with SO_REUSEPORT (a server, a development server another
    // client started) could be bound again beside it, and the kernel would hand the new socket a share of its
    // connections — the requests, and the credentials in them. Nothing a command needs to build or test asks for it.
    // A socket filter is compiled to kernel code, whose pages leave the kernel's direct map read-only, splitting its
    // large pages for good: 300 filters on a Unix socket pair moved 34 MiB of the host's direct map to 4 KiB pages a
    // run. Commands filter no sockets (tcpdump's packet sockets are refused anyway).
    calls: ['setsockopt'],
    refuses:
      'setsockopt(SOL_SOCKET, SO_REUSEPORT): binding a port another process of the same user listens on, to take a share of its connections; ' +
      "and socket filters (SO_ATTACH_FILTER, SO_ATTACH_BPF and their reuseport forms), compiled to kernel code that splits the host kernel's direct map",
    test: () => ({
      kind: 'whenAll',
      conditions: [
        { arg: 1, in: [SOL_SOCKET] },
        { arg: 2, in: [SO_REUSEPORT, SO_ATTACH_FILTER, SO_ATTACH_BPF, SO_ATTACH_REUSEPORT_CBPF, SO_ATTACH_REUSEPORT_EBPF] },
      ],
    }),
  },
  {
    // A lease needs only a read descriptor and ownership of the file (a root server's commands own most system files):
    // every other open of it then waits for the holder, up to the lease-break time (45 s by default), again after
    // each break — another client's reads and program starts, the dynamic loader, and the launcher that waits on them.
    // Landlock and read-only mounts do not see leases.
    // F_SETSIG: the signal the kernel sends the descriptor's owner (F_SETOWN: any process or thread the caller may
    // signal) when it is ready; a stop signal there would stop the launcher as surely as kill().
    calls: ['fcntl'],
    refuses:
      "fcntl(F_SETLEASE): a lease that makes every other open of the file, another client's or a program start's, wait for its holder; fcntl(F_SETSIG) with a stop signal when stop signals are refused",
    test: either(() => ({ kind: 'when', pairs: [[1, F_SETLEASE]] }), stopSignal(2, { arg: 1, in: [F_SETSIG] })),
  },
  {
    // Landlock governs ioctl only on device files, and read-only mounts stop only what needs a writable mount. On an
    // unprivileged server a btrfs snapshot made through a read-only descriptor planted a package in a read-only grant
    // the server's user owns, which the next client's command (and that user, outside the sandbox) then ran; fscrypt
    // added kernel keys, which the keyring calls above are refused for, through any descriptor on an encrypting
    // filesystem, and removed other users' keys. Only the low word counts: the kernel's ioctl command is an unsigned int.
    calls: ['ioctl'],
    refuses:
      'ioctl of filesystems that create or change files past the path rules (btrfs, f2fs and bcachefs types; FICLONE, FICLONERANGE and FIDEDUPERANGE pass), ' +
      "fscrypt's policy, salt and key ioctls, FS_IOC_ENABLE_VERITY, FS_IOC_SETFLAGS and FS_IOC_FSSETXATTR (inode flags, project ids), PIDFD_GET_INFO, and TIOCSETD (line disciplines load kernel modules)",
    test: () => ({
      kind: 'any',
      tests: [
        { kind: 'maskedIn', arg: 1, mask: IOCTL_TYPE, values: FILESYSTEM_IOCTL_TYPES, except: CLONE_IOCTLS },
        { kind: 'maskedIn', arg: 1, mask: IOCTL_TYPE_NR, values: REFUSED_IOCTL_NRS },
        { kind: 'match', args: [1], values: [TIOCSETD] },
      ],
    }),
  },
  // Other processes' resource limits, scheduling and memory placement: the
  // kernel allows them between processes of one uid, and Landlock does not
  // see them, so a command could lower the server's CPU limit or starve
  // another client. A command may still change its own (pid 0).
  { calls: ['prlimit64'], refuses: 'prlimit64 on any process but the caller (pid 0)', test: () => ({ kind: 'require', pairs: [[0, 0]] }) },
  { calls: ['setpriority'], refuses: 'setpriority but for the caller itself (PRIO_PROCESS, 0)', test: () => ({ kind: 'require', pairs: [[0, PRIO_PROCESS], [1, 0]] }) },
  {
    calls: ['sched_setaffinity', 'sched_setscheduler', 'sched_setparam', 'sched_setattr', 'migrate_pages', 'move_pages'],
    refuses: 'scheduling and memory placement of any process but the caller (pid 0)',
    test: () => ({ kind: 'require', pairs: [[0, 0]] }),
  },
  {
    calls: ['ioprio_set'],
    refuses: 'ioprio_set but for the caller itself (IOPRIO_WHO_PROCESS, 0), and to any priority above best-effort 6 (its own I/O before the server\'s)',
    test: either(
      () => ({ kind: 'require', pairs: [[0, IOPRIO_WHO_PROCESS], [1, 0]] }),
      () => ({ kind: 'only', arg: 2, values: IOPRIO_LOWERED }),
    ),
  },
  {
    calls: ['shmat', 'shmdt', 'semget', 'semop', 'semctl', 'semtimedop', 'msgget', 'msgsnd', 'msgrcv', 'msgctl'],
    refuses: 'System V IPC unless each command has an IPC namespace of its own (a segment would be shared between clients and outlive the call)',
    test: (p) => (p.sysvIpc ? null : { kind: 'refuse', errno: EPERM }),
  },
  {
    // A locked segment is charged to the user's RLIMIT_MEMLOCK count, which root shares host-wide, whatever IPC
    // namespace it is in: one command's 8 MiB left every other root process without CAP_IPC_LOCK unable to lock any.
    calls: ['shmctl'],
    refuses: 'shmctl as the rest of System V IPC, and SHM_LOCK / SHM_UNLOCK always (the user\'s locked-memory count, root\'s host-wide)',
    test: either((p) => (p.sysvIpc ? null : { kind: 'refuse', errno: EPERM }), () => ({ kind: 'match', args: [1], values: [SHM_LOCK, SHM_UNLOCK, SHM_LOCK | IPC_64, SHM_UNLOCK | IPC_64] })),
  },
  {
    calls: ['shmget'],
    refuses: 'shmget as the rest of System V IPC, and a segment of huge pages (SHM_HUGETLB) always',
    test: either((p) => (p.sysvIpc ? null : { kind: 'refuse', errno: EPERM }), () => ({ kind: 'bits', arg: 2, mask: SHM_HUGETLB })),
  },
  {
    // The host's reserved huge pages (vm.nr_hugepages) are one pool for every process, root's included, and neither
    // RLIMIT_DATA nor a container's memory limit counts them: one shared mapping of them took the whole pool.
    // Transparent huge pages, which need no flag, are not affected.
    calls: ['mmap'],
    refuses: 'mmap of huge pages (MAP_HUGETLB), from the pool the whole host shares',
    test: () => ({ kind: 'bits', arg: 3, mask: MAP_HUGETLB }),
  },
  { calls: ['memfd_create'], refuses: 'memfd_create of huge pages (MFD_HUGETLB)', test: () => ({ kind: 'bits', arg: 1, mask: MFD_HUGETLB }) },
  {
    // fanotify groups are counted per user (128), for root too with every capability: one command holding them all
    // left every other process of the user, another client's and the host's, with EMFILE.
    calls: ['fanotify_init', 'fanotify_mark'],
    refuses: 'fanotify (its groups are one count per user, which one command could take whole)',
    test: refuse(),
  },
  {
    calls: ['mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedreceive', 'mq_notify', 'mq_getsetattr'],
    // Landlock refuses opening a queue, but only once mq_open has created it: unprivileged, in the IPC namespace
    // every client shares, where it outlives the call and counts against the uid's RLIMIT_MSGQUEUE (about ten
    // queues), after which no process of that uid can make one.
    refuses: 'POSIX message queues (mq_open would create a queue that outlives the call before Landlock refuses opening it)',
    test: () => ({ kind: 'refuse', errno: EPERM }),
  },
  // Signals by number. Values are pids of the caller's PID namespace, so they
  // matter only to commands that share the launcher's; threads started after
  // the filter are not listed. pidfd_send_signal takes a descriptor and
  // cannot be filtered: pidfd_open is, a /proc/<pid> directory fd is not.
  {
    // kill() also reaches a protected pid as a process group (-p) and through
    // the -1 broadcast (every process the caller may signal).
    calls: ['kill'],
    refuses: 'kill of a protected pid, its process group (-pid) or everything (-1); a stop signal to anything but the caller\'s own process group (0) when stop signals are refused',
    test: either((p) => (p.pids.length === 0 ? null : { kind: 'match', args: [0], values: killTargets(p.pids) }), stopSignal(1, { arg: 0, notIn: [0] })),
  },
  { calls: ['tkill', 'rt_sigqueueinfo'], refuses: 'tkill, rt_sigqueueinfo aimed at a protected pid/tid, or with a stop signal when stop signals are refused', test: either(protect(0), stopSignal(1)) },
  { calls: ['pidfd_open'], refuses: 'pidfd_open of a protected pid', test: protect(0) },
  {
    calls: ['tgkill', 'rt_tgsigqueueinfo'],
    refuses: 'tgkill, rt_tgsigqueueinfo aimed at a protected pid or tid, or with a stop signal when stop signals are refused',
    test: either(protect(0, 1), stopSignal(2)),
  },
  // Its target is a descriptor the filter cannot read (a pidfd, or a /proc/<pid> directory any process may open).
  { calls: ['pidfd_send_signal'], refuses: 'pidfd_send_signal with a stop signal when stop signals are refused', test: stopSignal(1) },
];

/** What the filter refuses, one line per row of the table (policy-dependent rows say when they apply). */
export const SECCOMP_DENIED: readonly string[] = Object.freeze([
  'any syscall of a foreign ABI (i386 int 0x80 on x86_64, arm32 on aarch64): the process is killed',
  'x32 syscalls on x86_64 (EPERM)',
  ...RULES.map((r) => `${r.calls.join(', ')}: ${r.refuses}`),
]);

function killTargets(pids: readonly number[]): number[] {
  const values = new Set<number>([0xffffffff]); // kill(-1)
  for (const p of pids) {
    values.add(p);
    values.add(-p >>> 0);
  }
  return [...values];
}

function normalize(policy: SeccompPolicy): Normalized {
  if (policy.network !== 'off' && policy.network !== 'on') throw new TypeError(`seccomp: network must be 'off' or 'on', got ${String(policy.network)}`);
  const pids = new Set<number>();
  for (const p of policy.protectedPids) {
    // pid_t is 32-bit; 0 and negatives mean groups or broadcasts, not a process.
    if (!Number.isInteger(p) || p < 1 || p > 0x7fffffff) throw new TypeError(`seccomp: invalid protected pid ${p}`);
    pids.add(p);
  }
  return {
    network: policy.network,
    pids: [...pids],
    allowPidNamespace: policy.allowPidNamespace === true,
    sysvIpc: policy.sysvIpc === true,
    refuseStopSignals: policy.refuseStopSignals === true,
  };
}

// ---------------------------------------------------------------------------
// Classic BPF.

type Insn = readonly [code: number, jt: number, jf: number, k: number];

const LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JA = 0x05; // BPF_JMP | BPF_JA
const JEQ = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET = 0x06; // BPF_RET | BPF_K
const ALU_AND = 0x54; // BPF_ALU | BPF_AND | BPF_K

// struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
const OFF_NR = 0;
const OFF_ARCH = 4;
/**
 * Low 32 bits of args[i]; both supported arches are little-endian. Only low
 * words are compared: every argument tested is an int, pid_t, mode or flag
 * word the kernel truncates to 32 bits (clone() takes lower_32_bits of its
 * flags; unshare rejects high bits), so testing the high word as well would
 * let kill(p | 1 << 32) slip past while the kernel still signals p.
 */
const argLow = (i: number): number => 16 + 8 * i;

const ld = (offset: number): Insn => [LD_W_ABS, 0, 0, offset];
const jeq = (k: number, jt: number, jf: number): Insn => [JEQ, jt, jf, k];
const jset = (k: number, jt: number, jf: number): Insn => [JSET, jt, jf, k];
const ret = (k: number): Insn => [RET, 0, 0, k];
const RET_EPERM = ret(SECCOMP_RET_ERRNO | EPERM);
const RET_ALLOW = ret(SECCOMP_RET_ALLOW);

/** Instructions run once the syscall number matched; every path ends in a return. */
function body(test: Test): Insn[] {
  switch (test.kind) {
    case 'refuse':
      return [ret(SECCOMP_RET_ERRNO | test.errno)];
    case 'bits': {
      const tail = [ld(argLow(test.arg)), jset(test.mask, 0, 1), RET_EPERM, RET_ALLOW];
      // Gate not set: jump over the mode test to the final ALLOW.
      return test.gate ? [ld(argLow(test.gate.arg)), jset(test.gate.mask, 0, tail.length - 1), ...tail] : tail;
    }
    case 'only': {
      const n = test.values.length;
      // Value i sits at index 1 + i; ALLOW at 2 + n.
      return [ld(argLow(test.arg)), ...test.values.map((v, i) => jeq(v, n - i, 0)), RET_EPERM, RET_ALLOW];
    }
    case 'onlyMasked': {
      const n = test.values.length;
      return [ld(argLow(test.arg)), [ALU_AND, 0, 0, test.mask], ...test.values.map((v, i) => jeq(v, n - i, 0)), RET_EPERM, RET_ALLOW];
    }
    case 'maskedIn': {
      const except = test.except ?? [];
      const n = test.values.length;
      // ALLOW sits at 2 + except.length + n, EPERM after it.
      const allow = 2 + except.length + n;
      return [
        ld(argLow(test.arg)),
        ...except.map((v, i) => jeq(v, allow - (1 + i) - 1, 0)),
        [ALU_AND, 0, 0, test.mask] as Insn,
        ...test.values.map((v, i) => jeq(v, n - i, 0)),
        RET_ALLOW,
        RET_EPERM,
      ];
    }
    // Every pair equal → the first return, any other → the second.
    case 'require':
      return allEqual(test.pairs, RET_ALLOW, RET_EPERM);
    case 'when':
      return allEqual(test.pairs, RET_EPERM, RET_ALLOW);
    case 'match': {
      const out: Insn[] = [];
      for (const arg of test.args) {
        out.push(ld(argLow(arg)));
        for (const v of test.values) out.push(jeq(v, 0, 1), RET_EPERM);
      }
      out.push(RET_ALLOW);
      return out;
    }
    case 'whenAll':
      return whenAll(test.conditions);
    case 'any':
      return anyOf(test.tests.map(body));
  }
}

/**
 * EPERM when every condition holds. Laid out with ALLOW as the last
 * instruction and EPERM before it: a condition that fails jumps to ALLOW, one
 * that holds goes on to the next condition (after the last, to EPERM).
 */
function whenAll(conditions: readonly Condition[]): Insn[] {
  const sizes = conditions.map((c) => 1 + ('in' in c ? c.in : c.notIn).length);
  const total = sizes.reduce((a, b) => a + b, 0);
  const out: Insn[] = [];
  let at = 0;
  for (const [i, c] of conditions.entries()) {
    const end = at + sizes[i]!; // index of the next condition's load (or of EPERM after the last)
    out.push(ld(argLow(c.arg)));
    const values = 'in' in c ? c.in : c.notIn;
    values.forEach((v, j) => {
      const here = at + 1 + j;
      const toHolds = end - here - 1;
      const toFails = total + 1 - here - 1; // ALLOW sits at total + 1
      const last = j === values.length - 1;
      if ('in' in c) out.push(jeq(v, toHolds, last ? toFails : 0));
      else out.push(jeq(v, toFails, last ? toHolds : 0));
    });
    at = end;
  }
  out.push(RET_EPERM, RET_ALLOW);
  return out;
}

/**
 * One body after another, each one's ALLOW turned into a jump to the start
 * of the next, so only the last one allows and any one may refuse.
 */
function anyOf(bodies: readonly Insn[][]): Insn[] {
  const out: Insn[] = [];
  bodies.forEach((insns, i) => {
    const last = i === bodies.length - 1;
    insns.forEach((insn, j) => out.push(!last && insn[0] === RET && insn[3] === SECCOMP_RET_ALLOW ? [JA, 0, 0, insns.length - j - 1] : insn));
  });
  return out;
}

/** Pair i: load, then equal → go on, else to `otherwise`; all equal → `then`. */
function allEqual(pairs: ReadonlyArray<readonly [arg: number, value: number]>, then: Insn, otherwise: Insn): Insn[] {
  const out: Insn[] = [];
  pairs.forEach(([arg, value], i) => {
    const left = (pairs.length - 1 - i) * 2;
    out.push(ld(argLow(arg)), jeq(value, 0, left + 1));
  });
  out.push(then, otherwise);
  return out;
}

/** "If nr matches, run the body", skipping it otherwise; a long jump when the body outgrows an 8-bit offset. */
function block(nr: number, insns: Insn[]): Insn[] {
  if (insns.length <= 255) return [jeq(nr, 0, insns.length), ...insns];
  return [jeq(nr, 1, 0), [JA, 0, 0, insns.length], ...insns];
}

function archOf(): Arch {
  const arch = ARCHES[process.arch];
  if (!arch) throw new Error(`seccomp: unsupported architecture ${process.arch} (x64 and arm64 only)`);
  return arch;
}

/** Builds the BPF program (array of 8-byte sock_filter structs) for the running architecture. Throws on an unsupported arch. Exported for tests. */
export function buildSeccompFilter(policy: SeccompPolicy): Uint8Array {
  const arch = archOf();
  const p = normalize(policy);

  const insns: Insn[] = [
    // A foreign ABI numbers its syscalls differently: kill rather than guess.
    ld(OFF_ARCH),
    jeq(arch.audit, 1, 0),
    ret(SECCOMP_RET_KILL_PROCESS),
    ld(OFF_NR),
  ];
  if (arch.x32Bit !== null) insns.push([JGE, 0, 1, arch.x32Bit], RET_EPERM);

  const seen = new Set<number>();
  for (const rule of RULES) {
    const test = rule.test(p);
    if (test === null) continue;
    const code = body(test);
    for (const call of rule.calls) {
      const nr = NR[call][arch.column];
      if (nr === null) continue;
      // One block per number: a block returns, so a second one would never run.
      if (seen.has(nr)) throw new Error(`seccomp: syscall ${call} (${nr}) listed twice`);
      seen.add(nr);
      insns.push(...block(nr, code));
    }
  }
  insns.push(RET_ALLOW);

  if (insns.length > MAX_INSNS) throw new Error(`seccomp: filter of ${insns.length} instructions exceeds ${MAX_INSNS} (too many protected pids)`);
  const out = new Uint8Array(insns.length * 8);
  const view = new DataView(out.buffer);
  insns.forEach(([code, jt, jf, k], i) => {
    if (jt > 255 || jf > 255) throw new Error(`seccomp: jump out of range at instruction ${i}`);
    view.setUint16(i * 8, code, true);
    view.setUint8(i * 8 + 2, jt);
    view.setUint8(i * 8 + 3, jf);
    view.setUint32(i * 8 + 4, k >>> 0, true);
  });
  return out;
}

/** Installs it on the calling thread with prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sock_fprog). Needs no_new_privs already set. Throws SyscallError naming the step. */
export function installSeccomp(policy: SeccompPolicy): void {
  const program = buildSeccompFilter(policy);
  const c = libc();
  // Without no_new_privs the kernel accepts a filter only from CAP_SYS_ADMIN;
  // the contract is that Landlock set it first, so say so rather than rely on
  // a capability the launcher may hold.
  if (check(c.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 'prctl(PR_GET_NO_NEW_PRIVS)') !== 1) {
    throw new Error('seccomp: no_new_privs is not set (restrict with Landlock or set PR_SET_NO_NEW_PRIVS first)');
  }
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; }:
  // len at 0, the pointer at 8 after padding. The kernel copies the program.
  const fprog = new Uint8Array(16);
  const view = new DataView(fprog.buffer);
  view.setUint16(0, program.length / 8, true);
  view.setBigUint64(8, BigInt(ptr(program)), true);
  check(c.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ptr(fprog), 0, 0), 'prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)');
}
