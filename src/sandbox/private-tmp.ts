/**
 * The private TMPDIR each launcher's commands get, and the sweep of those a
 * server left behind when it died without removing them (SIGKILL, OOM kill,
 * a crash): whatever its commands wrote there would otherwise stay in the
 * system temp directory for good.
 *
 * Whether a directory's server is gone is decided by a lock, not by a PID: a
 * lock file beside it (`hide-sandbox-XXXXXX.lock`) that the server holds with
 * flock for as long as it lives, which the kernel releases however the server
 * ends, and which means the same thing to servers in other PID namespaces
 * sharing the directory. The lock lives beside the directory, not in it,
 * because commands may write there and could delete it. Only locks owned by
 * the sweeping user count, and a directory without a lock (made by an older
 * version) is never touched.
 */
import { randomBytes } from '../util/random.ts';
import { accessSync, closeSync, constants, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { chmod, open, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tryLock } from '../util/dir-lock.ts';
import { settlesWithin } from '../util/settles-within.ts';
import { hasProcFd, O_PATH, sameFile } from '../workspace/open.ts';

const PREFIX = 'hide-sandbox-';
const LOCK_FILE = /^hide-sandbox-[A-Za-z0-9]{6}\.lock$/;

/** A private TMPDIR needs a writable temp directory: a read-only root without a tmpfs has none. */
export function tmpWritable(): boolean {
  try {
    accessSync(tmpdir(), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export class PrivateTmp {
  private constructor(
    /** The directory commands get as TMPDIR. */
    readonly path: string,
    private lockFd: number | null,
  ) {}

  /**
   * Makes a fresh directory under `parent`, locked for as long as this
   * process lives or until remove(). The lock is taken before the directory
   * exists, so no sweep can find the directory unlocked.
   */
  static create(parent = tmpdir()): PrivateTmp {
    for (let attempt = 0; attempt < 100; attempt++) {
      const path = join(parent, `${PREFIX}${suffix()}`);
      const lockPath = `${path}.lock`;
      let fd: number;
      try {
        fd = openSync(lockPath, 'wx', 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        return PrivateTmp.unlocked(parent);
      }
      let locked = false;
      try {
        // Still the file at that name: a sweep may have found it in the instant before the lock, and removed it.
        locked = tryLock(fd) && stillNamed(fd, lockPath);
      } catch {
        // A filesystem without flock.
      }
      if (!locked) {
        closeSync(fd);
        return PrivateTmp.unlocked(parent);
      }
      try {
        mkdirSync(path, 0o700);
        return new PrivateTmp(path, fd);
      } catch (err) {
        rmSync(lockPath, { force: true });
        closeSync(fd);
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    return PrivateTmp.unlocked(parent);
  }

  /** A directory with no lock: never swept, removed only by remove(). */
  private static unlocked(parent: string): PrivateTmp {
    return new PrivateTmp(mkdtempSync(join(parent, PREFIX)), null);
  }

  /**
   * Removes the directory and its lock (the lock last, so no sweep sees the
   * directory unlocked). Never throws: resolves with the error that left the
   * directory in place, or null. A directory that stays keeps its lock file,
   * released, so the next server's sweep tries again.
   */
  async remove(waitMs = REMOVE_WAIT_MS): Promise<Error | null> {
    // Off the event loop, on the runtime's file-system threads: one the kernel refused (the uid's process count full,
    // which any client's commands can do) leaves the removal waiting for good, and a stop waiting on it would never
    // write its last audit lines. Past the wait the directory is left, its lock released, to the next start's sweep.
    const removal = removeTree(this.path).then(
      () => null,
      (err: unknown) => err as Error,
    );
    const error = (await settlesWithin(removal, waitMs)) ? await removal : new Error(`not removed within ${waitMs / 1000} s (left to the next start, which removes it)`);
    if (this.lockFd === null) return error;
    if (error === null) rmSync(`${this.path}.lock`, { force: true });
    closeSync(this.lockFd);
    this.lockFd = null;
    return error;
  }
}

/**
 * Removes `path` and everything in it, off the event loop: what a command
 * left there may be a tree of a million files, and a synchronous removal
 * would stall every client's calls while it runs. A command may also have
 * taken the rights to its own directories away (mode 000): the server owns
 * them (the same uid, when unprivileged) and gives itself the rights back,
 * then removes again.
 */
async function removeTree(path: string): Promise<void> {
  for (let round = 0; ; round++) {
    try {
      await rm(path, { recursive: true, force: true });
      return;
    } catch (err) {
      // Refused somewhere inside: open the tree up and try again. A tree deeper than one walk goes (its deepest
      // part moved up each round), so a bounded count of rounds still removes a chain as deep as the file system allows.
      if (round >= MAX_OPEN_UP_ROUNDS) throw err;
    }
    let hoisted = 0;
    await openUp(path, 0, (at) => rename(at, join(path, `.hide-deep-${round}-${hoisted++}`)).catch(() => {}));
  }
}

/** Directory levels opened up at most in one walk: each holds a descriptor while the levels below it are walked. */
const MAX_OPEN_UP_DEPTH = 256;
/** Walks at most, each moving what lies below its depth up to the top: 64 × 256 levels. */
const MAX_OPEN_UP_ROUNDS = 64;
/** Longest a removal is waited for (a tree of a million files takes seconds). */
const REMOVE_WAIT_MS = 15_000;

/**
 * Gives the owner full rights on `dir` and every directory below it. A
 * command of the client may still be running and swap a directory for a
 * symlink at any moment: each directory is pinned with O_PATH|O_NOFOLLOW
 * first, and the chmod, the listing and the next level all go through that
 * pinned descriptor (/proc/self/fd/N), so a chmod by path can never land on
 * what a link points to (as root, any file on the host). A directory
 * MAX_OPEN_UP_DEPTH levels down is opened up and handed to `hoist` rather
 * than walked: the caller moves it up and walks again.
 */
export async function openUp(dir: string, depth = 0, hoist?: (at: string) => Promise<unknown>): Promise<void> {
  if (!hasProcFd()) return;
  const pinned = await open(dir, O_PATH | constants.O_NOFOLLOW | constants.O_DIRECTORY).catch(() => null);
  if (pinned === null) return;
  try {
    const st = await pinned.stat();
    if (!st.isDirectory()) return;
    const at = `/proc/self/fd/${pinned.fd}`;
    if ((st.mode & 0o700) !== 0o700) await chmod(at, (st.mode & 0o7777) | 0o700).catch(() => {});
    if (depth >= MAX_OPEN_UP_DEPTH) {
      // `dir` names the entry through its parent's pinned descriptor: moved from there, no link on the way is followed
      // (and, opened up above, it may move: a directory moving to another parent must be writable itself).
      await hoist?.(dir);
      return;
    }
    const entries = await readdir(at, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) if (entry.isDirectory()) await openUp(join(at, entry.name), depth + 1, hoist);
  } finally {
    await pinned.close();
  }
}

/**
 * Removes, under `parent`, the private TMPDIRs whose lock no process holds,
 * with their locks; returns the directories removed. A lock held by a live
 * server, owned by another user, or not a plain file, is left alone, and so is
 * its directory.
 */
export async function sweepStaleTmp(parent = tmpdir()): Promise<string[]> {
  const uid = process.getuid?.();
  if (uid === undefined) return [];
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!LOCK_FILE.test(name)) continue;
    const lockPath = join(parent, name);
    let fd: number;
    try {
      fd = openSync(lockPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      continue; // gone already, or a link
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.uid !== uid || !tryLock(fd)) continue;
      const dir = lockPath.slice(0, -'.lock'.length);
      // The directory itself, never what a link in its place points to.
      const dirStat = lstatOrNull(dir);
      if (dirStat !== null && (!dirStat.isDirectory() || dirStat.uid !== uid)) continue;
      if (dirStat !== null) await removeTree(dir);
      unlinkSync(lockPath);
      removed.push(dir);
    } catch {
      // Removed by another sweep at the same moment, or not ours to remove: left for the next.
    } finally {
      closeSync(fd);
    }
  }
  return removed;
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Six random letters and digits, as mkdtemp makes them. */
function suffix(): string {
  return Array.from(randomBytes(6), (b) => ALPHANUMERIC[b % ALPHANUMERIC.length]).join('');
}

/** Whether `path` still names the file open on `fd`. */
function stillNamed(fd: number, path: string): boolean {
  const open = fstatSync(fd);
  const named = lstatOrNull(path);
  return named !== null && sameFile(named, open);
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

