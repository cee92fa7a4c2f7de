/**
 * The temp directory as the launcher's commands see it (root only): every
 * client's private TMPDIR lies in the same system temp directory, and Landlock
 * does not govern connect() on a pathname Unix socket, so a command that
 * found another client's socket there (it is listed in /proc/net/unix) could
 * connect to it — an ssh-agent, or a listener that hands out descriptors. In
 * the launcher's private mount namespace an empty tmpfs goes over the temp
 * directory and only this client's own TMPDIR, and the granted paths that lie
 * in it (a workspace under /tmp), are bound back at the same paths: other
 * clients' directories and sockets do not exist in this view. The host, and
 * the server that removes the real TMPDIR, see the temp directory unchanged.
 * Must run after the namespace is made private (private-proc.ts) and before
 * Landlock, which forbids mounting.
 */
import { closeSync, fstatSync, mkdirSync, openSync, realpathSync } from 'node:fs';
import { dirname, sep } from 'node:path';
import { hasProcFd, O_CLOEXEC, O_PATH, whereOpen } from '../workspace/open.ts';
import { goneGrant, ledElsewhere, repointedWithin, UnreachableGrantError } from './landlock.ts';
import { detach, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT, tryMount } from './mounts.ts';

/** The tmpfs holds nothing but the directories the bind mounts need. */
const TMPFS_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC;
const TMPFS_OPTIONS = 'mode=0755,size=64k,nr_inodes=1024';

/** `path` strictly below `dir`, compared by path segments. */
function isBelow(path: string, dir: string): boolean {
  return path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

function realpathOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

/**
 * What must stay visible in the temp directory `parent`: the real paths of
 * `tmpDir` and of the granted paths that lie in it, outermost only (a bind
 * of a directory carries what is below it). Null when a granted path is the
 * temp directory itself or holds it: hiding it would take away what the rules
 * grant, and those rules already open every client's TMPDIR. `ledTo` says
 * where each grant led when the server started (given, a grant not in it is
 * left out); one that is gone or leads elsewhere now throws UnreachableGrantError
 * (but a system link repointed within `readOnlyPlaces`, left to those grants) — a command may have swapped it
 * for a link to `/` this instant, which would take the view away or, pinned,
 * bind the host's root in the grant's place.
 */
export function pathsToKeep(
  parent: string,
  tmpDir: string,
  granted: readonly string[],
  ledTo?: Readonly<Record<string, string>>,
  readOnlyPlaces: readonly string[] = [],
): string[] | null {
  const keep: string[] = [];
  for (const path of [tmpDir, ...granted]) {
    const expected = ledTo !== undefined && Object.hasOwn(ledTo, path) ? ledTo[path] : undefined;
    // A grant with no place of its own at the start (a read-only path missing then) is not granted: followed here, a
    // link a command put there since would bind what it likes into the view, another client's TMPDIR say, or take it away.
    if (ledTo !== undefined && expected === undefined && path !== tmpDir) continue;
    const real = realpathOrNull(path);
    if (expected !== undefined && real !== expected) {
      // A system link repointed within the read-only trees (/etc/localtime to another zone): those grants show it.
      if (real !== null && repointedWithin(path, expected, real, readOnlyPlaces)) continue;
      throw real === null ? goneGrant(path) : ledElsewhere(path, real, expected);
    }
    if (real === null) continue; // Landlock skips a missing path too
    if (real === parent || isBelow(parent, real)) return null;
    if (isBelow(real, parent)) keep.push(real);
  }
  keep.sort((a, b) => a.length - b.length);
  return keep.filter((path, i) => !keep.slice(0, i).some((outer) => outer === path || isBelow(path, outer)));
}

/**
 * Hides every other client's private TMPDIR from the calling thread's mount
 * namespace (private already). Returns null when only `tmpDir` and the
 * granted paths in its parent remain there, or when the view is not made
 * because the rules grant the whole temp directory (those rules open every
 * client's TMPDIR anyway, `shown` false); else why the kernel refused a mount
 * (the view is then put back as it was). Throws UnreachableGrantError when a
 * path to keep in the view is gone between being looked up and pinned: it was
 * renamed away at that instant (a command of a server whose grants hold it),
 * and a launcher booted then would show its commands the whole temp directory.
 */
export function showOnlyOwnTmp(
  tmpDir: string,
  granted: readonly string[],
  ledTo: Readonly<Record<string, string>>,
  readOnlyPlaces: readonly string[],
): { shown: boolean; refused: string | null } {
  const parent = realpathOrNull(dirname(tmpDir));
  if (parent === null || parent === sep) return { shown: false, refused: null };
  const keep = pathsToKeep(parent, tmpDir, granted, ledTo, readOnlyPlaces);
  if (keep === null) return { shown: false, refused: null };
  // Pinned before the tmpfs hides them, then bound back from the pinned descriptors.
  const pinned = new Map<string, number>();
  let mounted = false;
  try {
    for (const path of keep) pinned.set(path, pin(path));
    mounted = tryMount('tmpfs', parent, 'tmpfs', TMPFS_FLAGS, TMPFS_OPTIONS);
    if (!mounted) return { shown: false, refused: `mount(tmpfs on ${parent}) failed` };
    for (const [path, fd] of pinned) if (!bindBack(path, fd)) return { shown: false, refused: `could not bind ${path} back over the tmpfs` };
    // Nothing but mount points in it: read-only, so nothing can be added beside them.
    tryMount(null, parent, null, MS_REMOUNT | MS_RDONLY | TMPFS_FLAGS);
    mounted = false;
    return { shown: true, refused: null };
  } finally {
    if (mounted) detach(parent);
    for (const fd of pinned.values()) closeSync(fd);
  }
}

/**
 * An O_PATH descriptor of a path to keep in the view (a real path, looked up
 * a moment ago), checked to be there still: bound back in the view by this
 * descriptor, whatever it names is what the grant's path shows its commands.
 */
function pin(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, O_PATH | O_CLOEXEC);
  } catch (err) {
    throw new UnreachableGrantError(`cannot keep ${path} in the private temp directory view: ${(err as Error).message} (renamed or removed while the launcher started)`);
  }
  if (!hasProcFd()) return fd;
  const where = whereOpen(fd);
  if (where === path) return fd;
  closeSync(fd);
  throw new UnreachableGrantError(`cannot keep ${path} in the private temp directory view: it now leads to ${where ?? 'a place /proc cannot name'} (replaced while the launcher started)`);
}

/** Makes `path` in the fresh tmpfs (a directory, or an empty file for a file) and binds the pinned inode onto it. */
function bindBack(path: string, fd: number): boolean {
  try {
    if (fstatSync(fd).isDirectory()) mkdirSync(path, { recursive: true, mode: 0o755 });
    else {
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      closeSync(openSync(path, 'wx', 0o600));
    }
  } catch {
    return false;
  }
  return tryMount(`/proc/self/fd/${fd}`, path, null, MS_BIND | MS_REC);
}
