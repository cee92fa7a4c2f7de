/**
 * A thread of the launcher outside its seccomp filter, for the two things
 * the filter refuses its JS thread and every command alike: setting another
 * process's resource limits (prlimit64 on any pid but the caller's own: a
 * command could otherwise lower the server's CPU limit), and stop signals
 * (an unprivileged launcher's commands could otherwise stop the launcher
 * itself, which then neither ends them when the server dies nor runs new
 * ones), which the orphan sweep needs to freeze a tree before killing it.
 *
 * Filters are per thread: this one is started after Landlock (it signals
 * only what the launcher's domain may) but before the filter, and does
 * nothing else. Commands are forked from the JS thread and inherit its
 * filter, never this thread's freedom.
 *
 * Calls are synchronous, over shared memory: the JS thread writes a request
 * and waits on it (Atomics.wait) while this thread, which never returns to
 * an event loop, serves it. A sweep's freeze must happen in order with its
 * walk of the tree, and a call takes tens of microseconds. Its code is inline
 * (a Blob worker) so the single executable needs no extra entry point.
 */
import type { ResourceLimits } from './rlimits.ts';

/** Slots of the control words (Int32Array) at the start of the shared buffer. */
const STATE = 0;
const OP = 1;
/** The pid to limit, or the pidfd to stop. */
const TARGET = 2;
/** Bit i set: values[i] is to be applied. */
const MASK = 3;
/** errno of the failed call, 0 when it succeeded. */
const ERRNO = 4;
/** Index of the limit whose prlimit failed. */
const FAILED = 5;
const CONTROL_WORDS = 8;

const IDLE = 0;
const REQUEST = 1;
const DONE = 2;

const OP_LIMITS = 1;
const OP_STOP = 2;

/** In the order of the values slots; RLIMIT_* numbers shared by x86_64 and aarch64. */
const LIMITS: ReadonlyArray<readonly [key: keyof ResourceLimits, resource: number]> = [
  ['cpuSeconds', 0],
  ['fileSizeBytes', 1],
  ['memoryBytes', 2],
  ['processes', 6],
  ['openFiles', 7],
  ['pendingSignals', 11],
];

/**
 * How long the JS thread waits for an answer. Far beyond a call's tens of
 * microseconds on any machine: reached only when the thread is gone, and then
 * it is taken as gone for good.
 */
const ANSWER_MS = 5000;

const SIGSTOP = 19;
const SYS_pidfd_send_signal = 424;

const WORKER_SOURCE = `
import { dlopen, FFIType, ptr, read } from 'bun:ffi';
const names = ['libc.so.6', 'libc.so', 'libc.musl-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}.so.1'];
let c = null;
for (const name of names) {
  try {
    c = dlopen(name, {
      prlimit: { args: [FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
      syscall: { args: [FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64], returns: FFIType.i64 },
      __errno_location: { args: [], returns: FFIType.ptr },
    }).symbols;
    break;
  } catch {}
}
const RESOURCES = ${JSON.stringify(LIMITS.map(([key, resource]) => [key === 'cpuSeconds', resource]))};
const errno = () => read.i32(c.__errno_location(), 0);
self.onmessage = (event) => {
  const control = new Int32Array(event.data, 0, ${CONTROL_WORDS});
  const values = new BigInt64Array(event.data, ${CONTROL_WORDS * 4}, RESOURCES.length);
  const rlimit = new BigUint64Array(2);
  postMessage({ ready: c !== null });
  if (c === null) return;
  for (;;) {
    const state = Atomics.load(control, ${STATE});
    if (state !== ${REQUEST}) {
      Atomics.wait(control, ${STATE}, state);
      continue;
    }
    control[${ERRNO}] = 0;
    control[${FAILED}] = -1;
    if (control[${OP}] === ${OP_LIMITS}) {
      for (let i = 0; i < RESOURCES.length; i++) {
        if ((control[${MASK}] & (1 << i)) === 0) continue;
        const [cpu, resource] = RESOURCES[i];
        rlimit[0] = BigInt.asUintN(64, values[i]);
        // A hard CPU limit equal to the soft one would kill without the SIGXCPU warning.
        rlimit[1] = cpu ? rlimit[0] + 1n : rlimit[0];
        if (c.prlimit(control[${TARGET}], resource, ptr(rlimit), null) < 0) {
          control[${ERRNO}] = errno();
          control[${FAILED}] = i;
          break;
        }
      }
    } else if (control[${OP}] === ${OP_STOP}) {
      if (Number(c.syscall(${SYS_pidfd_send_signal}, control[${TARGET}], ${SIGSTOP}, 0, 0, 0, 0)) < 0) control[${ERRNO}] = errno();
    }
    Atomics.store(control, ${STATE}, ${DONE});
    Atomics.notify(control, ${STATE});
  }
};
`;

/** The thread could not start: a want of threads or memory (or no libc), never the kernel refusing to confine. */
export class UnfilteredThreadError extends Error {}

const ESRCH = 3;

export class UnfilteredThread {
  private readonly control: Int32Array;
  private readonly values: BigInt64Array;
  /** Set once a call went unanswered: the thread is taken as gone. */
  private gone = false;

  private constructor(
    private readonly worker: Worker,
    shared: SharedArrayBuffer,
  ) {
    this.control = new Int32Array(shared, 0, CONTROL_WORDS);
    this.values = new BigInt64Array(shared, CONTROL_WORDS * 4, LIMITS.length);
  }

  /** Starts the thread; resolves once it serves (so it exists before the caller installs its filter). */
  static start(): Promise<UnfilteredThread> {
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'application/javascript' }));
    const worker = new Worker(url);
    const shared = new SharedArrayBuffer(CONTROL_WORDS * 4 + LIMITS.length * 8);
    return new Promise((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<{ ready: boolean }>) => {
        if (event.data.ready) resolve(new UnfilteredThread(worker, shared));
        else reject(new UnfilteredThreadError('unfiltered thread failed: no libc to call'));
      };
      worker.onerror = (event) => reject(new UnfilteredThreadError(`unfiltered thread failed: ${event.message}`));
      worker.postMessage(shared);
    });
  }

  /** Sets soft and hard limits on `pid`; resolves with an error message, or null. */
  apply(pid: number, limits: ResourceLimits): Promise<string | null> {
    let mask = 0;
    LIMITS.forEach(([key], i) => {
      const value = limits[key];
      if (value === undefined) return;
      mask |= 1 << i;
      this.values[i] = BigInt(value);
    });
    this.control[TARGET] = pid;
    this.control[MASK] = mask;
    if (!this.call(OP_LIMITS)) return Promise.resolve('the thread that applies them did not answer');
    const errno = this.control[ERRNO]!;
    // ESRCH: the command has already exited; there is nothing left to limit.
    if (errno === 0 || errno === ESRCH) return Promise.resolve(null);
    const [key] = LIMITS[this.control[FAILED]!]!;
    return Promise.resolve(`prlimit(${key}=${limits[key]}) failed: errno ${errno}`);
  }

  /**
   * Sends SIGSTOP through the pidfd `fd` (a descriptor of this process, so
   * the thread reads it by its number): true when it was sent, false when the
   * process is gone or refused it, null when the thread is gone.
   */
  stop(fd: number): boolean | null {
    this.control[TARGET] = fd;
    if (!this.call(OP_STOP)) return null;
    return this.control[ERRNO] === 0;
  }

  /** Posts the request and waits for its answer; false when none came. */
  private call(op: number): boolean {
    if (this.gone) return false;
    const control = this.control;
    control[OP] = op;
    Atomics.store(control, STATE, REQUEST);
    Atomics.notify(control, STATE);
    const deadline = performance.now() + ANSWER_MS;
    while (Atomics.load(control, STATE) === REQUEST) {
      const left = deadline - performance.now();
      if (left <= 0 || Atomics.wait(control, STATE, REQUEST, left) === 'timed-out') {
        this.gone = true;
        this.worker.terminate();
        return false;
      }
    }
    Atomics.store(control, STATE, IDLE);
    return true;
  }
}
