/**
 * The lock the servers sharing one audit log take around each batch: flock(2)
 * on the log's directory (the file itself changes inode when it rotates),
 * held while a batch is sealed, appended and rotated. Waits are bounded: a
 * process that keeps it (anything that can open the directory can flock it)
 * must not stop the server, so past LOCK_WAIT_MS a batch goes out without
 * it, said once until the lock is taken again.
 */
import { dirname } from 'node:path';
import { constants as fsConstants, openSync } from 'node:fs';
import { tryLock, unlock } from '../util/dir-lock.ts';
import { libc } from '../util/libc.ts';
import { closeQuietly } from '../util/close-quietly.ts';

/**
 * How long a batch waits for another writer's lock before it writes anyway:
 * a batch holds it for well under a millisecond, and a process that keeps it
 * (anything that can open the directory can flock it) must not stop the server.
 */
export const LOCK_WAIT_MS = 1000;
/** How often a batch waiting for the lock tries again (on a timer: the event loop runs meanwhile). */
export const LOCK_RETRY_MS = 2;

function libcLoads(): boolean {
  try {
    libc();
    return true;
  } catch {
    return false;
  }
}

export class LogLock {
  /**
   * The log's directory, held open to flock(2) it; null without libc (not
   * Linux), for stdout, or once closed.
   */
  private fd: number | null = null;
  /** A batch went out without the lock and nothing has taken it since: said once, not per batch. */
  private trouble = false;
  private failure: unknown = null;

  /** `warn` tells the owner of trouble with the lock; it is no write failure. */
  constructor(
    private readonly file: string,
    private readonly warn: (err: Error) => void,
  ) {}

  /** Opens the log's directory to lock it (the directory must exist). */
  open(): void {
    this.fd = this.openDir();
  }

  private openDir(): number | null {
    if (!libcLoads()) return null;
    try {
      return openSync(dirname(this.file), fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
    } catch (err) {
      this.warn(new Error(`cannot open the directory of ${this.file} to lock it (${(err as Error).message}); another server writing the file would fork its chain`));
      return null;
    }
  }

  /** One try at the lock: 'held', 'busy' (another holder, or a failure worth retrying) or 'none' (nothing to lock). */
  tryTake(): 'held' | 'busy' | 'none' {
    if (this.fd === null) return 'none';
    try {
      if (!tryLock(this.fd)) return 'busy';
    } catch (err) {
      // errno is read after the call and the runtime may have set it meanwhile: a failure is retried like a wait.
      this.failure = err;
      return 'busy';
    }
    this.trouble = false;
    this.failure = null;
    return 'held';
  }

  /**
   * Takes the lock, waiting a bounded time for another writer's batch with the
   * event loop stopped; false when it is not held. Only for start, reopen,
   * close and exit: a tick's batch waits on a timer (tryTake, LOCK_RETRY_MS).
   */
  take(): boolean {
    const giveUpAt = performance.now() + LOCK_WAIT_MS;
    for (;;) {
      const got = this.tryTake();
      if (got !== 'busy') return got === 'held';
      if (performance.now() > giveUpAt) break;
      Bun.sleepSync(1);
    }
    this.givenUp();
    return false;
  }

  /** A batch goes out without the lock: warned once until the lock is taken again. */
  givenUp(): void {
    if (this.trouble) return;
    this.trouble = true;
    const failure = this.failure;
    const why = failure === null ? `stayed locked by another process for ${LOCK_WAIT_MS} ms` : `cannot be locked (${(failure as Error).message})`;
    this.warn(new Error(`the directory of ${this.file} ${why}; writing without the lock until it can be taken again`));
  }

  release(): void {
    if (this.fd === null) return;
    try {
      unlock(this.fd);
    } catch {
      /* closing the directory releases it in the end */
    }
  }

  close(): void {
    this.fd = closeQuietly(this.fd);
  }
}
