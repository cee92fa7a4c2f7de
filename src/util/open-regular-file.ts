/**
 * Opens a file the server reads or writes by a name someone else may have
 * chosen or replaced (the config and keys files, the audit log and its
 * checkpoint) only when it is a regular file. A FIFO there blocks a plain
 * open until a peer comes (for ever, on the loop every client shares) and a
 * device such as /dev/zero never ends. The open itself does not block, and
 * the check is made on the descriptor, so what is used is what was checked.
 */
import { closeSync, constants, fstatSync, openSync, type Stats } from 'node:fs';

/** What a file that is not a regular one is, for a message. */
export function kindOf(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'a device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Thrown for a name that leads to something other than a regular file; the message names the file. */
export class NotRegularFileError extends Error {
  /** What it is, for a message that names the file itself: "a FIFO, not a regular file". */
  readonly what: string;

  constructor(
    readonly path: string,
    kind: string,
  ) {
    super(`${path}: ${kind}, not a regular file`);
    this.name = 'NotRegularFileError';
    this.what = `${kind}, not a regular file`;
  }
}

/**
 * A descriptor of `file` opened with `flags` (fs.constants) and, where it is
 * created, `mode`; throws NotRegularFileError, or the system error (with its
 * `code`) when it cannot be opened. A FIFO with no peer is refused by the
 * open (ENXIO) or the check, never waited for.
 */
export function openRegularFileSync(file: string, flags: number, mode = 0o600): number {
  const fd = openSync(file, flags | constants.O_NONBLOCK | constants.O_NOCTTY, mode);
  let s: Stats;
  try {
    s = fstatSync(fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (!s.isFile()) {
    closeSync(fd);
    throw new NotRegularFileError(file, kindOf(s));
  }
  return fd;
}
