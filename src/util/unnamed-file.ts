/**
 * Files made with no name (O_TMPFILE) and named once they are ready
 * (linkat through /proc/self/fd): what no other process can open while it
 * is being prepared. A replacement made under a name was open to anyone
 * who could open a new file of its owner's (commands on a root server run
 * as uid 0) until it had the owner and mode of the file it replaces, and
 * what was written into it afterwards could be read through that open.
 */
import { FFIType } from 'bun:ffi';
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { check, cString, openLibc } from './libc.ts';

/** Linux's __O_TMPFILE bit, the same on x86_64 and aarch64; O_TMPFILE adds O_DIRECTORY, whose value differs. */
const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY;
const AT_FDCWD = -100;
const AT_SYMLINK_FOLLOW = 0x400;
/** What a file system or kernel without O_TMPFILE answers (an old kernel reads the flags as opening the directory to write). */
const UNSUPPORTED = new Set(['EOPNOTSUPP', 'ENOTSUP', 'EISDIR', 'EINVAL']);

const table = {
  linkat: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
} as const;
let lib: ReturnType<typeof openLibc<typeof table>> | null = null;

/** A new file with no name in the directory `dir` (a path, /proc/self/fd/N too), open to write; null where O_TMPFILE is not supported. */
export async function openUnnamed(dir: string, mode: number): Promise<FileHandle | null> {
  if (process.platform !== 'linux') return null;
  try {
    return await open(dir, O_TMPFILE | constants.O_WRONLY, mode);
  } catch (err) {
    if (UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) return null;
    throw err;
  }
}

/** Gives the unnamed file open as `fd` the name `path` (EEXIST when it is taken). */
export function nameUnnamed(fd: number, path: string): void {
  lib ??= openLibc(table);
  check(lib.linkat(AT_FDCWD, cString(`/proc/self/fd/${fd}`), AT_FDCWD, cString(path), AT_SYMLINK_FOLLOW), `linkat(${path})`);
}
