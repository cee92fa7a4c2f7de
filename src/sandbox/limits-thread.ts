/**
 * A thread of the launcher that sets other processes' resource limits.
 *
 * The launcher's seccomp filter refuses prlimit64 on any process but the
 * caller — otherwise a command could lower the server's CPU limit or another
 * client's launcher's descriptor limit — and it binds the launcher's JS
 * thread too. Filters are per thread, so this worker, started after Landlock
 * but before the filter, keeps prlimit64 and does nothing else: it applies a
 * call's limits to the leader the launcher just spawned. Its code is inline
 * (a Blob worker) so the single executable needs no extra entry point.
 */
import type { ResourceLimits } from './rlimits.ts';

// The numbers and the two-slot struct rlimit are those of rlimits.ts; the
// worker cannot import it, so the little it needs is repeated here.
const WORKER_SOURCE = `
import { dlopen, FFIType, ptr, read } from 'bun:ffi';
const names = ['libc.so.6', 'libc.so', 'libc.musl-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}.so.1'];
let c = null;
for (const name of names) {
  try {
    c = dlopen(name, {
      prlimit: { args: [FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
      __errno_location: { args: [], returns: FFIType.ptr },
    }).symbols;
    break;
  } catch {}
}
const RESOURCES = { cpuSeconds: 0, fileSizeBytes: 1, memoryBytes: 2, processes: 6, openFiles: 7 };
self.onmessage = (event) => {
  const { id, pid, limits } = event.data;
  let error = null;
  for (const [key, resource] of Object.entries(RESOURCES)) {
    const value = limits[key];
    if (value === undefined) continue;
    const soft = BigInt(value);
    const hard = key === 'cpuSeconds' ? soft + 1n : soft;
    const rl = new BigUint64Array([soft, hard]);
    if (c === null) {
      error = 'no libc';
      break;
    }
    if (c.prlimit(pid, resource, ptr(rl), null) < 0) {
      const errno = read.i32(c.__errno_location(), 0);
      // ESRCH: the command has already exited; there is nothing left to limit.
      if (errno === 3) break;
      error = 'prlimit(' + key + '=' + value + ') failed: errno ' + errno;
      break;
    }
  }
  postMessage({ id, error });
};
postMessage({ ready: true });
`;

/** The limits thread could not start: a want of threads or memory, never the kernel refusing to confine. */
export class LimitsThreadError extends Error {}

export class LimitsThread {
  private nextId = 1;
  private readonly waiting = new Map<number, (error: string | null) => void>();

  private constructor(private readonly worker: Worker) {
    worker.onmessage = (event: MessageEvent<{ id: number; error: string | null }>) => {
      const done = this.waiting.get(event.data.id);
      this.waiting.delete(event.data.id);
      done?.(event.data.error);
    };
  }

  /** Starts the thread; resolves once it runs (so it exists before the caller installs its filter). */
  static start(): Promise<LimitsThread> {
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'application/javascript' }));
    const worker = new Worker(url);
    return new Promise((resolve, reject) => {
      worker.onmessage = () => resolve(new LimitsThread(worker));
      worker.onerror = (event) => reject(new LimitsThreadError(`limits thread failed: ${event.message}`));
    });
  }

  /** Sets soft and hard limits on `pid`; resolves with an error message, or null. */
  apply(pid: number, limits: ResourceLimits): Promise<string | null> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.postMessage({ id, pid, limits });
    });
  }
}
