/**
 * An exclusive lock on a directory, held with flock(2) for as long as a
 * function runs. The kernel releases it however the holder ends (exit, crash,
 * SIGKILL), so there is no stale lock to guess about, and a holder that is
 * merely slow keeps it. The directory is locked rather than a file in it: a
 * file replaced by rename is a new inode, and a lock file left behind would
 * be clutter.
 */
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { constants } from 'node:os';
import { lastErrno, libc, SyscallError } from './libc.ts';

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const RETRY_MS = 10;

export class LockTimeoutError extends Error {}

/** flock(LOCK_EX | LOCK_NB): true when taken, false when another open file holds it; throws on any other failure. */
export function tryLock(fd: number): boolean {
  if (libc().flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const errno = lastErrno();
  if (errno === constants.errno.EWOULDBLOCK) return false;
  throw new SyscallError('flock', errno);
}

/** Lets go of a lock taken with tryLock on `fd` (closing the last descriptor of the open file does too). */
export function unlock(fd: number): void {
  libc().flock(fd, LOCK_UN);
}

/**
 * Runs `body` holding the lock on `dir`, waiting up to `waitMs` for another
 * holder to let go; throws LockTimeoutError when it does not.
 */
export function withDirLockSync<T>(dir: string, waitMs: number, body: () => T): T {
  const fd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    const giveUpAt = Date.now() + waitMs;
    while (!tryLock(fd)) {
      if (Date.now() > giveUpAt) throw new LockTimeoutError(`${dir} stayed locked for ${waitMs / 1000} s`);
      Bun.sleepSync(RETRY_MS);
    }
    return body();
  } finally {
    // Closing the only descriptor of the open file releases the lock.
    closeSync(fd);
  }
}
