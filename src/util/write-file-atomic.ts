/**
 * Replaces a small file whole or not at all: written to a unique temporary
 * file beside it, flushed, then renamed over it, so a reader (or a crash)
 * sees the old content or the new, never half. For the server's own files
 * (keys file, audit checkpoint); workspace files go through the confined
 * writer in src/workspace/atomic-write.ts.
 */
import { randomBytes } from './random.ts';
import { closeSync, existsSync, fchmodSync, fchownSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** Permission bits of a new file (an existing file keeps its own but write for group and others, and its owner where we may set it); default 0600. */
  mode?: number;
  /**
   * Flush to disk before the rename (default true). Off for a file rewritten
   * on every batch, whose loss in a crash costs no more than the batch.
   */
  fsync?: boolean;
}

export function writeFileAtomicSync(path: string, text: string, opts: AtomicWriteOptions = {}): void {
  const old = existsSync(path) ? statSync(path) : null;
  // Never writable by group or others, whatever it was: these files grant access (the keys file is reloaded on every
  // change), and a rewrite that kept 0666 kept it open to every local user.
  const keep = old ? old.mode & 0o755 : (opts.mode ?? 0o600);
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', keep);
  try {
    // Root replacing a file another user owns (`hide keys generate` through sudo or `docker exec` beside an
    // unprivileged server) keeps that owner: a root-owned 0600 file would lock the server out of its own keys.
    if (old && (old.uid !== process.getuid?.() || old.gid !== process.getgid?.())) chownIfAllowed(fd, old.uid, old.gid);
    // open() applied the umask: under 077 a keys file the server reads through its group became 0600, the server
    // kept its last good keys, and every later revocation missed it. After the chown, which may clear bits.
    fchmodSync(fd, keep);
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

/** Another user's file stays theirs when we may say so (root, or our own group); otherwise it becomes ours, as any rewrite would. */
function chownIfAllowed(fd: number, uid: number, gid: number): void {
  try {
    fchownSync(fd, uid, gid);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
  }
}
