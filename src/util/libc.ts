/**
 * The libc entry points hide calls through bun:ffi (the sandbox's kernel
 * interfaces, and the directory reads of the workspace walk): the common
 * ones, opened once on first use; `openLibc` for a module's own table; and
 * one way of turning a failed call into an error that names errno.
 */
import { dlopen, type FFIFunction, FFIType, read } from 'bun:ffi';
import { constants } from 'node:os';

// glibc names its shared object libc.so.6; musl distributions expose libc.so
// (and the loader under an arch-specific name). Try them in that order.
const LIBC_CANDIDATES = ['libc.so.6', 'libc.so', `libc.musl-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}.so.1`];

const symbols = {
  // syscall(long nr, ...): six integer slots cover every call we make.
  syscall: {
    args: [FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64],
    returns: FFIType.i64,
  },
  prctl: {
    args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64],
    returns: FFIType.i32,
  },
  open: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  prlimit: { args: [FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  waitpid: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  waitid: { args: [FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  capset: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
} as const;

type Libc = ReturnType<typeof dlopen<typeof symbols>>['symbols'];

let cached: Libc | null = null;

/**
 * `table` from the first libc that opens; throws naming each failure. A
 * module that needs symbols an old libc may lack opens its own table, so
 * their absence does not take the common ones with it.
 */
export function openLibc<T extends Record<string, FFIFunction>>(table: T): ReturnType<typeof dlopen<T>>['symbols'] {
  if (process.platform !== 'linux') throw new Error('libc through bun:ffi needs Linux');
  const failures: string[] = [];
  for (const name of LIBC_CANDIDATES) {
    try {
      return dlopen(name, table).symbols;
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message}`);
    }
  }
  throw new Error(`cannot load libc through bun:ffi (${failures.join('; ')})`);
}

/** libc symbols, loaded on first use; throws when no libc can be opened. */
export function libc(): Libc {
  cached ??= openLibc(symbols);
  return cached;
}

/**
 * The name of each errno value. Two names share a value on Linux (EAGAIN and EWOULDBLOCK, ENOTSUP and EOPNOTSUPP):
 * the first in the table wins, so a fork or thread refused for want of resources is called EAGAIN, the name code
 * that judges failures looks for, not the later alias.
 */
const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) if (!errnoNames.has(value)) errnoNames.set(value, name);

/** errno of the calling thread, read right after a failed libc call. */
export function lastErrno(): number {
  const where = libc().__errno_location();
  return where === null ? 0 : read.i32(where, 0);
}

/** Error for a failed call, e.g. "landlock_add_rule(/srv): EACCES (errno 13)". */
export class SyscallError extends Error {
  readonly errno: number;
  readonly code: string;
  constructor(what: string, errno: number) {
    const code = errnoNames.get(errno) ?? 'UNKNOWN';
    super(`${what} failed: ${code} (errno ${errno})`);
    this.name = 'SyscallError';
    this.errno = errno;
    this.code = code;
  }
}

/** Throws SyscallError when a libc call returned a negative value. */
export function check(result: number | bigint, what: string): number {
  const n = Number(result);
  if (n < 0) throw new SyscallError(what, lastErrno());
  return n;
}

/** NUL-terminated copy of a string for char* arguments. */
export function cString(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}
