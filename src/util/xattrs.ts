/**
 * Extended attributes through libc (Node has none of these calls): what a
 * file tool's replacement of a file carries over from the file it replaces.
 * A POSIX ACL lives in one (`system.posix_acl_access`): a replacement without
 * it would fall back to the mode's group bits, which under an ACL are its
 * mask, and give the owning group access the ACL denied.
 */
import { FFIType } from 'bun:ffi';
import { constants } from 'node:os';
import { check, cString, lastErrno, openLibc, SyscallError } from './libc.ts';

const table = {
  listxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  getxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  fsetxattr: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  fremovexattr: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
} as const;

let lib: ReturnType<typeof openLibc<typeof table>> | null = null;
const calls = () => (lib ??= openLibc(table));

/**
 * Carried over: the access ACL and the user namespace. Not `security.*` (file
 * capabilities would carry privileges over, as set-id bits would, and a
 * security module labels a new file itself) nor `trusted.*`.
 */
const CARRIED = /^(?:system\.posix_acl_access|user\..+)$/;
/** A file whose attributes change between the size asked and the read is asked again, this often. */
const TRIES = 3;

/** At most this many attributes, of this many bytes in all, are carried over: more is refused, not read (the reads are synchronous). */
export const MAX_CARRIED = 64;
export const MAX_CARRIED_BYTES = 256 * 1024;

/** The file holds more attributes to carry over than a replacement takes. */
export class TooManyXattrsError extends Error {}

/**
 * The attributes of the file at `path` that a replacement carries over, the
 * last component followed: pass `/proc/self/fd/N` of a descriptor pinning the
 * very file that was looked at, as a name can be swapped for another file
 * between the look and the read. None where the file system keeps none.
 * @throws TooManyXattrsError past MAX_CARRIED or MAX_CARRIED_BYTES.
 */
export function carriedXattrs(path: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  // These calls are Linux's (macOS spells them otherwise); elsewhere nothing is carried.
  if (process.platform !== 'linux') return out;
  const c = calls();
  const where = cString(path);
  const names = readSized((buf, size) => c.listxattr(where, buf, size), 'listxattr');
  if (names === null || names.length === 0) return out;
  let bytes = 0;
  for (const name of names.toString('utf8').split('\0')) {
    if (!CARRIED.test(name)) continue;
    const cname = cString(name);
    const value = readSized((buf, size) => {
      // Sized before it is read: a value past the room left is refused without reading it.
      if (buf !== null && bytes + size > MAX_CARRIED_BYTES) throw new TooManyXattrsError(`its extended attributes pass ${MAX_CARRIED_BYTES / 1024} KiB`);
      return c.getxattr(where, cname, buf, size);
    }, `getxattr(${name})`);
    if (value === null) continue;
    if (out.size >= MAX_CARRIED) throw new TooManyXattrsError(`it has more than ${MAX_CARRIED} extended attributes`);
    out.set(name, value);
    bytes += value.length;
  }
  return out;
}

/** The access ACL's attribute: a new file may be given one by its directory's default ACL. */
export const ACCESS_ACL = 'system.posix_acl_access';

/**
 * The access ACL of the file at `path` (the last component followed), or null where it has none or the platform
 * keeps none: read by its name alone, so no count of other attributes can keep it from being read.
 */
export function accessAcl(path: string): Buffer | null {
  if (process.platform !== 'linux') return null;
  const c = calls();
  const where = cString(path);
  const name = cString(ACCESS_ACL);
  return readSized((buf, size) => c.getxattr(where, name, buf, size), `getxattr(${ACCESS_ACL})`);
}

/**
 * Makes the open file `fd` carry exactly `attrs` of what replacements carry:
 * sets each, and takes off an access ACL it has and `attrs` lacks (one its
 * directory's default ACL gave it, which a command may have set there to be
 * let in). Throws SyscallError naming the call refused.
 */
export function setXattrs(fd: number, attrs: ReadonlyMap<string, Buffer>): void {
  if (process.platform !== 'linux') return;
  const c = calls();
  if (!attrs.has(ACCESS_ACL) && Number(c.fremovexattr(fd, cString(ACCESS_ACL))) < 0) absent(lastErrno(), `fremovexattr(${ACCESS_ACL})`);
  for (const [name, value] of attrs) check(c.fsetxattr(fd, cString(name), value, value.length, 0), `fsetxattr(${name})`);
}

/**
 * A list or value read with the size asked first (empty when it is empty):
 * null when there is none (no such attribute any more, no attributes on
 * this file system).
 */
function readSized(call: (buf: Buffer | null, size: number) => number | bigint, what: string): Buffer | null {
  for (let i = 0; i < TRIES; i++) {
    const size = Number(call(null, 0));
    if (size < 0) return absent(lastErrno(), what);
    // An empty list of names, or an attribute whose value is empty (carried as such, and counted).
    if (size === 0) return Buffer.alloc(0);
    const buf = Buffer.alloc(size);
    const got = Number(call(buf, size));
    if (got >= 0) return buf.subarray(0, got);
    const errno = lastErrno();
    if (errno !== constants.errno.ERANGE) return absent(errno, what);
  }
  throw new SyscallError(what, constants.errno.ERANGE);
}

/** Null for an errno that says the attribute (or any) is not there; throws SyscallError for any other. */
function absent(errno: number, what: string): null {
  if (errno === constants.errno.ENODATA || errno === constants.errno.ENOTSUP || errno === constants.errno.EOPNOTSUPP || errno === constants.errno.ENOENT) return null;
  throw new SyscallError(what, errno);
}
