/**
 * The one way file tools change a file: write a new file in the target's
 * directory (with no name until it is complete, where the file system can),
 * fsync it, name it next to the target, then rename it over the target (or
 * link it, for create-only). A reader — or a crash — sees the old file or the new one,
 * never a mix. Every step goes through an open descriptor of the parent
 * directory (`/proc/self/fd/N/name`, Linux's openat by another name), and
 * that directory is confined again right before the rename, so a parent
 * swapped for a symlink or moved out after the checks cannot redirect the
 * write outside the workspace.
 */
import { randomBytes } from '../util/random.ts';
import { nameUnnamed, openUnnamed } from '../util/unnamed-file.ts';
import { carriedXattrs, setXattrs, TooManyXattrsError } from '../util/xattrs.ts';
import { KeyedLock } from '../util/keyed-lock.ts';
import { constants, type Stats } from 'node:fs';
import { type FileHandle, link, lstat, mkdir, open, realpath, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Confiner, PathRefusedError } from './confine.ts';
import { describeType, hardLinkRefusal, O_PATH, type OpenedDir, openDirectory, openLastRegular, stillInside } from './open.ts';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;

/** A file as it was read, to detect a change before replacing it. */
export interface FileVersion {
  ino: number;
  size: number;
  mtimeMs: number;
  /**
   * The bytes the new content was computed from: right before the rename the
   * target must still hold exactly these. Inode, size and mtime alone miss a
   * same-size rewrite in place whose writer set the mtime back (touch -d).
   */
  bytes: Uint8Array;
}

export interface WriteOptions {
  /** Fail if the target exists (exclusive create). */
  createOnly?: boolean;
  /** Fail unless the target is still this version (read-modify-write callers). */
  expect?: FileVersion;
  /** Runs after all checks, right before the commit; tests use it to change paths in that window. */
  beforeCommit?: () => Promise<void> | void;
  /** Runs right before the replaced file's attributes are read; tests use it to swap the file in that window. */
  beforeAttributes?: () => Promise<void> | void;
}

export interface WriteResult {
  /** Real path of the written file. */
  real: string;
  /** Whether the file did not exist before. */
  created: boolean;
}

/** Temp names start with a dot so listings and searches skip them; a crash between naming and renaming can leave one behind. */
export const TEMP_PREFIX = '.hide-write-';

/** Per file (its directory's device and inode, and its name): the last look and the commit of one write at a time. */
const commits = new KeyedLock();

function tempName(): string {
  return `${TEMP_PREFIX}${randomBytes(8).toString('hex')}.tmp`;
}

/** The target's current state, refusing anything a write must not replace. */
async function inspectTarget(path: string, input: string, createOnly: boolean) {
  const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (st === null) return null;
  if (st.isSymbolicLink()) {
    throw new PathRefusedError(`path '${input}' is a symlink; writes never follow a symlink at the last component`, input, 'symlink');
  }
  if (!st.isFile()) throw new PathRefusedError(`path '${input}' is ${describeType(st)}; only regular files can be written`, input, 'type');
  // Before the link count: a create-only writer's commit briefly gives the file two links.
  if (createOnly) throw new PathRefusedError(`path '${input}' already exists (createOnly)`, input, 'exists');
  if (st.nlink > 1) throw hardLinkRefusal(input);
  return st;
}

/**
 * Opens the parent directory, creating missing ones one level at a time, each
 * through the open descriptor of the level above: a directory swapped for a
 * symlink mid-way is refused by the no-follow open instead of being followed
 * to create directories outside.
 */
async function openParent(confiner: Confiner, input: string, abs: string): Promise<OpenedDir> {
  const missing: string[] = [];
  let cur = dirname(abs);
  let real: string;
  for (;;) {
    try {
      real = await realpath(cur);
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const up = dirname(cur);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || up === cur) throw new PathRefusedError(`path '${input}' cannot be resolved (${code ?? 'error'})`, input);
      missing.unshift(basename(cur));
      cur = up;
    }
  }
  if (!confiner.contains(real)) throw confiner.outside(input);
  let dir = await openDirectory(confiner, input, real);
  for (const segment of missing) {
    const next = join(dir.path, segment);
    try {
      // EEXIST: another writer created it first; the no-follow open below checks what is there.
      await mkdir(next).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      const child = await openDirectory(confiner, input, next);
      await dir.handle.close();
      dir = child;
    } catch (err) {
      await dir.handle.close();
      if (err instanceof PathRefusedError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new PathRefusedError(`cannot create the parent directories of '${input}' (${code ?? 'error'})`, input, code === 'ENOTDIR' ? 'type' : 'invalid');
    }
  }
  return dir;
}

/**
 * Writes `data` to the confined path `input` atomically.
 * @example await writeAtomic(confiner, 'src/a.ts', new TextEncoder().encode('x'), { createOnly: true })
 */
export async function writeAtomic(confiner: Confiner, input: string, data: Uint8Array, opts: WriteOptions = {}): Promise<WriteResult> {
  const abs = confiner.checkInput(input);
  const name = basename(abs);
  // The kernel reads `x/`, `x/.` and `x/y/..` as directories: `resolve` would turn them into a file named x.
  if (abs === confiner.workspace || name === '' || /(^|\/)\.{0,2}$/.test(input)) {
    throw new PathRefusedError(`path '${input}' does not name a file`, input, 'type');
  }
  // Where the parent leads, dangling links followed: a link to a place outside is outside whether or not that place
  // exists, so the refusal tells nothing of what is there (the nearest existing parent alone stops short of a dangling
  // link). A link as the last component is refused as such, wherever it points.
  if (!confiner.contains(join(await confiner.locate(dirname(abs), input), name))) throw confiner.outside(input);
  // The parent is confined; the name may still be one of the server's own files.
  if (!confiner.contains(join(await confiner.resolveNearestParent(dirname(abs)), name))) throw confiner.outside(input);
  const dir = await openParent(confiner, input, abs);
  let temp: string | null = null;
  try {
    // Again where the parent really is: a component swapped for a symlink since the look above can
    // make the open land in another confined directory, the one holding the keys file, say.
    if (!confiner.contains(join(dir.real, name))) throw confiner.outside(input);
    const target = join(dir.path, name);
    const before = await inspectTarget(target, input, opts.createOnly ?? false);
    checkVersion(before, opts.expect, input);

    // Permission bits only: never set-uid, set-gid or sticky. A command running
    // as root can leave a set-uid-root file in the workspace; if write_file or
    // edit_file kept the bit, whatever they wrote next would run as root for
    // any local user who can reach the file.
    const mode = before ? before.mode & 0o0777 : 0o644;
    // The file whose owner, mode and attributes the replacement carries (or the new file, when none was there): at
    // the commit what holds the name must not have other ones (a chmod 600 made meanwhile would be undone).
    let source: Carried | null = null;
    // Made with no name, and named only once it has the owner, mode and attributes it keeps and its content: under a
    // name from the start it was the server's (uid 0) until then, and a command on a root server (uid 0 too) could
    // open it in that moment and read through that open what was written after. Named from the start only where the
    // file system cannot make a file with no name.
    let fh = await openUnnamed(dir.path, mode);
    const unnamed = fh !== null;
    if (fh === null) {
      temp = join(dir.path, tempName());
      fh = await open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    }
    try {
      if (before) {
        await opts.beforeAttributes?.();
        // Owner, mode and attributes all from one file: the one pinned now, which must be the one read when the write
        // is of a version read (an edit); a plain write keeps those of whichever file holds the name now.
        const kept = await keptFrom(target, before, opts.expect !== undefined, input);
        source = kept ?? { stats: before, xattrs: new Map() };
        await keepOwner(fh, source.stats);
        // open() applies the umask; an existing file keeps its exact permissions. After the chown, which may clear bits.
        await fh.chmod(source.stats.mode & 0o0777);
        // Its ACL and user attributes too, after the mode: an ACL sets the group bits to its mask. Exactly its: an access
        // ACL the directory's default ACL gave the new file (a command may have set one there) goes.
        carryXattrs(fh.fd, source.xattrs, input);
      } else {
        // A new file: what it has is what a file someone makes in its place meanwhile must have for it to be replaced.
        source = { stats: await fh.stat(), xattrs: readCarried(`/proc/self/fd/${fh.fd}`, input) };
      }
      await fh.writeFile(data);
      await fh.sync();
      if (unnamed) {
        temp = join(dir.path, tempName());
        nameUnnamed(fh.fd, temp);
      }
    } finally {
      await fh.close();
    }

    await opts.beforeCommit?.();
    const written = temp!;
    // The last look and the commit hold the file's lock: two of this server's writes of one file, each looking while
    // the other had looked and not yet committed, would each replace the file, the second without the first's change.
    // Keyed by the directory itself, not its path: one moved between two writers' opens is still one directory.
    const { dev, ino } = await dir.handle.stat();
    const committed = await commits.run(`${dev}:${ino}/${name}`, async () => {
      // Last look before the commit: the directory may have moved, the target may have changed.
      const where = await stillInside(confiner, dir, input);
      if (!confiner.contains(join(where, name))) throw confiner.outside(input);
      const now = await inspectTarget(target, input, opts.createOnly ?? false);
      if (opts.expect) {
        checkVersion(now, opts.expect, input);
        if (!(await stillHolds(target, opts.expect, input))) throw changedRefusal(input);
      }
      // After the content checks, which name a rewrite for what it is.
      if (source !== null && now !== null && (await attributesChanged(target, source, now, input))) {
        throw new PathRefusedError(`path '${input}' had its mode, owner or ACL changed while it was being written; not written, so that change stands: retry`, input, 'changed');
      }
      if (opts.createOnly) {
        try {
          await link(written, target);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new PathRefusedError(`path '${input}' already exists (createOnly)`, input, 'exists');
          throw err;
        }
        await unlink(written);
      } else {
        await rename(written, target);
      }
      return { where, now };
    });
    temp = null;
    // The rename is durable only once the directory entry is on disk.
    await dir.handle.sync().catch(() => {});
    // The last look decides: another writer may have made or removed the file since the first.
    return { real: join(committed.where, name), created: committed.now === null };
  } finally {
    if (temp !== null) await unlink(temp).catch(() => {});
    await dir.handle.close();
  }
}

/**
 * The file a replacement keeps the owner, mode, ACL and user attributes of:
 * pinned with O_PATH and read through its descriptor, so all come from one
 * inode. Read by name, a command swapping its own file with a wide ACL into
 * the name for a moment gave the replacement of a 0600 file it could not
 * read its ACL, and so mode 0666. With `strict` (the write is of a version
 * read) it must be the inode looked at, else the write is refused as
 * changed; otherwise whichever regular file holds the name now, or null
 * when none does (the commit judges what is there).
 */
async function keptFrom(target: string, before: Stats, strict: boolean, input: string): Promise<Carried | null> {
  let pinned: FileHandle;
  try {
    pinned = await open(target, O_PATH | O_NOFOLLOW);
  } catch (err) {
    if (!['ENOENT', 'ELOOP'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    if (strict) throw changedRefusal(input);
    return null;
  }
  try {
    const st = await pinned.stat();
    const same = st.dev === before.dev && st.ino === before.ino;
    if (strict && !same) throw changedRefusal(input);
    // A link, a directory or a hard-linked file now: nothing of it is kept; the commit refuses or replaces it.
    if (!st.isFile() || st.nlink > 1) return null;
    return { stats: st, xattrs: readCarried(`/proc/self/fd/${pinned.fd}`, input) };
  } finally {
    await pinned.close();
  }
}

/** The attributes a replacement carries of the file at `path` (a `/proc/self/fd/N`); more than it takes refuses the write. */
function readCarried(path: string, input: string): Map<string, Buffer> {
  try {
    return carriedXattrs(path);
  } catch (err) {
    throw xattrRefusal(err, input);
  }
}

/** Sets the kept attributes on the replacement; where it cannot, the write is refused: without its ACL the file would give its owning group what the ACL denied. */
function carryXattrs(fd: number, xattrs: Map<string, Buffer>, input: string): void {
  try {
    setXattrs(fd, xattrs);
  } catch (err) {
    throw xattrRefusal(err, input);
  }
}

function xattrRefusal(err: unknown, input: string): PathRefusedError {
  const why = err instanceof TooManyXattrsError ? err.message : `${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  return new PathRefusedError(`cannot keep the extended attributes (ACL) of '${input}': ${why}; not written`, input, 'invalid');
}

/**
 * The replacement keeps the old file's owner and group. A server running as
 * root would otherwise hand every file it edits to root: a user's 0600 file
 * became one its owner can no longer read. Where the server may not give a
 * file away (not root), it keeps what it may: the group, if it is in it.
 */
async function keepOwner(fh: FileHandle, before: Stats): Promise<void> {
  if (before.uid === process.getuid?.() && before.gid === process.getgid?.()) return;
  const refused = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPERM' && err.code !== 'EINVAL') throw err;
    return false;
  };
  if ((await fh.chown(before.uid, before.gid).then(() => true, refused)) || before.gid === process.getgid?.()) return;
  await fh.chown(-1, before.gid).catch(refused);
}

function changedRefusal(input: string): PathRefusedError {
  return new PathRefusedError(`path '${input}' changed while it was being edited; read it again and retry`, input, 'changed');
}

/**
 * Whether what holds the name now has other attributes than those the replacement carries (or, for a new file,
 * than it was made with): another owner, mode, access ACL or user attribute — of the same file (`chmod 600`,
 * `setfacl` in the window), or of one moved or made in its place (`install -m 600`, an editor's save, a file
 * created at 0600 while a new one was written). Compared as they are, not by the status-change time, which also
 * moves on an access-time update or a new hard link and changes nothing kept.
 */
async function attributesChanged(target: string, kept: Carried, now: Stats, input: string): Promise<boolean> {
  if (kept.stats.mode !== now.mode || kept.stats.uid !== now.uid || kept.stats.gid !== now.gid) return true;
  let pinned: FileHandle;
  try {
    pinned = await open(target, O_PATH | O_NOFOLLOW);
  } catch (err) {
    if (['ENOENT', 'ELOOP'].includes((err as NodeJS.ErrnoException).code ?? '')) return true;
    throw err;
  }
  try {
    // Read through the descriptor of the very file the owner and mode were taken from; another in its place since is a change too.
    const st = await pinned.stat();
    if (st.dev !== now.dev || st.ino !== now.ino) return true;
    return !sameXattrs(kept.xattrs, readCarried(`/proc/self/fd/${pinned.fd}`, input));
  } finally {
    await pinned.close();
  }
}

/** The owner and mode (in `stats`) and the extended attributes a replacement carries. */
interface Carried {
  stats: Stats;
  xattrs: Map<string, Buffer>;
}

function sameXattrs(a: ReadonlyMap<string, Buffer>, b: ReadonlyMap<string, Buffer>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, value] of a) {
    const other = b.get(name);
    if (other === undefined || !other.equals(value)) return false;
  }
  return true;
}

function checkVersion(st: { ino: number; size: number; mtimeMs: number } | null, expect: FileVersion | undefined, input: string): void {
  if (!expect) return;
  if (!st || st.ino !== expect.ino || st.size !== expect.size || st.mtimeMs !== expect.mtimeMs) throw changedRefusal(input);
}

/** Bytes compared per read: the comparison holds one chunk, not a second copy of the file. */
const COMPARE_CHUNK = 64 * 1024;

/**
 * Whether the target, opened without following a symlink and only as a
 * regular file, is still the inode that was read and holds exactly the bytes
 * read from it. Reads no more than those bytes and one more (so no more than
 * the size limit the caller read them under).
 */
async function stillHolds(target: string, expect: FileVersion, input: string): Promise<boolean> {
  let fh: FileHandle;
  try {
    fh = await openLastRegular(target, O_RDONLY, input);
  } catch {
    return false;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.ino !== expect.ino || st.size !== expect.bytes.length) return false;
    const buf = Buffer.allocUnsafe(Math.min(COMPARE_CHUNK, expect.bytes.length + 1));
    for (let pos = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, expect.bytes.length + 1 - pos), pos);
      if (bytesRead === 0) return pos === expect.bytes.length;
      if (pos + bytesRead > expect.bytes.length || buf.compare(expect.bytes, pos, pos + bytesRead, 0, bytesRead) !== 0) return false;
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
}
