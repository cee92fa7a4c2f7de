/**
 * A command's working directory, entered as the very directory the caller
 * checked. The caller resolves and confines it through a walk that follows
 * no symlink and hands over its inode; here, in whatever process spawns (the
 * server, or a client's sandbox launcher), the path is pinned again with
 * O_PATH and the spawn enters that descriptor (`/proc/self/fd/N`), so a
 * directory on the way swapped for a symlink in between cannot start the
 * command elsewhere. Synchronous: the sandbox launcher spawns synchronously.
 */
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { type FileIdentity, hasProcFd, O_PATH, sameFile } from '../workspace/open.ts';

/** Where to spawn, and what to close once the child has its own copy. */
export type PinnedDir = { cwd: string; close(): void } | { refused: string };

const CHANGED = 'the working directory changed while the command was started (a directory on its path was replaced); try again';

/** Pins `path` when the caller vouched for an inode; without one (or without /proc), spawns by path as before. */
export function pinWorkingDir(path: string, identity: FileIdentity | undefined): PinnedDir {
  if (identity === undefined || !hasProcFd()) return { cwd: path, close() {} };
  let fd: number;
  try {
    fd = openSync(path, O_PATH | constants.O_DIRECTORY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Gone, or no longer a directory: what a swap leaves. Anything else is this process's to say (a search right missing).
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return { refused: CHANGED };
    return { refused: `could not enter the working directory: ${code ?? (err as Error).message}` };
  }
  const st = fstatSync(fd);
  if (!sameFile(st, identity)) {
    closeSync(fd);
    return { refused: CHANGED };
  }
  return { cwd: `/proc/self/fd/${fd}`, close: () => closeSync(fd) };
}
