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
import { readFileSync, statSync } from 'node:fs';
import { check, cString, libc } from '../util/libc.ts';
import { goneGrant } from './landlock.ts';
import { detach, mount, MS_BIND, MS_REC } from './mounts.ts';
import { refusal } from './namespaces.ts';

/** The same number on x86_64 and aarch64 (Linux 5.12). */
const SYS_mount_setattr = 442;
const AT_FDCWD = -100;
const AT_RECURSIVE = 0x8000;
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

const isWithin = (path: string, dir: string): boolean => path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);

/** Whether each mount point's mount in view is read-only: the last mount listed at a point covers the others. */
function inViewOf(before: readonly Mount[]): Map<string, boolean> {
  const inView = new Map<string, boolean>();
  for (const m of before) inView.set(m.point, m.readOnly);
  return inView;
}

/**
 * Where, at and below a grant, to make the new bind writable again: the
 * grant itself when the mount it lay on was writable, and each mount below
 * it that was.
 */
function writableAt(before: readonly Mount[], grant: string): string[] {
  const inView = inViewOf(before);
  let holder = '/';
  for (const point of inView.keys()) if (isWithin(grant, point) && point.length > holder.length) holder = point;
  const out = inView.get(holder) === false ? [grant] : [];
  for (const [point, readOnly] of inView) if (!readOnly && point !== grant && isWithin(point, grant)) out.push(point);
  return out;
}

/**
 * How the kernel refuses this: too old for mount_setattr (ENOSYS, before
 * 5.12), or a policy over mount (EACCES, EPERM).
 */
const READ_ONLY_REFUSED = new Set(['ENOSYS', 'EACCES', 'EPERM']);

/**
 * Makes every mount of the calling thread's (private) mount namespace
 * read-only but the read-write grants that exist (devices are left alone:
 * writing a device needs no writable mount). Returns null when done, or
 * the refusal; throws for any other failure. Either way a view left half
 * made is put back as it was, binds detached, so no grant stays read-only.
 */
export function readOnlyOutside(readWrite: readonly string[], presentAtStart: readonly string[] = []): string | null {
  const before = mountsOfThisThread();
  const grants = readWrite.filter((g) => {
    const st = statSync(g, { throwIfNoEntry: false });
    // Gone since the server started (renamed away this instant, perhaps): left out, it would stay read-only here.
    if (st === undefined && presentAtStart.includes(g)) throw goneGrant(g);
    return st !== undefined && !st.isCharacterDevice() && !st.isBlockDevice();
  });
  const bound: string[] = [];
  let changed = false;
  let done = false;
  try {
    const refused = refusal(() => {
      setReadOnly('/', true, true);
      changed = true;
      for (const grant of grants) {
        mount(grant, grant, null, MS_BIND | MS_REC, null, `mount(${grant}, MS_BIND)`);
        bound.push(grant);
        for (const point of writableAt(before, grant)) setReadOnly(point, false, false);
      }
    }, READ_ONLY_REFUSED);
    done = refused === null;
    return refused;
  } finally {
    if (changed && !done) putBack(before, bound);
  }
}

/** Detaches the binds made (innermost first) and makes writable again each mount that was. Best effort. */
function putBack(before: readonly Mount[], bound: readonly string[]): void {
  for (const grant of [...bound].reverse()) detach(grant);
  for (const [point, readOnly] of inViewOf(before)) {
    if (readOnly) continue;
    try {
      setReadOnly(point, false, false);
    } catch {
      // A mount that cannot be reached by its path is out of every command's reach too.
    }
  }
}
