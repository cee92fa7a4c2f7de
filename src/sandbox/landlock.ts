/**
 * Landlock for the calling thread: ABI detection and a one-shot restriction of
 * filesystem paths, TCP ports and (ABI 6+) signal / abstract-socket scope.
 *
 * Landlock is unprivileged and inherited by every process forked afterwards,
 * which is why the launcher calls `restrictSelf` once and then only spawns.
 * The restriction applies to the calling thread (ABI < 8 has no thread sync):
 * call it from the JS thread, which is the one Bun.spawn forks from.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { hasProcFd, O_CLOEXEC, O_PATH, whereOpen } from '../workspace/open.ts';
import { ptr } from 'bun:ffi';
import { check, libc, SyscallError } from '../util/libc.ts';
import { isWithin } from '../util/path-within.ts';

// Same numbers on x86_64 and aarch64 (new syscalls share one table since 5.x).
const SYS_landlock_create_ruleset = 444;
const SYS_landlock_add_rule = 445;
const SYS_landlock_restrict_self = 446;
/** LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF (ABI 7). */
const RESTRICT_SELF_LOG_SUBDOMAINS_OFF = 1 << 2;
const LANDLOCK_CREATE_RULESET_VERSION = 1 << 0;
const LANDLOCK_RULE_PATH_BENEATH = 1;
const LANDLOCK_RULE_NET_PORT = 2;
const PR_SET_NO_NEW_PRIVS = 38;

/** Filesystem access rights (uapi/linux/landlock.h). */
export const Fs = {
  EXECUTE: 1n << 0n,
  WRITE_FILE: 1n << 1n,
  READ_FILE: 1n << 2n,
  READ_DIR: 1n << 3n,
  REMOVE_DIR: 1n << 4n,
  REMOVE_FILE: 1n << 5n,
  MAKE_CHAR: 1n << 6n,
  MAKE_DIR: 1n << 7n,
  MAKE_REG: 1n << 8n,
  MAKE_SOCK: 1n << 9n,
  MAKE_FIFO: 1n << 10n,
  MAKE_BLOCK: 1n << 11n,
  MAKE_SYM: 1n << 12n,
  REFER: 1n << 13n, // ABI 2
  TRUNCATE: 1n << 14n, // ABI 3
  IOCTL_DEV: 1n << 15n, // ABI 5
} as const;

const NET_BIND_TCP = 1n << 0n; // ABI 4
const NET_CONNECT_TCP = 1n << 1n; // ABI 4
const SCOPE_ABSTRACT_UNIX_SOCKET = 1n << 0n; // ABI 6
const SCOPE_SIGNAL = 1n << 1n; // ABI 6

/** Rights that make sense on a non-directory; the kernel rejects the others there. */
const FILE_RIGHTS = Fs.EXECUTE | Fs.WRITE_FILE | Fs.READ_FILE | Fs.TRUNCATE | Fs.IOCTL_DEV;
const READ_ONLY = Fs.EXECUTE | Fs.READ_FILE | Fs.READ_DIR;

/** Every filesystem right the given ABI can handle. */
export function fsRightsForAbi(abi: number): bigint {
  let rights = (1n << 13n) - 1n;
  if (abi >= 2) rights |= Fs.REFER;
  if (abi >= 3) rights |= Fs.TRUNCATE;
  if (abi >= 5) rights |= Fs.IOCTL_DEV;
  return rights;
}

/**
 * Read-write grant: everything except creating device nodes. A root caller
 * could otherwise mknod a block device inside the workspace and read the raw
 * disk, since Landlock checks only the path of the node it opens.
 */
function readWriteRights(handled: bigint): bigint {
  return handled & ~(Fs.MAKE_CHAR | Fs.MAKE_BLOCK);
}

let abiCache: number | null = null;

/** Landlock ABI version of the running kernel; 0 when unsupported or disabled. */
export function landlockAbi(): number {
  if (abiCache !== null) return abiCache;
  try {
    const v = Number(libc().syscall(SYS_landlock_create_ruleset, 0, 0, LANDLOCK_CREATE_RULESET_VERSION, 0, 0));
    abiCache = v > 0 ? v : 0;
  } catch {
    abiCache = 0;
  }
  return abiCache;
}

export interface NetworkRules {
  allowConnectPorts?: number[];
  allowBindPorts?: number[];
}

export interface LandlockRules {
  /** Directories or files granted every right (minus device creation, and FIFOs outside `fifoDirs`). */
  readWrite: string[];
  /**
   * Read-write grants where FIFOs may be made (or moved) too: the client's own
   * TMPDIR. Nowhere else: a FIFO in a directory others use is a trap for the
   * next one to open it there (another client's tool or program, ripgrep
   * reading a .gitignore), as that open waits for a writer.
   */
  fifoDirs?: string[];
  /**
   * Whether `fifoDirs` may also be renamed and linked across (REFER): only
   * where each is a mount of its own (the private temp view), so nothing
   * moves from one into another grant. Elsewhere a directory holding FIFOs
   * could be moved from there into the workspace whole, FIFOs and all, since
   * Landlock lets a hierarchy move where it gains no rights. Without REFER a
   * rename out of them (or across their own directories) fails with EXDEV, as
   * across filesystems, and `mv` copies instead, which makes no FIFO.
   */
  fifoDirsOwnMounts?: boolean;
  /** Granted execute, read file, read dir. */
  readOnly: string[];
  /**
   * Where each read-only grant led when the server started (its real path): a grant that leads elsewhere when a
   * launcher boots (a directory on its way renamed, a link put in its place by a command that may write there) is
   * refused, not granted wherever it now points — `/`, say; one missing then is not granted.
   */
  readOnlyAt?: Record<string, string>;
  /**
   * The read-write grants that existed when the server started (a private TMPDIR: when its launcher was asked
   * for). One missing when a launcher boots was renamed or removed since, by a command of another server whose
   * workspace holds it, say, perhaps only for that instant: the launcher refuses to boot (the next call starts
   * another) rather than come up without it, its client's calls failing until it is retired.
   */
  presentAtStart?: string[];
  /** 'all' leaves TCP unrestricted; otherwise only the listed ports. */
  network: NetworkRules | 'all';
}

/**
 * Throws UnreachableGrantError when the read-write grant `path` (a real
 * path, as the server resolved it) no longer leads to itself: the descriptor
 * opened by that name is asked where it is. A client's command may rename a
 * directory above another grant (the workspace inside an allowed path) and
 * put a link to anywhere in its place; followed, a launcher would grant
 * that. A directory re-made at the same place (a fresh clone) still counts.
 * No check without /proc.
 */
export function checkInPlace(path: string, fd: number): void {
  if (!hasProcFd()) return;
  // A descriptor /proc cannot name (a path past PATH_MAX) counts as elsewhere.
  const where = whereOpen(fd) ?? 'a place /proc cannot name';
  if (where !== path) {
    throw ledElsewhere(path, where, path);
  }
}

export interface RestrictReport {
  abi: number;
  /** TCP bind/connect restricted as asked (false: ABI < 4 cannot). */
  networkEnforced: boolean;
  /** Signals and abstract unix sockets scoped to the sandbox (ABI 6+). */
  scoped: boolean;
  /** Paths skipped because they do not exist. */
  skipped: string[];
}

/**
 * Restricts the calling thread and every process it starts afterwards to the
 * given rules, and sets no_new_privs. Irreversible. Throws when the kernel has
 * no Landlock or any step fails, naming the step and errno.
 *
 * @example
 * restrictSelf({ readWrite: ['/srv/ws'], readOnly: ['/usr', '/etc'], network: {} });
 */
export function restrictSelf(rules: LandlockRules): RestrictReport {
  const abi = landlockAbi();
  if (abi < 1) throw new Error('Landlock is not available on this kernel');
  const c = libc();

  const handledFs = fsRightsForAbi(abi);
  const restrictNet = rules.network !== 'all' && abi >= 4;
  const handledNet = restrictNet ? NET_BIND_TCP | NET_CONNECT_TCP : 0n;
  const scoped = abi >= 6 ? SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL : 0n;

  // struct landlock_ruleset_attr grew per ABI; pass only the size it knows so
  // older kernels do not reject unknown trailing fields.
  const attr = new BigUint64Array([handledFs, handledNet, scoped]);
  const attrSize = abi >= 6 ? 24 : abi >= 4 ? 16 : 8;
  const rulesetFd = check(c.syscall(SYS_landlock_create_ruleset, ptr(attr), attrSize, 0, 0, 0), 'landlock_create_ruleset');

  const skipped: string[] = [];
  const readOnlyPlaces = Object.values(rules.readOnlyAt ?? {});
  try {
    for (const path of rules.readOnly) {
      // Missing when the server started: whatever is there now was put there since, perhaps by a command.
      const ledTo = rules.readOnlyAt === undefined ? undefined : (rules.readOnlyAt[path] ?? null);
      if (ledTo === null || !addPathRule(rulesetFd, path, READ_ONLY & handledFs, false, ledTo, readOnlyPlaces)) skipped.push(path);
    }
    const fifoDirs = new Set(rules.fifoDirs ?? []);
    for (const path of rules.readWrite) {
      const rights = !fifoDirs.has(path)
        ? readWriteRights(handledFs) & ~Fs.MAKE_FIFO
        : rules.fifoDirsOwnMounts === true
          ? readWriteRights(handledFs)
          : readWriteRights(handledFs) & ~Fs.REFER;
      if (addPathRule(rulesetFd, path, rights, true)) continue;
      if (rules.presentAtStart?.includes(path)) throw goneGrant(path);
      skipped.push(path);
    }
    if (restrictNet && rules.network !== 'all') {
      for (const port of rules.network.allowConnectPorts ?? []) addPortRule(rulesetFd, port, NET_CONNECT_TCP);
      for (const port of rules.network.allowBindPorts ?? []) addPortRule(rulesetFd, port, NET_BIND_TCP);
    }
    check(c.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 'prctl(PR_SET_NO_NEW_PRIVS)');
    // From ABI 7 the kernel logs denials to the host's audit log; a command may make a domain of its own and be denied
    // in a loop, which would flood that log: denials in domains nested under this one are not logged.
    check(c.syscall(SYS_landlock_restrict_self, rulesetFd, abi >= 7 ? RESTRICT_SELF_LOG_SUBDOMAINS_OFF : 0, 0, 0, 0), 'landlock_restrict_self');
  } finally {
    c.close(rulesetFd);
  }
  return { abi, networkEnforced: rules.network === 'all' || restrictNet, scoped: scoped !== 0n, skipped };
}

/**
 * A path to grant that the caller cannot look at (a directory on the way it
 * may not search, once its capabilities are dropped): the configuration's
 * doing, which says nothing about what the kernel supports.
 */
export class UnreachableGrantError extends Error {}

/** Whether an open by name failed because nothing is there (a directory on the way gone or made a file). */
export function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * A grant that leads elsewhere than when the server started: it, or a directory on its path, was replaced (by a link
 * a command put there, say). A restart would grant where it leads then, which is not always what an operator means.
 */
export function ledElsewhere(path: string, where: string, ledTo: string): UnreachableGrantError {
  const was = ledTo === path ? '' : `, not to ${ledTo} as when the server started`;
  return new UnreachableGrantError(
    `cannot grant ${path}: it now leads to ${where}${was} (it, or a directory on its path, was replaced since the server started); put it back — a restart would grant where it leads now`,
  );
}

/**
 * Whether a read-only grant that leads elsewhere than at the start is a link an administrator repointed within the
 * system's read-only trees (/etc/localtime to another zone under /usr): one that was a link then too (it led
 * elsewhere than its own name), now leading within where another read-only grant led then. Readable through that
 * grant already, it needs no rule of its own and gets none. A grant that was no link at the start is not let off: a
 * directory swapped for a link, even into /usr, is a command's doing, and a launcher booted then would lack it.
 */
export function repointedWithin(path: string, ledTo: string, where: string, readOnlyPlaces: readonly string[]): boolean {
  return ledTo !== path && readOnlyPlaces.some((place) => place !== ledTo && isWithin(place, where));
}

/** A read-write grant that existed when the server started and is not there now. */
export function goneGrant(path: string): UnreachableGrantError {
  return new UnreachableGrantError(`cannot grant ${path}: it is gone (renamed or removed since the server started); put it back, or restart the server`);
}

/**
 * Adds a path-beneath rule; false when the path does not exist. `inPlace`: it must lead to itself (a read-write
 * grant); `ledTo`: it must lead where it led when the server started (a read-only grant), or be a link repointed
 * within `readOnlyPlaces` (repointedWithin).
 */
function addPathRule(rulesetFd: number, path: string, rights: bigint, inPlace = false, ledTo?: string, readOnlyPlaces: readonly string[] = []): boolean {
  // Opened first and asked what it is: a name looked at and then opened can be renamed away, or made a file, in
  // between (a command of another server whose workspace holds this path), which is no word on the kernel.
  let fd: number;
  try {
    fd = openSync(path, O_PATH | O_CLOEXEC);
  } catch (err) {
    if (isMissing(err)) return false;
    throw new UnreachableGrantError(`cannot grant ${path}: ${(err as Error).message}`);
  }
  const c = libc();
  try {
    const isDir = fstatSync(fd).isDirectory();
    // What the rule is added for is the inode opened: a read-write grant's must still be where the server found it.
    if (inPlace) checkInPlace(path, fd);
    else if (ledTo !== undefined && hasProcFd()) {
      const where = whereOpen(fd) ?? 'a place /proc cannot name';
      if (where !== ledTo) {
        if (repointedWithin(path, ledTo, where, readOnlyPlaces)) return true;
        throw ledElsewhere(path, where, ledTo);
      }
    }
    // struct landlock_path_beneath_attr is packed: u64 allowed_access, s32 parent_fd.
    const buf = new ArrayBuffer(12);
    const view = new DataView(buf);
    view.setBigUint64(0, isDir ? rights : rights & FILE_RIGHTS, true);
    view.setInt32(8, fd, true);
    check(c.syscall(SYS_landlock_add_rule, rulesetFd, LANDLOCK_RULE_PATH_BENEATH, ptr(buf), 0, 0), `landlock_add_rule(${path})`);
  } finally {
    closeSync(fd);
  }
  return true;
}

function addPortRule(rulesetFd: number, port: number, right: bigint): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid TCP port ${port}`);
  // struct landlock_net_port_attr: u64 allowed_access, u64 port.
  const attr = new BigUint64Array([right, BigInt(port)]);
  check(libc().syscall(SYS_landlock_add_rule, rulesetFd, LANDLOCK_RULE_NET_PORT, ptr(attr), 0, 0), `landlock_add_rule(port ${port})`);
}

export { SyscallError };
