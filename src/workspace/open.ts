/**
 * Opening confined files and directories so that what is used is what was
 * checked. A path is checked (confine.ts), then opened without following a
 * symlink at its last component, then the open descriptor itself is asked
 * where it lives (`/proc/self/fd/N`) and confined again. A component swapped
 * for a symlink between the check and the open is caught by the second check,
 * because the kernel reports the file that was actually opened.
 */
import { constants, readlinkSync, type Stats, statSync } from 'node:fs';
import { type FileHandle, lstat, open, realpath } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { type Confiner, PathRefusedError } from './confine.ts';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = constants;

let procFd: boolean | null = null;
/** Whether `/proc/self/fd` can name open descriptors (Linux with /proc mounted). */
export function hasProcFd(): boolean {
  if (procFd === null) {
    try {
      procFd = statSync('/proc/self/fd').isDirectory();
    } catch {
      procFd = false;
    }
  }
  return procFd;
}

/** What tells one file from another across opens and renames. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * Where the open descriptor `fd` is, as the kernel names it: a real path
 * opened by its name and answered differently now leads elsewhere (it, or a
 * directory above it, was replaced by a link). Null without /proc.
 */
export function whereOpen(fd: number): string | null {
  if (!hasProcFd()) return null;
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/**
 * Where an open descriptor's file lives now. With /proc this is the kernel's
 * answer for the open inode; without it, the realpath of the path it was
 * opened by (weaker: a swap after the open goes unseen).
 */
export async function descriptorPath(fh: FileHandle, openedAs: string): Promise<string> {
  if (hasProcFd()) return readlinkSync(`/proc/self/fd/${fh.fd}`);
  return realpath(openedAs);
}

/** A path that names the open directory itself, immune to later renames of its path (openat by another name). */
export function descriptorDir(fh: FileHandle, fallback: string): string {
  return hasProcFd() ? `/proc/self/fd/${fh.fd}` : fallback;
}

export function describeType(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device file';
  return 'not a regular file';
}

/**
 * Hard links: a second name for an inode may sit outside the workspace, and
 * nothing on the inode says which name is "the" file. Reads and writes of a
 * regular file with more than one link are refused outright, so a link made
 * to a file outside can neither leak it nor be used to change it.
 */
export function hardLinkRefusal(input: string): PathRefusedError {
  return new PathRefusedError(
    `path '${input}' is a file with more than one hard link; hard-linked files are refused because another link may lie outside the workspace`,
    input,
    'hardlink',
  );
}

async function confirmOpened(confiner: Confiner, fh: FileHandle, openedAs: string, input: string): Promise<string> {
  const where = await descriptorPath(fh, openedAs);
  // Replaced (an edit or a write renamed a new file over it) or removed since it was opened: where it lay is no longer
  // known, and no reason to call it outside; another try opens what is there now.
  // The kernel marks a removed file's name so; a name may also just end so (`notes (deleted)`): no link left tells them apart.
  if (where.endsWith(' (deleted)') && (await fh.stat()).nlink === 0) {
    throw new PathRefusedError(`path '${input}' changed while it was being opened (replaced or removed); try again`, input, 'changed');
  }
  if (!confiner.contains(where)) throw confiner.outside(input);
  return where;
}

/**
 * Opens a confined real path one component at a time from its root, each
 * through the descriptor of the one above and with O_NOFOLLOW, the
 * directories with O_DIRECTORY (refused before any driver is asked): no
 * symlink is followed anywhere on the way. A plain open follows symlinks in
 * every component but the last, so a directory swapped for a link out between
 * the last look and the open made the server open what lies outside — a FIFO
 * whose writer then woke, or a device, where the open alone acts (a watchdog
 * arms, a tape rewinds) before the check of where it landed can refuse it.
 */
async function openBeneath(confiner: Confiner, path: string, flags: number, input: string): Promise<FileHandle> {
  const openLast = (at: string) => ((flags & O_DIRECTORY) === 0 ? openLastRegular(at, flags, input) : open(at, flags | O_NOFOLLOW | O_NONBLOCK));
  // A path that is not under a root already starts at a held descriptor (/proc/self/fd/N/name): only its last component is looked up.
  if (!hasProcFd() || !confiner.contains(path)) return openLast(path);
  const root = confiner.rootOf(path);
  const parts = relative(root, path).split('/').filter((p) => p !== '');
  if (parts.length === 0) return openLast(path);
  let dir = await open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    for (const part of parts.slice(0, -1)) {
      const next = await open(`/proc/self/fd/${dir.fd}/${part}`, O_RDONLY | O_DIRECTORY | O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
        // A directory on the way is now a symlink (or no directory at all): it changed since the path was resolved.
        if (err.code === 'ELOOP' || err.code === 'ENOTDIR') throw new PathRefusedError(`a directory on the path '${input}' changed into a symlink while it was being opened`, input, 'symlink');
        throw err;
      });
      await dir.close();
      dir = next;
    }
    return await openLast(`/proc/self/fd/${dir.fd}/${parts.at(-1)}`);
  } finally {
    await dir.close();
  }
}

/** Linux's O_PATH: a descriptor that names an inode without opening it, so no driver or FIFO sees an open. */
export const O_PATH = 0o10000000;
/** Linux's O_CLOEXEC (node's fs.constants lacks it): a descriptor no program started later inherits. */
export const O_CLOEXEC = 0o2000000;

/**
 * Opens a last component that must be a regular file: first pinned with
 * O_PATH, which opens nothing, then its type checked on the pinned inode,
 * then that very inode opened through /proc/self/fd. The look before the
 * open (openChecked) cannot close the gap alone: a file renamed away and a
 * FIFO renamed into its place between the look and the open made the server
 * open the FIFO, and its waiting writer woke.
 */
async function openRegular(path: string, flags: number, input: string): Promise<FileHandle> {
  const pinned = await open(path, O_PATH | O_NOFOLLOW);
  try {
    const st = await pinned.stat();
    // O_PATH with O_NOFOLLOW pins a symlink itself rather than failing: the caller reports ELOOP as a swap.
    if (st.isSymbolicLink()) throw Object.assign(new Error(`${path} is a symlink`), { code: 'ELOOP' });
    if (!st.isFile()) throw new PathRefusedError(`path '${input}' is ${describeType(st)}; only regular files are allowed here`, input, 'type');
    return await open(`/proc/self/fd/${pinned.fd}`, flags | O_NONBLOCK);
  } finally {
    await pinned.close();
  }
}

/**
 * Opens a last component that must be a regular file, never following a
 * symlink there: pinned and type-checked first where /proc allows
 * (openRegular); without /proc, opened non-blocking and checked by the caller.
 */
export function openLastRegular(path: string, flags: number, input: string): Promise<FileHandle> {
  return hasProcFd() ? openRegular(path, flags, input) : open(path, flags | O_NOFOLLOW | O_NONBLOCK);
}

async function openChecked(confiner: Confiner, path: string, flags: number, input: string, want: 'file' | 'directory'): Promise<FileHandle> {
  // Look before opening: opening a device or FIFO can itself have effects (a tape rewinds, a FIFO's writer wakes).
  const pre = await lstat(path).catch(() => null);
  if (pre && !pre.isSymbolicLink() && !(want === 'file' ? pre.isFile() : pre.isDirectory())) {
    throw new PathRefusedError(`path '${input}' is ${describeType(pre)}; only ${want === 'file' ? 'regular files' : 'directories'} are allowed here`, input, 'type');
  }
  try {
    return await openBeneath(confiner, path, flags, input);
  } catch (err) {
    if (err instanceof PathRefusedError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    // ELOOP (or ENOTDIR with O_DIRECTORY): the last component became a symlink after the check.
    const now = await lstat(path).catch(() => null);
    if (code === 'ELOOP' || now?.isSymbolicLink()) throw new PathRefusedError(`path '${input}' changed into a symlink while being opened`, input, 'symlink');
    if (code === 'ENOENT') throw new PathRefusedError(`path '${input}' does not exist`, input, 'missing');
    if (code === 'ENOTDIR') throw new PathRefusedError(`path '${input}' is not a directory`, input, 'type');
    throw new PathRefusedError(`path '${input}' cannot be opened (${code ?? 'error'})`, input);
  }
}

export interface OpenedFile {
  handle: FileHandle;
  /** Where the opened file really is. */
  real: string;
  stat: Stats;
}

export interface OpenHooks {
  /** Runs between the path check and the open; tests use it to swap paths in that window. */
  beforeOpen?: () => Promise<void> | void;
}

/** Opens a confined, existing regular file for reading; refuses anything else. */
export async function openFileForRead(confiner: Confiner, input: string, hooks: OpenHooks = {}): Promise<OpenedFile> {
  const real = await confiner.resolveExisting(input);
  await hooks.beforeOpen?.();
  const handle = await openChecked(confiner, real, O_RDONLY, input, 'file');
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new PathRefusedError(`path '${input}' is ${describeType(st)}; only regular files can be read`, input, 'type');
    if (st.nlink > 1) throw hardLinkRefusal(input);
    const where = await confirmOpened(confiner, handle, real, input);
    return { handle, real: where, stat: st };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

export interface OpenedDir {
  handle: FileHandle;
  real: string;
  /** Path that names this very directory for readdir/rename/link while it stays open. */
  path: string;
}

/** Opens a confined directory (already resolved to `real`, or resolved from `input`). */
export async function openDirectory(confiner: Confiner, input: string, real?: string, hooks: OpenHooks = {}): Promise<OpenedDir> {
  const resolved = real ?? (await confiner.resolveExisting(input));
  await hooks.beforeOpen?.();
  const handle = await openChecked(confiner, resolved, O_RDONLY | O_DIRECTORY, input, 'directory');
  try {
    const where = await confirmOpened(confiner, handle, resolved, input);
    return { handle, real: where, path: descriptorDir(handle, where) };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/**
 * An open file's first `size` bytes (its size when the caller checked it
 * against a limit), or fewer if it has shrunk since. Never more: a file can
 * grow between that check and the read — a sparse one by gigabytes in one
 * truncate — and a read to the end would take all of it into the server's
 * memory. One buffer of the checked size, so a flipping file makes no garbage.
 */
export async function readChecked(handle: FileHandle, size: number): Promise<Uint8Array> {
  const buf = Buffer.allocUnsafe(size);
  let length = 0;
  while (length < size) {
    const { bytesRead } = await handle.read(buf, length, size - length, length);
    if (bytesRead === 0) break;
    length += bytesRead;
  }
  return buf.subarray(0, length);
}

/**
 * lstat of a resolved path, looked up in its parent directory held open and
 * confined again (a root is asked through its own open descriptor): an lstat
 * of the path itself would follow a component swapped for a symlink since it
 * was resolved, and answer — type, size, links, or an error — about a path
 * outside.
 */
export async function lstatConfined(confiner: Confiner, real: string, input: string): Promise<Stats> {
  if (confiner.roots.includes(real)) {
    const root = await openDirectory(confiner, input, real);
    try {
      return await root.handle.stat();
    } finally {
      await root.handle.close();
    }
  }
  const parent = await openDirectory(confiner, input, dirname(real));
  try {
    return await lstat(join(parent.path, basename(real)));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PathRefusedError(`path '${input}' does not exist`, input, 'missing');
    throw new PathRefusedError(`path '${input}' cannot be resolved (${code ?? 'error'})`, input);
  } finally {
    await parent.handle.close();
  }
}

/** Re-asks an open directory where it is now: it may have been moved since it was opened. */
export async function stillInside(confiner: Confiner, dir: OpenedDir, input: string): Promise<string> {
  return confirmOpened(confiner, dir.handle, dir.real, input);
}
