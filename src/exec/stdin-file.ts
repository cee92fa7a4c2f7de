/**
 * A regular file opened as a command's stdin, for commands that would
 * otherwise open a client-named path themselves (ripgrep searching one file).
 * A program's own open(2) of a FIFO blocks until a writer comes, and wakes
 * that writer; of a device, it may act. Here the path's last component is
 * pinned with O_PATH and O_NOFOLLOW (which opens nothing), its type checked
 * on that very inode, and only a regular file is then opened, non-blocking,
 * through /proc/self/fd: a FIFO renamed into the file's place at any moment
 * is never opened. Synchronous: the sandbox launcher spawns synchronously.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, type Stats } from 'node:fs';
import { describeType, type FileIdentity, hasProcFd, O_PATH, sameFile } from '../workspace/open.ts';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = constants;

export type StdinFile = { fd: number } | { refused: string };

/** Says why without the path: the command's caller knows which file it named, and its client may not know where it lies. */
function refused(why: string): StdinFile {
  return { refused: `the input file ${why}` };
}

/** What a caller that vouched for an inode is told when the path led to another: the same words whatever was there. */
const CHANGED: StdinFile = { refused: 'the input file changed while it was being opened (a file or directory on its path was replaced); try again' };

const notRegular = (st: Stats) => refused(`is ${describeType(st)}; only a regular file is given to a command as its input`);

function failed(err: unknown): StdinFile {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return refused('does not exist');
  return refused(`cannot be opened (${code ?? 'error'})`);
}

function tooLarge(st: Stats, maxBytes: number): StdinFile | null {
  return st.size > maxBytes ? refused(`is ${st.size} bytes, over the ${maxBytes} this command may be given`) : null;
}

/**
 * The open descriptor of the regular file at `path`, or why it was not opened.
 * `maxBytes` bounds its size as seen on the inode opened: a caller that
 * checked the size by path first would otherwise hand over whatever large
 * file was swapped in since (ripgrep applies no size limit to its stdin).
 */
export function openStdinFile(path: string, maxBytes = Number.MAX_SAFE_INTEGER, identity?: FileIdentity): StdinFile {
  /** Not the inode the caller vouched for: nothing found here (type, size, existence) may be told. */
  const elsewhere = (st: Stats) => identity !== undefined && !sameFile(st, identity);
  const fail = (err: unknown) => (identity !== undefined ? CHANGED : failed(err));
  if (hasProcFd()) {
    let pinned: number;
    try {
      pinned = openSync(path, O_PATH | O_NOFOLLOW);
    } catch (err) {
      return fail(err);
    }
    try {
      const st = fstatSync(pinned);
      if (elsewhere(st)) return CHANGED;
      if (!st.isFile()) return notRegular(st);
      return tooLarge(st, maxBytes) ?? { fd: openSync(`/proc/self/fd/${pinned}`, O_RDONLY | O_NONBLOCK) };
    } catch (err) {
      return fail(err);
    } finally {
      closeSync(pinned);
    }
  }
  // No /proc to reopen a pinned inode by: look, then open without blocking and check what was opened
  // (a FIFO renamed in between is opened, and its writer wakes, but it is never read).
  let pre: Stats | undefined;
  try {
    pre = lstatSync(path, { throwIfNoEntry: false });
  } catch (err) {
    return fail(err);
  }
  if (pre === undefined) return identity !== undefined ? CHANGED : refused('does not exist');
  if (elsewhere(pre)) return CHANGED;
  if (!pre.isFile()) return notRegular(pre);
  let opened: number;
  try {
    opened = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    return fail(err);
  }
  const st = fstatSync(opened);
  const refusal = elsewhere(st) ? CHANGED : st.isFile() ? tooLarge(st, maxBytes) : notRegular(st);
  if (refusal === null) return { fd: opened };
  closeSync(opened);
  return refusal;
}
