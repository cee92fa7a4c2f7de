/**
 * Read-only mounts outside the read-write grants, in the launcher's private
 * mount namespace (root only). Landlock governs what a command reads and
 * writes, not a file's mode, owner-held times, extended attributes (POSIX
 * ACLs among them) or inode flags; and a root server's commands, though
 * they hold no capability, are uid 0, the owner of most of the host's files
 * (`chmod 666 /etc/shadow` needs no capability). A read-only mount refuses
 * all of those with EROFS. So every mount of the namespace is made
 * read-only, and each read-write grant is bound over itself and made
 * writable again where it was writable before; the host and the server see
 * their mounts unchanged.
 */
import { ptr } from 'bun:ffi';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { check, cString, libc } from '../util/libc.ts';
import { O_CLOEXEC, O_PATH } from '../workspace/open.ts';
import { checkInPlace, goneGrant, isMissing, UnreachableGrantError } from './landlock.ts';
import { detach } from './mounts.ts';
import { refusal } from './namespaces.ts';

/** The same numbers on x86_64 and aarch64 (Linux 5.2; mount_setattr 5.12). */
const SYS_open_tree = 428;
const SYS_move_mount = 429;
const SYS_mount_setattr = 442;
const AT_FDCWD = -100;
const AT_EMPTY_PATH = 0x1000;
const AT_RECURSIVE = 0x8000;
const OPEN_TREE_CLONE = 1;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH = 0x40;
const EMPTY = cString('');
const MOUNT_ATTR_RDONLY = 1n;
/** sizeof(struct mount_attr): attr_set, attr_clr, propagation, userns_fd, each a u64. */
const MOUNT_ATTR_SIZE = 32;

/** mount_setattr(2) on the mount at `path`: sets or clears its read-only flag, and its submounts' with `recursive`. */
function setReadOnly(path: string, readOnly: boolean, recursive: boolean): void {
  const attr = new BigUint64Array([readOnly ? MOUNT_ATTR_RDONLY : 0n, readOnly ? 0n : MOUNT_ATTR_RDONLY, 0n, 0n]);
  const p = cString(path);
  check(
    libc().syscall(SYS_mount_setattr, AT_FDCWD, Number(ptr(p)), recursive ? AT_RECURSIVE : 0, Number(ptr(attr)), MOUNT_ATTR_SIZE),
    `mount_setattr(${path}, ${readOnly ? 'MOUNT_ATTR_RDONLY' : 'clear MOUNT_ATTR_RDONLY'})`,
  );
}

interface Mount {
  point: string;
  readOnly: boolean;
}

/** mountinfo escapes space, tab, newline and backslash in paths as octal. */
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/** The calling thread's mounts, in mount order (a later one at the same point covers an earlier one). */
function mountsOfThisThread(): Mount[] {
  const out: Mount[] = [];
  for (const line of readFileSync('/proc/thread-self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length < 6) continue;
    out.push({ point: unescape(f[4]!), readOnly: f[5]!.split(',').includes('ro') });
  }
  return out;
}


/** Whether each mount point's mount in view is read-only: the last mount listed at a point covers the others. */
function inViewOf(before: readonly Mount[]): Map<string, boolean> {
  const inView = new Map<string, boolean>();
  for (const m of before) inView.set(m.point, m.readOnly);
  return inView;
}

/**
 * How the kernel refuses this: too old for open_tree or mount_setattr
 * (ENOSYS, before 5.2 and 5.12), or a policy over mount (EACCES, EPERM).
 */
const READ_ONLY_REFUSED = new Set(['ENOSYS', 'EACCES', 'EPERM']);

/**
 * Makes every mount of the calling thread's (private) mount namespace
 * read-only but the read-write grants that exist (devices are left alone:
 * writing a device needs no writable mount). Returns null when done, or
 * the refusal; throws for any other failure. Either way a view left half
 * made is put back as it was, so no grant stays read-only.
 *
 * Each grant is opened once and asked where it is; from then on only that
 * descriptor is used, never the name: a command of another server whose
 * grants hold this one's can swap it for a link to `/` at any instant, and a
 * bind made by name would then put the host's root, writable, in the grant's
 * place. Each grant's mounts are copied (open_tree) before anything is made
 * read-only, so each copy is writable exactly where its original was, and
 * attached over the grant's own directory once the rest is read-only.
 */
export function readOnlyOutside(readWrite: readonly string[], presentAtStart: readonly string[] = []): string | null {
  const before = mountsOfThisThread();
  const grants = new Map<string, number>();
  const trees: number[] = [];
  const attached: number[] = [];
  let changed = false;
  let done = false;
  try {
    for (const grant of readWrite) {
      if (grants.has(grant)) continue;
      const fd = openGrant(grant, presentAtStart);
      if (fd !== null) grants.set(grant, fd);
    }
    const refused = refusal(() => {
      for (const fd of grants.values()) trees.push(check(libc().syscall(SYS_open_tree, fd, Number(ptr(EMPTY)), OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE, 0, 0), 'open_tree'));
      setReadOnly('/', true, true);
      changed = true;
      let i = 0;
      for (const [grant, fd] of grants) {
        const tree = trees[i++]!;
        check(
          libc().syscall(SYS_move_mount, tree, Number(ptr(EMPTY)), fd, Number(ptr(EMPTY)), MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
          `move_mount(a copy of ${grant} over it)`,
        );
        attached.push(tree);
      }
    }, READ_ONLY_REFUSED);
    done = refused === null;
    return refused;
  } finally {
    if (changed && !done) putBack(before, attached);
    for (const fd of [...grants.values(), ...trees]) closeSync(fd);
  }
}

/**
 * An O_PATH descriptor of the grant, checked to lead to itself; null for a
 * device node (no bind needed) or a path missing since before the start.
 */
function openGrant(grant: string, presentAtStart: readonly string[]): number | null {
  let fd: number;
  try {
    fd = openSync(grant, O_PATH | O_CLOEXEC);
  } catch (err) {
    if (!isMissing(err)) throw new UnreachableGrantError(`cannot grant ${grant}: ${(err as Error).message}`);
    // Gone since the server started (renamed away this instant, perhaps): left out, it would stay read-only here.
    if (presentAtStart.includes(grant)) throw goneGrant(grant);
    return null;
  }
  try {
    // A device needs no writable mount, wherever its name leads (/dev/ptmx is a link into /dev/pts in containers).
    const st = fstatSync(fd);
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      closeSync(fd);
      return null;
    }
    checkInPlace(grant, fd);
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Detaches the copies attached (through their descriptors, not the grants' names) and makes writable again each mount that was. Best effort. */
function putBack(before: readonly Mount[], attached: readonly number[]): void {
  for (const tree of [...attached].reverse()) detach(`/proc/self/fd/${tree}`);
  for (const [point, readOnly] of inViewOf(before)) {
    if (readOnly) continue;
    try {
      setReadOnly(point, false, false);
    } catch {
      // A mount that cannot be reached by its path is out of every command's reach too.
    }
  }
}
