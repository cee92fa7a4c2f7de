/**
 * A process started as the init of a new PID namespace by posix_spawn
 * through libc, with its standard streams piped: how a root server starts
 * each launcher. Bun.spawn cannot do it: it forks from the calling thread,
 * so the namespace would be pending there while the runtime runs, and a
 * thread the runtime started meanwhile would be refused and abort the
 * server (pidns.ts).
 *
 * It offers the part of Bun's Subprocess the launcher client uses. The exit
 * is learned when stdout ends (the child holds its only write end, and
 * nothing it starts inherits it), then the child is reaped with waitid.
 */
import { FFIType, ptr, type Pointer } from 'bun:ffi';
import { closeSync, readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { cString, lastErrno, openLibc, SyscallError } from '../util/libc.ts';
import type { PidNamespaces } from './pidns.ts';

const table = {
  pipe2: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  posix_spawn_file_actions_init: { args: [FFIType.ptr], returns: FFIType.i32 },
  posix_spawn_file_actions_adddup2: { args: [FFIType.ptr, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  posix_spawn_file_actions_addchdir_np: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  posix_spawn_file_actions_addclose: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  fcntl: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  posix_spawn_file_actions_destroy: { args: [FFIType.ptr], returns: FFIType.i32 },
  posix_spawnattr_init: { args: [FFIType.ptr], returns: FFIType.i32 },
  posix_spawnattr_setflags: { args: [FFIType.ptr, FFIType.i16], returns: FFIType.i32 },
  posix_spawnattr_setsigdefault: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  posix_spawnattr_setsigmask: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  posix_spawnattr_destroy: { args: [FFIType.ptr], returns: FFIType.i32 },
  sigfillset: { args: [FFIType.ptr], returns: FFIType.i32 },
  sigemptyset: { args: [FFIType.ptr], returns: FFIType.i32 },
  waitid: { args: [FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
} as const;

let cached: ReturnType<typeof openLibc<typeof table>> | null = null;
const lib = () => (cached ??= openLibc(table));

const O_CLOEXEC = 0o2000000;
const F_GETFD = 1;
const FD_CLOEXEC = 1;
// The same values in glibc and musl.
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
const P_PID = 1;
const WEXITED = 4;
const WNOHANG = 1;
const CLD_EXITED = 1;
// siginfo_t as waitid fills it, on x86_64 and aarch64.
const SI_CODE = 8;
const SI_PID = 16;
const SI_STATUS = 24;
/** Bigger than posix_spawn_file_actions_t, posix_spawnattr_t, sigset_t and siginfo_t of either libc. */
const OPAQUE_BYTES = 1024;
/** Longest wait between two looks for the exit once stdout has ended. */
const REAP_MAX_DELAY_MS = 100;

const signalNames = new Map<number, NodeJS.Signals>();
for (const [name, value] of Object.entries(constants.signals)) if (!signalNames.has(value)) signalNames.set(value, name as NodeJS.Signals);

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed.
  }
}

function pipe(): [read: number, write: number] {
  const fds = new Int32Array(2);
  if (lib().pipe2(ptr(fds), O_CLOEXEC) !== 0) throw new SyscallError('pipe2', lastErrno());
  return [fds[0]!, fds[1]!];
}

/**
 * Descriptors past stderr that an exec would keep (no close-on-exec): the
 * runtime opens its own with the flag, but whoever started the server may
 * have handed it more (a socket, a redirection). Bun.spawn closes them in
 * the child; here posix_spawn is told to.
 */
function inheritable(): number[] {
  const fds: number[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd > 2 && (lib().fcntl(fd, F_GETFD) & FD_CLOEXEC) === 0) fds.push(fd);
  }
  return fds;
}

/** A NULL-terminated char* array over `strings`, which the caller keeps alive while it is used. */
function pointerArray(strings: Buffer[]): BigUint64Array {
  const array = new BigUint64Array(strings.length + 1);
  strings.forEach((s, i) => {
    array[i] = BigInt(ptr(s));
  });
  return array;
}

function quiet<T>(result: T | Promise<T>): T | Promise<T> {
  if (result instanceof Promise) result.catch(() => {});
  return result;
}

/** The write end of a pipe as Bun's FileSink, closing the descriptor once ended (a FileSink over a number never does). */
class PipeWriter {
  private readonly sink: ReturnType<ReturnType<typeof Bun.file>['writer']>;
  private ended = false;
  constructor(private readonly fd: number) {
    this.sink = Bun.file(fd).writer();
  }
  /** Throws when the reader is gone (EPIPE); a failure found later is left to the exit, which the reader's death brings. */
  write(data: string | Uint8Array): number | Promise<number> {
    return quiet(this.sink.write(data));
  }
  flush(): number | Promise<number> {
    return quiet(this.sink.flush());
  }
  end(): void {
    if (this.ended) return;
    this.ended = true;
    void Promise.resolve()
      .then(() => this.sink.end())
      .catch(() => {})
      .finally(() => closeQuietly(this.fd));
  }
}

/** The read end of a pipe as a stream that closes the descriptor and calls `onEnd` once it has ended. */
function readEnd(fd: number, onEnd: () => void): ReadableStream<Uint8Array> {
  const reader = Bun.file(fd).stream().getReader();
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    // A tick later: the file reader is done with the descriptor by then.
    setImmediate(() => closeQuietly(fd));
    onEnd();
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { value, done } = await reader.read();
          if (done) {
            controller.close();
            end();
          } else controller.enqueue(value);
        } catch (err) {
          controller.error(err);
          end();
        }
      },
      async cancel(reason) {
        await reader.cancel(reason).catch(() => {});
        end();
      },
    },
    { highWaterMark: 0 },
  );
}

export interface InitSpawnOptions {
  /** argv[0] is the executable's absolute path (no PATH search). */
  argv: string[];
  env: Record<string, string>;
  cwd: string;
}

export class InitProcess {
  readonly pid: number;
  readonly stdin: PipeWriter;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly exited: Promise<number>;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  private reaped = false;
  private settle!: (code: number) => void;

  private constructor(pid: number, stdin: number, stdout: number, stderr: number) {
    this.pid = pid;
    this.exited = new Promise((resolve) => {
      this.settle = resolve;
    });
    this.stdin = new PipeWriter(stdin);
    this.stdout = readEnd(stdout, () => this.reap(1));
    this.stderr = readEnd(stderr, () => {});
  }

  /**
   * Starts `argv` in its own session, its signals at their defaults and
   * unblocked, as the init of a new PID namespace. Throws, having started
   * nothing and leaked nothing, when it cannot.
   */
  static spawn(namespaces: PidNamespaces, options: InitSpawnOptions): InitProcess {
    const c = lib();
    const strings = options.argv.map(cString);
    const envStrings = Object.entries(options.env).map(([k, v]) => cString(`${k}=${v}`));
    const argv = pointerArray(strings);
    const envp = pointerArray(envStrings);
    const cwd = cString(options.cwd);
    const actions = new Uint8Array(OPAQUE_BYTES);
    const attributes = new Uint8Array(OPAQUE_BYTES);
    const allSignals = new Uint8Array(OPAQUE_BYTES);
    const noSignals = new Uint8Array(OPAQUE_BYTES);
    const pid = new Int32Array(1);
    const fds: number[] = [];
    let actionsMade = false;
    let attributesMade = false;
    try {
      const [inRead, inWrite] = pipe();
      fds.push(inRead, inWrite);
      const [outRead, outWrite] = pipe();
      fds.push(outRead, outWrite);
      const [errRead, errWrite] = pipe();
      fds.push(errRead, errWrite);
      const step = (rc: number, what: string) => {
        if (rc !== 0) throw new SyscallError(what, rc > 0 ? rc : lastErrno());
      };
      step(c.posix_spawn_file_actions_init(ptr(actions)), 'posix_spawn_file_actions_init');
      actionsMade = true;
      step(c.posix_spawn_file_actions_adddup2(ptr(actions), inRead, 0), 'posix_spawn_file_actions_adddup2');
      step(c.posix_spawn_file_actions_adddup2(ptr(actions), outWrite, 1), 'posix_spawn_file_actions_adddup2');
      step(c.posix_spawn_file_actions_adddup2(ptr(actions), errWrite, 2), 'posix_spawn_file_actions_adddup2');
      step(c.posix_spawn_file_actions_addchdir_np(ptr(actions), ptr(cwd)), 'posix_spawn_file_actions_addchdir_np');
      for (const fd of inheritable()) step(c.posix_spawn_file_actions_addclose(ptr(actions), fd), 'posix_spawn_file_actions_addclose');
      step(c.posix_spawnattr_init(ptr(attributes)), 'posix_spawnattr_init');
      attributesMade = true;
      step(c.sigfillset(ptr(allSignals)), 'sigfillset');
      step(c.sigemptyset(ptr(noSignals)), 'sigemptyset');
      step(c.posix_spawnattr_setsigdefault(ptr(attributes), ptr(allSignals)), 'posix_spawnattr_setsigdefault');
      step(c.posix_spawnattr_setsigmask(ptr(attributes), ptr(noSignals)), 'posix_spawnattr_setsigmask');
      step(c.posix_spawnattr_setflags(ptr(attributes), POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK), 'posix_spawnattr_setflags');
      const rc = namespaces.posixSpawnInNew({
        pid: ptr(pid),
        path: ptr(strings[0]!),
        fileActions: ptr(actions),
        attributes: ptr(attributes),
        argv: ptr(argv),
        envp: ptr(envp),
      });
      if (rc !== 0) throw new SyscallError(`posix_spawn(${options.argv[0]})`, rc);
      // The child's ends: it has its own copies now.
      for (const fd of [inRead, outWrite, errWrite]) closeQuietly(fd);
      return new InitProcess(pid[0]!, inWrite, outRead, errRead);
    } catch (err) {
      for (const fd of fds) closeQuietly(fd);
      throw err;
    } finally {
      if (actionsMade) c.posix_spawn_file_actions_destroy(ptr(actions));
      if (attributesMade) c.posix_spawnattr_destroy(ptr(attributes));
      // The buffers the pointers point into stay reachable until the child has exec'd or failed.
      void [strings, envStrings, argv, envp, cwd];
    }
  }

  /** Sends `signal` unless the process has been reaped (its pid may belong to another by then). */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): void {
    if (this.reaped) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // Exited already: a zombie until reaped below.
    }
  }

  /** Reaps the child once it has exited: soon after its stdout ended, looking again with a growing pause. */
  private reap(delayMs: number): void {
    if (this.reaped) return;
    const info = new Uint8Array(OPAQUE_BYTES);
    const view = new DataView(info.buffer);
    if (lib().waitid(P_PID, this.pid, ptr(info), WEXITED | WNOHANG) !== 0) {
      // Reaped by someone else (never here: the server reaps only what it does not know).
      this.finish(255, null);
      return;
    }
    if (view.getInt32(SI_PID, true) === 0) {
      setTimeout(() => this.reap(Math.min(delayMs * 2, REAP_MAX_DELAY_MS)), delayMs);
      return;
    }
    const status = view.getInt32(SI_STATUS, true);
    if (view.getInt32(SI_CODE, true) === CLD_EXITED) this.finish(status, null);
    else this.finish(null, signalNames.get(status) ?? 'SIGKILL');
  }

  private finish(code: number | null, signal: NodeJS.Signals | null): void {
    this.reaped = true;
    this.exitCode = code;
    this.signalCode = signal;
    this.stdin.end();
    this.settle(code ?? 128 + (signal ? constants.signals[signal] : 9));
  }
}
