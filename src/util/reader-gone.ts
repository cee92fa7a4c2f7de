/**
 * Tells when nobody can read a pipe or socket we write to any more. A write
 * says so (EPIPE), but only the next one: a stdio client that crashed while a
 * command ran would leave that command running, for no one, until its
 * timeout. poll(2) reports the write end of a pipe whose last reader has gone
 * with POLLERR, and a socket whose peer has hung up with POLLHUP, without
 * writing anything.
 */
import { fstatSync } from 'node:fs';
import { FFIType, ptr } from 'bun:ffi';
import { openLibc } from './libc.ts';

const POLLERR = 0x008;
const POLLHUP = 0x010;

let pollFn: ((fds: number, n: number, timeout: number) => number) | null = null;

/** poll(2) on one descriptor for nothing but its error and hang-up states, without waiting. */
function peerGone(fd: number, pollfd: Int32Array): boolean {
  pollFn ??= (() => {
    const { poll } = openLibc({ poll: { args: [FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 } });
    return (fds: number, n: number, timeout: number) => poll(fds, n, timeout);
  })();
  // struct pollfd { int fd; short events; short revents; }: events 0, revents cleared.
  pollfd[0] = fd;
  pollfd[1] = 0;
  if (pollFn(ptr(pollfd) as unknown as number, 1, 0) !== 1) return false;
  const revents = (pollfd[1]! >>> 16) & 0xffff;
  return (revents & (POLLERR | POLLHUP)) !== 0;
}

/**
 * Calls `onGone` once when the reader of `fd` (a pipe or a socket) is gone,
 * looking every `intervalMs`; returns the function that stops looking. Other
 * kinds of descriptor (a terminal, a file) are not watched. The timer keeps
 * no process alive.
 */
export function watchReaderGone(fd: number, onGone: () => void, intervalMs = 1000): () => void {
  let kind: ReturnType<typeof fstatSync>;
  try {
    kind = fstatSync(fd);
  } catch {
    return () => {};
  }
  if (process.platform !== 'linux' || !(kind.isFIFO() || kind.isSocket())) return () => {};
  const pollfd = new Int32Array(2);
  const timer = setInterval(() => {
    let gone: boolean;
    try {
      gone = peerGone(fd, pollfd);
    } catch {
      // No libc through FFI: the next write's EPIPE still tells.
      clearInterval(timer);
      return;
    }
    if (!gone) return;
    clearInterval(timer);
    onGone();
  }, intervalMs).unref();
  return () => clearInterval(timer);
}
