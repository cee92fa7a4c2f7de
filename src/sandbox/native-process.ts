/**
 * A process started as the init of a new PID namespace by posix_spawn
 * through libc, its output piped: how a root server starts each launcher,
 * and how a root launcher starts each command.
 *
 * Bun.spawn cannot do it: it forks from the calling thread, so the
 * namespace would be pending there while the runtime runs, and the kernel
 * refuses every thread a thread with a pending namespace creates (pidns.ts).
 * The JIT or the collector starting one there aborted the process; Bun's
 * worker pool starting one there failed quietly and left the pool without a
 * thread for good, and with it the closing of every descriptor handed to it
 * (a launcher leaked two per command and slowed down with each).
 *
 * It offers the part of Bun's Subprocess its callers use. The exit is learned
 * from SIGCHLD and reaped with waitid for this pid alone, so Bun's own
 * children are left to Bun; a slow timer looks too while children run, in
 * case a signal was missed.
 */
import { FFIType, ptr } from 'bun:ffi';
import { readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { closeQuietly } from '../util/close-quietly.ts';
import { cString, lastErrno, libc, openLibc, SyscallError } from '../util/libc.ts';
import { O_CLOEXEC } from '../workspace/open.ts';
import type { PidNamespaces } from './pidns.ts';

const table = {
  pipe2: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  socketpair: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  shutdown: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  posix_spawn_file_actions_init: { args: [FFIType.ptr], returns: FFIType.i32 },
  posix_spawn_file_actions_adddup2: { args: [FFIType.ptr, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  posix_spawn_file_actions_addopen: { args: [FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.u32], returns: FFIType.i32 },
  posix_spawn_file_actions_addchdir_np: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  posix_spawn_file_actions_addclose: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  fcntl: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  posix_spawn_file_actions_destroy: { args: [FFIType.ptr], returns: FFIType.i32 },
  posix_spawnattr_init: { args: [FFIType.ptr], returns: FFIType.i32 },
  posix_spawnattr_setflags: { args: [FFIType.ptr, FFIType.i16], returns: FFIType.i32 },
  posix_spawnattr_setsigdefault: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  posix_spawnattr_setsigmask: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  sigfillset: { args: [FFIType.ptr], returns: FFIType.i32 },
  sigemptyset: { args: [FFIType.ptr], returns: FFIType.i32 },
} as const;

let cached: ReturnType<typeof openLibc<typeof table>> | null = null;
const lib = () => (cached ??= openLibc(table));

/** glibc 2.34 and later: the child closes every descriptor from 3 up in one call. musl has no such action. */
const closeFromTable = { posix_spawn_file_actions_addclosefrom_np: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 } } as const;
let closeFrom: ((actions: ReturnType<typeof ptr>, from: number) => number) | null | undefined;
function addCloseFrom(): typeof closeFrom {
  if (closeFrom !== undefined) return closeFrom;
  try {
    closeFrom = openLibc(closeFromTable).posix_spawn_file_actions_addclosefrom_np;
  } catch {
    closeFrom = null;
  }
  return closeFrom;
}

const O_RDONLY = 0;
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
/** How often the exit of a running child is looked for besides SIGCHLD. */
const BACKSTOP_MS = 1000;

const signalNames = new Map<number, NodeJS.Signals>();
for (const [name, value] of Object.entries(constants.signals)) if (!signalNames.has(value)) signalNames.set(value, name as NodeJS.Signals);

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/**
 * The children waiting to be reaped. Every SIGCHLD looks at each with
 * waitid(WNOHANG): signals coalesce, so one may stand for several exits.
 */
const running = new Map<number, (exit: Exit) => void>();
let listening = false;
let backstop: ReturnType<typeof setInterval> | undefined;

function reapExited(): void {
  for (const [pid, settle] of running) {
    const exit = reapIfExited(pid);
    if (exit === null) continue;
    running.delete(pid);
    settle(exit);
  }
  if (running.size === 0 && backstop !== undefined) {
    clearInterval(backstop);
    backstop = undefined;
  }
}

/** Before a spawn, so no exit can come before someone listens for it. */
function listenForExits(): void {
  if (listening) return;
  listening = true;
  // A signal listener does not keep the process alive; the backstop does, while children run, as Bun's do.
  process.on('SIGCHLD', reapExited);
}

function watchExit(pid: number, settle: (exit: Exit) => void): void {
  running.set(pid, settle);
  backstop ??= setInterval(reapExited, BACKSTOP_MS);
}

/** waitid's answer, one buffer for every look: a look is synchronous, and every SIGCHLD looks at each child. */
const siginfo = new Uint8Array(OPAQUE_BYTES);
const siginfoView = new DataView(siginfo.buffer);

/** The exit of `pid` when it has exited (and is reaped now), null while it runs. */
function reapIfExited(pid: number): Exit | null {
  // With WNOHANG and nothing exited, waitid need not touch the pid field: it is cleared first.
  siginfo.fill(0, SI_PID, SI_PID + 4);
  // Failing means someone else reaped it: never here, the server reaps only pids it did not start.
  if (libc().waitid(P_PID, pid, ptr(siginfo), WEXITED | WNOHANG) !== 0) return { code: 255, signal: null };
  if (siginfoView.getInt32(SI_PID, true) === 0) return null;
  const status = siginfoView.getInt32(SI_STATUS, true);
  if (siginfoView.getInt32(SI_CODE, true) === CLD_EXITED) return { code: status, signal: null };
  return { code: null, signal: signalNames.get(status) ?? 'SIGKILL' };
}

function pipe(): [read: number, write: number] {
  const fds = new Int32Array(2);
  if (lib().pipe2(ptr(fds), O_CLOEXEC) !== 0) throw new SyscallError('pipe2', lastErrno());
  return [fds[0]!, fds[1]!];
}

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SHUT_WR = 1;

/**
 * A connected pair of Unix stream sockets for one output stream, as
 * Bun.spawn gives its children: a pipe can be opened again through
 * /proc/self/fd/1 or /dev/stdout, and the new read end waits for output its
 * own process never writes — a .gitignore linked there held ripgrep until its
 * deadline. A socket cannot be opened so (ENXIO), which is also why only a
 * program that opens paths a client chose gets them: a script's `echo x >
 * /dev/stderr` needs the pipe. Our end is shut for writing: the command
 * reading its own stdout gets end of file.
 */
function outputPair(): [read: number, write: number] {
  const fds = new Int32Array(2);
  if (lib().socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ptr(fds)) !== 0) throw new SyscallError('socketpair', lastErrno());
  lib().shutdown(fds[0]!, SHUT_WR);
  return [fds[0]!, fds[1]!];
}

/** Throws for a failed posix_spawn helper: they return the error number itself, or -1 and set errno. */
function step(rc: number, what: string): void {
  if (rc !== 0) throw new SyscallError(what, rc > 0 ? rc : lastErrno());
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

/**
 * The attributes every start shares, made once: a session of its own, every
 * signal at its default and none blocked. The buffers live as long as the
 * process.
 */
let attributes: { attributes: Uint8Array; allSignals: Uint8Array; noSignals: Uint8Array } | null = null;
function spawnAttributes(): Uint8Array {
  if (attributes !== null) return attributes.attributes;
  const c = lib();
  const made = { attributes: new Uint8Array(OPAQUE_BYTES), allSignals: new Uint8Array(OPAQUE_BYTES), noSignals: new Uint8Array(OPAQUE_BYTES) };
  step(c.posix_spawnattr_init(ptr(made.attributes)), 'posix_spawnattr_init');
  step(c.sigfillset(ptr(made.allSignals)), 'sigfillset');
  step(c.sigemptyset(ptr(made.noSignals)), 'sigemptyset');
  step(c.posix_spawnattr_setsigdefault(ptr(made.attributes), ptr(made.allSignals)), 'posix_spawnattr_setsigdefault');
  step(c.posix_spawnattr_setsigmask(ptr(made.attributes), ptr(made.noSignals)), 'posix_spawnattr_setsigmask');
  step(c.posix_spawnattr_setflags(ptr(made.attributes), POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK), 'posix_spawnattr_setflags');
  attributes = made;
  return made.attributes;
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
export class PipeWriter {
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

/** The read end of a pipe as a stream that closes the descriptor once it has ended. */
function readEnd(fd: number): ReadableStream<Uint8Array> {
  const reader = Bun.file(fd).stream().getReader();
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    // A tick later: the file reader is done with the descriptor by then.
    setImmediate(() => closeQuietly(fd));
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

export interface NativeSpawnOptions {
  /** argv[0] is the executable's absolute path (no PATH search). */
  argv: string[];
  env: Record<string, string>;
  /** Where it starts; `/proc/self/fd/N` names a directory descriptor N of the caller, which the child inherits until its exec. */
  cwd: string;
  /**
   * Its stdin, as Bun.spawn names them: a pipe (`stdin` is then its write
   * end), /dev/null ('ignore'), or a descriptor of the caller's (the caller
   * keeps and closes its own copy).
   */
  stdin?: 'pipe' | 'ignore' | number;
  /** Output through socket pairs rather than pipes (see outputPair). */
  outputSockets?: boolean;
}

export class NativeProcess {
  readonly pid: number;
  /** The write end of stdin, when it is a pipe. */
  readonly stdin: PipeWriter | null;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  /** Settles once the process has exited and been reaped: its exit code, or 128 + the signal that ended it. */
  readonly exited: Promise<number>;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  private reaped = false;

  /** `reaped` runs once the process has exited and been reaped, and what waited on that has run (its namespaces are let go then). */
  private constructor(pid: number, stdin: number | null, stdout: number, stderr: number, reaped: () => void) {
    this.pid = pid;
    this.stdin = stdin === null ? null : new PipeWriter(stdin);
    this.stdout = readEnd(stdout);
    this.stderr = readEnd(stderr);
    this.exited = new Promise((resolve) => {
      watchExit(pid, ({ code, signal }) => {
        this.reaped = true;
        this.exitCode = code;
        this.signalCode = signal;
        this.stdin?.end();
        resolve(code ?? 128 + (signal ? constants.signals[signal] : 9));
        // After what waits on the exit (a call's result on its way out).
        setImmediate(reaped);
      });
    });
  }

  /**
   * Starts `argv` in its own session (and process group), its signals at
   * their defaults and unblocked, as the init of a new PID namespace. Throws,
   * having started nothing and leaked nothing, when it cannot.
   */
  static spawn(namespaces: PidNamespaces, options: NativeSpawnOptions): NativeProcess {
    const c = lib();
    const stdinMode = options.stdin ?? 'pipe';
    const strings = options.argv.map(cString);
    const envStrings = Object.entries(options.env).map(([k, v]) => cString(`${k}=${v}`));
    const argv = pointerArray(strings);
    const envp = pointerArray(envStrings);
    const cwd = cString(options.cwd);
    const devNull = cString('/dev/null');
    const actions = new Uint8Array(OPAQUE_BYTES);
    const pid = new Int32Array(1);
    const fds: number[] = [];
    let actionsMade = false;
    try {
      step(c.posix_spawn_file_actions_init(ptr(actions)), 'posix_spawn_file_actions_init');
      actionsMade = true;
      let inWrite: number | null = null;
      let inRead: number | null = null;
      if (stdinMode === 'pipe') {
        [inRead, inWrite] = pipe();
        fds.push(inRead, inWrite);
        step(c.posix_spawn_file_actions_adddup2(ptr(actions), inRead, 0), 'posix_spawn_file_actions_adddup2');
      } else if (stdinMode === 'ignore') {
        step(c.posix_spawn_file_actions_addopen(ptr(actions), 0, ptr(devNull), O_RDONLY, 0), 'posix_spawn_file_actions_addopen');
      } else {
        step(c.posix_spawn_file_actions_adddup2(ptr(actions), stdinMode, 0), 'posix_spawn_file_actions_adddup2');
      }
      const output = options.outputSockets === true ? outputPair : pipe;
      const [outRead, outWrite] = output();
      fds.push(outRead, outWrite);
      const [errRead, errWrite] = output();
      fds.push(errRead, errWrite);
      step(c.posix_spawn_file_actions_adddup2(ptr(actions), outWrite, 1), 'posix_spawn_file_actions_adddup2');
      step(c.posix_spawn_file_actions_adddup2(ptr(actions), errWrite, 2), 'posix_spawn_file_actions_adddup2');
      step(c.posix_spawn_file_actions_addchdir_np(ptr(actions), ptr(cwd)), 'posix_spawn_file_actions_addchdir_np');
      // Last: a stdin descriptor of the caller's is on 0 by now, and a directory named as cwd has been entered.
      const closeFromThree = addCloseFrom();
      if (closeFromThree) step(closeFromThree(ptr(actions), 3), 'posix_spawn_file_actions_addclosefrom_np');
      else for (const fd of inheritable()) step(c.posix_spawn_file_actions_addclose(ptr(actions), fd), 'posix_spawn_file_actions_addclose');
      const spawnattr = spawnAttributes();
      listenForExits();
      const { result: rc, ipc } = namespaces.posixSpawnInNew({
        pid: ptr(pid),
        path: ptr(strings[0]!),
        fileActions: ptr(actions),
        attributes: ptr(spawnattr),
        argv: ptr(argv),
        envp: ptr(envp),
      });
      if (rc !== 0) throw new SyscallError(`posix_spawn(${options.argv[0]})`, rc);
      // The child runs from here on: none of its numbers may be closed twice (they may be reused at once), and it
      // may not go untracked.
      fds.length = 0;
      // The child's ends: it has its own copies now.
      for (const fd of [inRead, outWrite, errWrite]) closeQuietly(fd);
      return NativeProcess.adopt(pid[0]!, inWrite, outRead, errRead, () => namespaces.emptyIpc(ipc));
    } catch (err) {
      for (const fd of fds) closeQuietly(fd);
      throw err;
    } finally {
      if (actionsMade) c.posix_spawn_file_actions_destroy(ptr(actions));
      // The buffers the pointers point into stay reachable until the child has exec'd or failed.
      void [strings, envStrings, argv, envp, cwd, devNull];
    }
  }

  /** The object for a started child; when even that fails (no memory, no descriptors), the child is killed and reaped. */
  private static adopt(pid: number, stdin: number | null, stdout: number, stderr: number, reaped: () => void): NativeProcess {
    try {
      return new NativeProcess(pid, stdin, stdout, stderr, reaped);
    } catch (err) {
      try {
        // The init of its namespace: everything it started goes with it.
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
      if (!running.has(pid)) watchExit(pid, reaped);
      for (const fd of [stdin, stdout, stderr]) closeQuietly(fd);
      throw err;
    }
  }

  /** As spawn, with stdin a pipe whose write end is `stdin`. */
  static spawnPiped(namespaces: PidNamespaces, options: Omit<NativeSpawnOptions, 'stdin'>): NativeProcess & { readonly stdin: PipeWriter } {
    return NativeProcess.spawn(namespaces, { ...options, stdin: 'pipe' }) as NativeProcess & { readonly stdin: PipeWriter };
  }

  /** Sends `signal` unless the process has been reaped (its pid may belong to another by then). */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): void {
    if (this.reaped) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // Exited already: a zombie until reaped.
    }
  }
}

