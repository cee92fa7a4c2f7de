/**
 * Replaces a small file whole or not at all: written to a unique temporary
 * file beside it, flushed, then renamed over it, so a reader (or a crash)
 * sees the old content or the new, never half. For the server's own files
 * (keys file, audit checkpoint); workspace files go through the confined
 * writer in src/workspace/atomic-write.ts.
 */
import { randomBytes } from './random.ts';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** Permission bits of a new file (an existing file keeps its own); default 0600. */
  mode?: number;
  /**
   * Flush to disk before the rename (default true). Off for a file rewritten
   * on every batch, whose loss in a crash costs no more than the batch.
   */
  fsync?: boolean;
}

export function writeFileAtomicSync(path: string, text: string, opts: AtomicWriteOptions = {}): void {
  const keep = existsSync(path) ? statSync(path).mode & 0o777 : (opts.mode ?? 0o600);
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', keep);
  try {
    writeSync(fd, text);
    if (opts.fsync !== false) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}
