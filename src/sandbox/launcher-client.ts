/**
 * Server side of one launcher (launcher.ts): starts it, sends it commands,
 * matches results to calls, cancels calls on abort, and restarts it when it
 * dies. The server acts only on what it holds: the launcher's Subprocess. It
 * never signals a pid a launcher reports; what a dead launcher leaves behind
 * dies with the launcher's PID namespace (root) or is swept by the server as
 * its own orphans (sandbox-spawner.ts). Every call has a deadline of its own —
 * its timeout plus a grace — after which it fails and the launcher, stopped
 * or stuck, is killed and replaced.
 */
import { readFileSync, realpathSync } from 'node:fs';
import * as v from 'valibot';
import type { LiveExit, LiveHandle, LiveStart, OutputSink } from '../exec/live.ts';
import { INPUT_WAIT_MS, type InputOutcome } from '../exec/pipe-input.ts';
import { KILL_GRACE_MS, notStarted } from '../exec/spawn.ts';
import { noteTransientBytes } from '../util/gc-pressure.ts';
import { InflightMap } from '../util/inflight-map.ts';
import { settlesWithin } from '../util/settles-within.ts';
import type { LandlockRules } from './landlock.ts';
import { NativeProcess } from './native-process.ts';
import { LAUNCHER_RUNTIME_ENV, launcherArgv } from './launcher-argv.ts';
import type { PidNamespaces } from './pidns.ts';
import { MAX_PTYS_PER_LAUNCHER } from './private-proc.ts';
import { PrivateTmp } from './private-tmp.ts';
import { type InheritedLimits, inheritedLimits } from './rlimits.ts';
import {
  type ClientMessage,
  jsonLines,
  LAUNCHER_CONFIG_ENV,
  type LauncherConfig,
  type LayerReport,
  LauncherMessageSchema,
  type SandboxRunRequest,
  type SandboxRunResult,
  type SandboxStartRequest,
} from './protocol.ts';

/** Time a launcher gets beyond a call's own timeout and kill grace to report its end. */
export const LAUNCHER_GRACE_MS = 3000;
/** Longest diagnostic line kept from a launcher's stderr. */
const MAX_LOG_LINE = 500;

/**
 * How far past a command's limits its launcher may go, for the limits a
 * command's early children inherit from it. A command's limits land right
 * after it starts (rlimits.ts), and a child it forks before that inherits its
 * launcher's: the server's, unbounded for practical purposes. With them such
 * children took every pid of the machine (processes), held twenty thousand
 * files each, most of the host's file table (open files: Bun raises its own
 * to the hard limit), and could queue signals and hold POSIX timers up to the
 * server's own count (pending signals, counted per user: as root, every root
 * process of the host's). Held to the commands' limits plus this, they stop
 * there, and the launchers keep room for their own threads, pipes, pidfds and
 * terminals while commands hold a count at its limit.
 */
export const LAUNCHER_LIMIT_RESERVE = 1024;

export interface SandboxLauncherOptions {
  rules: LandlockRules;
  /** Command that starts a launcher; default launcherArgv(). */
  command?: string[];
  /**
   * Create a private 0700 scratch directory under the server's tmpdir, grant
   * it read-write and export it as TMPDIR to this launcher's commands. Default true.
   */
  privateTmp?: boolean;
  /** Where the private TMPDIR is made; the system temp directory by default. As root, commands see nothing else of it. */
  tmpParent?: string;
  /** Drop all capabilities in the launcher (root servers). Default true. */
  dropCapabilities?: boolean;
  /** Start each launcher as the init of a new PID namespace (root servers). */
  pidNamespaces?: PidNamespaces | null;
  /** Terminals each launcher may hold at once (root servers); default MAX_PTYS_PER_LAUNCHER. */
  ptys?: number;
  /** The commands' limits among those their early children inherit: the launcher holds itself to each plus LAUNCHER_LIMIT_RESERVE. */
  commandLimits?: InheritedLimits;
  /** The nice value its commands run at least at (HIDE_SANDBOX_NICE); default 0, unchanged. */
  nice?: number;
  /** Receives warnings: unexpected exits, restart failures, launcher diagnostics. */
  log?: (message: string) => void;
  /** Called after a launcher process has exited (the server sweeps what it left). */
  onExit?: () => void;
  /** Called with what a launcher enforces each time one has confined itself. */
  onReady?: (report: LayerReport) => void;
  /** Called with why a boot was refused for a reason other than the kernel's (a grant gone or moved, no room, no process). */
  onRefused?: (why: string) => void;
}

/** What the client needs of a launcher process: Bun's Subprocess, or a NativeProcess (a root server's). */
interface LauncherProcess {
  readonly pid: number;
  readonly stdin: { write(data: string): unknown; flush(): unknown; end(): unknown };
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly exited: Promise<number>;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | number | null;
  kill(signal?: NodeJS.Signals | number): void;
}

interface Pending {
  proc: LauncherProcess;
  /** The launcher said it took the call: its command may have run, so the call is never resent. */
  accepted: boolean;
  begun: number;
  deadline: ReturnType<typeof setTimeout>;
  settle(result: SandboxRunResult): void;
  retry: (() => void) | null;
  progress: SandboxRunRequest['onProgress'];
}

/** A long-lived process this launcher runs for us. */
interface Live {
  proc: LauncherProcess;
  /** What the launcher reported, shown to the client and never signalled. */
  pid: number | null;
  sink: OutputSink;
  /** Settles the start: with the handle on `started`, with the error on an early `exit`. */
  started: ((result: LiveStart) => void) | null;
  /** Settles `exited`. */
  ended(exit: LiveExit): void;
  handle: LiveHandle;
  /** Set once a terminate was asked for: the launcher must report the exit by then. */
  deadline: ReturnType<typeof setTimeout> | undefined;
  /** Writes the launcher has not answered yet, by sequence number. */
  writes: InflightMap<number, (outcome: InputOutcome) => void>;
}

/** How long a launcher gets to report that a long-lived process started. */
export const START_DEADLINE_MS = 10_000;

/** Launcher processes alive in this process, of every spawner: the server's orphan sweep spares them. */
export const liveLauncherPids = new Set<number>();

const failed = (message: string, begun: number): SandboxRunResult => notStarted(message, begun);

/**
 * How long a launcher may take to confine itself and say so. One that takes
 * longer is stopped or stuck (unprivileged, a command of another client can
 * stop any process of the server's user while it boots) and is killed: the
 * calls waiting for it fail, as every call fails at its own deadline.
 */
export const BOOT_DEADLINE_MS = 10_000;

/** How long closing a launcher waits for it to see its input end and exit, before it is killed. */
export const LAUNCHER_CLOSE_MS = 2000;

/** How long a dead launcher's last messages are waited for before its calls are settled (a resend waits for them all). */
const EXIT_DRAIN_MS = 1000;

/**
 * No launcher process was started at all: there was no room for its private
 * TMPDIR, or no process could be spawned. It says nothing about what the
 * kernel supports, unlike a launcher that ran and could not confine itself.
 */
export class LauncherNotStartedError extends Error {}

/**
 * The launcher ran and could not confine itself: it said so (and not for a
 * granted path out of its reach), or, on a server under a container's seccomp
 * profile, it was killed by SIGSYS. This, and only this, says what the kernel
 * or the container allows.
 */
export class LauncherConfineError extends Error {
  /**
   * @param killed it was killed by SIGSYS rather than saying so: the kernel's doing under a profile that kills, or a
   * process's that sent the signal (any unconfined one of the same user, and commands where Landlock cannot scope signals)
   */
  constructor(
    message: string,
    readonly killed = false,
  ) {
    super(message);
  }
}

let seccompFiltered: boolean | null = null;
/**
 * Whether this process runs under a seccomp filter (a container's profile),
 * which its children inherit: only then can the kernel kill a launcher with
 * SIGSYS before the launcher installs its own filter. Without one, a launcher
 * killed by SIGSYS got the signal from a process allowed to signal it (a
 * command of another server of the same user, where Landlock cannot scope
 * signals), and that must not turn the sandbox off. Read once: a filter is
 * never taken off, and the server puts none on itself.
 */
function underSeccompFilter(): boolean {
  if (seccompFiltered === null) {
    try {
      seccompFiltered = /^Seccomp:\s*2\s*$/m.test(readFileSync('/proc/self/status', 'utf8'));
    } catch {
      seccompFiltered = false;
    }
  }
  return seccompFiltered;
}

/**
 * @example
 * const sandbox = new SandboxLauncher({ rules: sandboxRules({ workspace, network: 'off' }) });
 * await sandbox.start();              // throws when the launcher cannot confine itself
 * const res = await sandbox.run({ argv: ['/usr/bin/ls'], cwd: workspace, env, timeoutMs: 30_000, maxOutputBytes: 1 << 20 });
 * await sandbox.close();
 */
export class SandboxLauncher {
  private proc: LauncherProcess | null = null;
  private ready: Promise<LayerReport> | null = null;
  private readonly pending = new InflightMap<number, Pending>();
  private readonly live = new InflightMap<number, Live>();
  private nextId = 1;
  private closed = false;
  private tmpDir: PrivateTmp | null = null;
  /** The launcher process kill() ended: its exit is no crash, and what it ran was stopped on purpose. */
  private killed: LauncherProcess | null = null;
  /** What the running launcher enforced, once ready. */
  report: LayerReport | null = null;
  /** Times the launcher was restarted after dying. */
  restarts = 0;

  constructor(private readonly options: SandboxLauncherOptions) {}

  /** Commands the launcher is running for us now, long-lived ones included. */
  get running(): number {
    return this.pending.size + this.live.size;
  }

  /**
   * Starts a long-lived process in the sandbox; its output goes to `sink`.
   * The handle's every action is a message to the launcher: the server never
   * signals a pid the launcher reported. A terminate the launcher does not
   * carry out in time gets the launcher killed (everything it runs dies with it).
   */
  async startLive(req: SandboxStartRequest, sink: OutputSink): Promise<LiveStart> {
    try {
      await this.start();
    } catch (err) {
      return { ok: false, error: `sandbox unavailable: ${(err as Error).message}` };
    }
    const proc = this.proc;
    if (proc === null) return { ok: false, error: 'sandbox unavailable: launcher exited' };
    const id = this.nextId++;
    let ended: (exit: LiveExit) => void = () => {};
    const exited = new Promise<LiveExit>((resolve) => {
      ended = resolve;
    });
    const send = (message: ClientMessage) => this.send(proc, message);
    let nextWrite = 1;
    const entry: Live = {
      proc,
      pid: null,
      sink,
      started: null,
      ended: (exit) => {
        clearTimeout(entry.deadline);
        for (const settle of entry.writes.values()) settle('closed');
        entry.writes.clear();
        ended(exit);
      },
      deadline: undefined,
      writes: new InflightMap(),
      handle: {
        get pid() {
          return entry.pid;
        },
        exited,
        write: (data, signal) => {
          // Ended (its exit came, or its launcher died): no answer would ever come for this write, and the
          // deadline below would kill a launcher that did nothing wrong.
          if (this.live.get(id) !== entry) return Promise.resolve('closed');
          return new Promise<InputOutcome>((settle) => {
            const seq = nextWrite++;
            // A launcher that does not answer within the write's own wait plus a grace is not working: it is
            // killed, which ends its processes and settles this write as closed.
            const late = setTimeout(() => {
              if (!entry.writes.has(seq)) return;
              this.options.log?.(`sandbox launcher (pid ${proc.pid}) did not answer a write in time; killing it`);
              proc.kill('SIGKILL');
            }, INPUT_WAIT_MS + LAUNCHER_GRACE_MS);
            const cancel = () => send({ t: 'cancel-write', id, seq });
            entry.writes.set(seq, (outcome) => {
              clearTimeout(late);
              signal?.removeEventListener('abort', cancel);
              settle(outcome);
            });
            send({ t: 'write', id, seq, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') });
            if (signal?.aborted) cancel();
            else signal?.addEventListener('abort', cancel, { once: true });
          });
        },
        closeInput: () => send({ t: 'close-input', id }),
        signal: (signal) => send({ t: 'signal', id, signal }),
        terminate: () => {
          send({ t: 'terminate', id });
          entry.deadline ??= setTimeout(() => {
            if (this.live.get(id) !== entry) return;
            this.options.log?.(`sandbox launcher (pid ${proc.pid}) did not end a process it was told to; killing it`);
            proc.kill('SIGKILL');
          }, KILL_GRACE_MS + LAUNCHER_GRACE_MS);
        },
      },
    };
    this.live.set(id, entry);
    const result = new Promise<LiveStart>((resolve) => {
      const late = setTimeout(() => {
        if (entry.started === null) return;
        entry.started = null;
        this.live.delete(id);
        resolve({ ok: false, error: `the sandbox launcher did not start the process within ${START_DEADLINE_MS / 1000} s; the launcher was restarted` });
        proc.kill('SIGKILL');
      }, START_DEADLINE_MS);
      entry.started = (r) => {
        clearTimeout(late);
        entry.started = null;
        resolve(r);
      };
    });
    void exited.then(() => this.live.get(id) === entry && this.live.delete(id));
    this.send(proc, { t: 'start', id, req });
    return result;
  }

  /**
   * pid of the running launcher process, or null. Null as soon as it has
   * exited, though its last messages may still be read: reaped, its pid is
   * the kernel's to hand out again, and the exit-at-once kills the tree under it.
   */
  get pid(): number | null {
    const proc = this.proc;
    return proc !== null && proc.exitCode === null && proc.signalCode === null ? proc.pid : null;
  }

  /** Starts the launcher if it is not running; resolves once it has confined itself. */
  start(): Promise<LayerReport> {
    if (this.closed) return Promise.reject(new Error('sandbox launcher is closed'));
    if (this.ready === null) {
      let ready: Promise<LayerReport>;
      try {
        ready = this.launch();
      } catch (err) {
        // Nothing was started (no room for the private TMPDIR, say): the next call tries again.
        return Promise.reject(err as Error);
      }
      this.ready = ready;
      // The next call tries again as soon as this one is refused, not once the process is seen to exit: a boot that
      // failed for a moment's reason (a grant renamed away just then) must not refuse the calls that follow it too.
      ready.catch((err: Error) => {
        if (this.ready === ready) this.ready = null;
        if (!(err instanceof LauncherConfineError)) this.options.onRefused?.(err.message.replace(/^sandbox launcher could not start: /, ''));
      });
    }
    return this.ready;
  }

  /** Runs one command in the sandbox. Never throws: failures come back as spawnError. */
  run(req: SandboxRunRequest, signal: AbortSignal | undefined = req.signal): Promise<SandboxRunResult> {
    const begun = performance.now();
    return this.submit(req, signal, begun, begun + req.timeoutMs + KILL_GRACE_MS + LAUNCHER_GRACE_MS, true);
  }

  /**
   * One attempt at a call. `settleBy` (a performance.now() time) is the
   * call's, not the attempt's: waiting for a launcher to boot and a resend to
   * a replacement come out of the same timeout plus grace, so a call ends by
   * then whatever its launchers do.
   */
  private async submit(req: SandboxRunRequest, signal: AbortSignal | undefined, begun: number, settleBy: number, mayRetry: boolean): Promise<SandboxRunResult> {
    const lateMessage = `the sandbox launcher did not finish the command within its timeout plus ${(KILL_GRACE_MS + LAUNCHER_GRACE_MS) / 1000} s; the launcher was restarted`;
    try {
      if (!(await settlesWithin(this.start(), Math.max(0, settleBy - performance.now())))) {
        return failed(`sandbox unavailable: no launcher was ready within the call's timeout plus ${(KILL_GRACE_MS + LAUNCHER_GRACE_MS) / 1000} s`, begun);
      }
    } catch (err) {
      return failed(`sandbox unavailable: ${(err as Error).message}`, begun);
    }
    if (signal?.aborted) return { ...failed('cancelled before start', begun), cancelled: true };
    const proc = this.proc;
    if (proc === null) return failed('sandbox unavailable: launcher exited', begun);
    // The command's own timeout is what is left of the call's: a resent call does not start its clock again.
    const timeoutMs = Math.round(req.timeoutMs - (performance.now() - begun));
    if (timeoutMs <= 0) return { ...failed("the call's time ran out before the command could start", begun), timedOut: true };
    const id = this.nextId++;
    const { signal: _omit, onProgress, ...rest } = req;
    const wire = { ...rest, timeoutMs, ...(onProgress ? { progress: true } : {}) };
    return new Promise<SandboxRunResult>((resolve) => {
      const onAbort = () => this.send(proc, { t: 'cancel', id });
      const settle = (result: SandboxRunResult) => {
        clearTimeout(entry.deadline);
        signal?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const entry: Pending = {
        proc,
        accepted: false,
        begun,
        settle,
        // The call fails at its own deadline whatever the launcher does; a
        // launcher that missed it is stopped or stuck, and is replaced.
        deadline: setTimeout(() => {
          if (this.pending.get(id) !== entry) return;
          this.pending.delete(id);
          settle(failed(lateMessage, begun));
          this.options.log?.(`sandbox launcher (pid ${proc.pid}) missed a call's deadline; killing it`);
          proc.kill('SIGKILL');
        }, Math.max(0, settleBy - performance.now())),
        // A launcher that died before saying it took the call never ran the
        // command (it starts one only once that is said): resend it, once, to
        // its replacement, so a crash does not fail calls that were only queued.
        retry: mayRetry ? () => void this.submit(req, signal, begun, settleBy, false).then(settle) : null,
        progress: onProgress,
      };
      this.pending.set(id, entry);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.send(proc, { t: 'run', id, req: wire });
    });
  }

  /** Stops the launcher (its commands die with it) and removes the private TMPDIR. */
  async close(): Promise<void> {
    this.closed = true;
    const proc = this.proc;
    if (proc) {
      try {
        proc.stdin.end();
      } catch {
        // Already closed.
      }
      // A launcher stopped or stuck in a write cannot see EOF; bound the wait.
      const force = setTimeout(() => proc.kill('SIGKILL'), LAUNCHER_CLOSE_MS);
      await proc.exited;
      clearTimeout(force);
    }
    this.failPending(null, 'sandbox launcher closed');
    this.loseLive(null, 'the sandbox launcher was closed; the process died with it');
    const tmpDir = this.tmpDir;
    this.tmpDir = null;
    const error = await tmpDir?.remove();
    if (error) this.options.log?.(`could not remove the private TMPDIR ${tmpDir!.path}: ${error.message}`);
  }

  /**
   * Kills the launcher process now (shutdown), and with it everything it runs:
   * its calls fail saying so, and no replacement is started until a call
   * needs one (unless closed).
   */
  kill(): void {
    if (this.proc === null) return;
    this.killed = this.proc;
    this.proc.kill('SIGKILL');
  }

  private spawnProcess(config: LauncherConfig): LauncherProcess {
    const argv = this.options.command ?? launcherArgv();
    // Only what the launcher needs: never the server's secrets.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...LAUNCHER_RUNTIME_ENV, [LAUNCHER_CONFIG_ENV]: JSON.stringify(config) };
    const ns = this.options.pidNamespaces;
    // As the init of a PID namespace of its own, through libc: see native-process.ts. Either way in its own
    // session, so a terminal's Ctrl-C goes to the server, which drains, not to the launcher.
    if (ns) return NativeProcess.spawnPiped(ns, { argv, env, cwd: '/' });
    return Bun.spawn(argv, { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', env, cwd: '/', detached: true });
  }

  /** Starts a launcher process; throws, having started nothing, when it cannot. */
  private launch(): Promise<LayerReport> {
    const { rules } = this.options;
    if (this.options.privateTmp !== false && this.tmpDir === null) {
      try {
        this.tmpDir = PrivateTmp.create(this.options.tmpParent);
      } catch (err) {
        throw new LauncherNotStartedError(`could not make the private TMPDIR: ${(err as Error).message}`);
      }
    }
    const tmpDir = this.tmpDir?.path ?? null;
    // Granted by its real path: each launcher checks that a read-write grant still leads to itself.
    const realTmp = tmpDir === null ? null : realpathSync(tmpDir);
    const config: LauncherConfig = {
      rules: realTmp ? { ...rules, readWrite: [...rules.readWrite, realTmp], fifoDirs: [realTmp], presentAtStart: [...(rules.presentAtStart ?? []), realTmp] } : rules,
      tmpDir,
      dropCapabilities: this.options.dropCapabilities !== false,
      ptys: this.options.ptys ?? MAX_PTYS_PER_LAUNCHER,
      ownLimits: inheritedLimits(this.options.commandLimits, LAUNCHER_LIMIT_RESERVE),
      nice: this.options.nice ?? 0,
    };
    let proc: LauncherProcess;
    try {
      proc = this.spawnProcess(config);
    } catch (err) {
      throw new LauncherNotStartedError(`could not start the sandbox launcher: ${(err as Error).message}`);
    }
    this.proc = proc;
    liveLauncherPids.add(proc.pid);
    void this.logStderr(proc);

    return new Promise<LayerReport>((resolve, reject) => {
      let wasReady = false;
      let late = false;
      const boot = setTimeout(() => {
        late = true;
        this.options.log?.(`sandbox launcher (pid ${proc.pid}) was not ready within ${BOOT_DEADLINE_MS / 1000} s; killing it`);
        proc.kill('SIGKILL');
      }, BOOT_DEADLINE_MS);
      const read = (async () => {
        try {
          for await (const raw of jsonLines<unknown>(proc.stdout)) {
            const parsed = v.safeParse(LauncherMessageSchema, raw);
            if (!parsed.success) throw new Error('malformed message');
            const message = parsed.output;
            if (message.t === 'ready') {
              clearTimeout(boot);
              wasReady = true;
              this.report = message.report;
              resolve(message.report);
              this.options.onReady?.(message.report);
            } else if (message.t === 'fatal') {
              reject(
                message.kernel === false
                  ? new Error(`sandbox launcher could not start: ${message.error}`)
                  : new LauncherConfineError(`sandbox launcher could not confine itself: ${message.error}`),
              );
            } else if (message.t === 'accepted') {
              const entry = this.pending.get(message.id);
              if (entry && entry.proc === proc) entry.accepted = true;
            } else if (message.t === 'started') {
              const live = this.live.get(message.id);
              if (live && live.proc === proc && live.started) {
                live.pid = message.pid ?? null;
                live.started({ ok: true, handle: live.handle });
              }
            } else if (message.t === 'output') {
              const live = this.live.get(message.id);
              if (live && live.proc === proc) live.sink(Buffer.from(message.data, 'base64'), message.lost);
              // The line, its text and the decoded copy are garbage now; a flood must not pile them up.
              noteTransientBytes(message.data.length * 4);
            } else if (message.t === 'exit') {
              const live = this.live.get(message.id);
              if (live && live.proc === proc) {
                this.live.delete(message.id);
                if (live.started) live.started({ ok: false, error: message.exit.spawnError ?? 'the process did not start' });
                live.ended(message.exit);
              }
            } else if (message.t === 'wrote') {
              const live = this.live.get(message.id);
              const settle = live && live.proc === proc ? live.writes.get(message.seq) : undefined;
              if (settle) {
                live!.writes.delete(message.seq);
                settle(message.outcome);
              }
            } else if (message.t === 'progress') {
              const entry = this.pending.get(message.id);
              if (entry && entry.proc === proc) entry.progress?.({ bytes: message.bytes, tail: message.tail });
            } else if (message.t === 'result') {
              const entry = this.pending.get(message.id);
              if (entry && entry.proc === proc) {
                this.pending.delete(message.id);
                entry.settle(message.res);
              }
            }
          }
          return true;
        } catch (err) {
          this.options.log?.(`sandbox launcher (pid ${proc.pid}) protocol error: ${(err as Error).message}; killing it`);
          proc.kill('SIGKILL');
          // What followed the bad line is not read: whether it took a call is not known.
          return false;
        }
      })();
      // What it wrote before it died is read first: its results settle their calls. Bounded, should something of
      // it still hold the pipe open; a call it never said it took waits for the whole read before it is resent.
      void proc.exited
        .then((code) => {
          clearTimeout(boot);
          return settlesWithin(read, EXIT_DRAIN_MS).then(() => code);
        })
        .then((code) => {
          reject(
            proc.signalCode === 'SIGSYS' && underSeccompFilter()
              ? new LauncherConfineError('sandbox launcher was killed by SIGSYS before it was ready: a seccomp profile refuses a call it needs', true)
              : proc.signalCode === 'SIGSYS'
                ? new Error('sandbox launcher was killed by SIGSYS before it was ready, and no seccomp filter is on this server to have sent it: another process did')
                : late
                ? new Error(`sandbox launcher was not ready within ${BOOT_DEADLINE_MS / 1000} s (stopped or stuck) and was killed`)
                : new Error(`sandbox launcher exited (${proc.signalCode ?? `code ${code}`}) before it was ready`),
          );
          this.onExit(proc, wasReady, read);
        });
    });
  }

  private async logStderr(proc: LauncherProcess): Promise<void> {
    const decoder = new TextDecoder();
    let pending = '';
    try {
      for await (const chunk of proc.stderr as unknown as AsyncIterable<Uint8Array>) {
        pending += decoder.decode(chunk, { stream: true });
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        if (pending.length > MAX_LOG_LINE) pending = pending.slice(0, MAX_LOG_LINE);
        for (const line of lines) if (line.trim() !== '') this.options.log?.(`sandbox launcher: ${line.slice(0, MAX_LOG_LINE)}`);
      }
    } catch {
      // Pipe closed as the launcher died.
    }
  }

  /**
   * `drained` settles once everything the launcher wrote has been read (never, while something else holds its
   * pipe): true, or false when a line it wrote was not a message and the rest went unread.
   */
  private onExit(proc: LauncherProcess, wasReady: boolean, drained: Promise<boolean>): void {
    liveLauncherPids.delete(proc.pid);
    const onPurpose = this.killed === proc;
    if (onPurpose) this.killed = null;
    if (this.proc === proc) {
      this.proc = null;
      this.ready = null;
      if (!this.closed && wasReady && !onPurpose) {
        this.restarts++;
        this.options.log?.(`sandbox launcher (pid ${proc.pid}) exited unexpectedly; restarting`);
        this.start().catch((err: Error) => this.options.log?.(`sandbox launcher restart failed: ${err.message}`));
      }
    }
    this.options.onExit?.();
    if (onPurpose) {
      this.failPending(proc, 'the command was killed: the server is shutting down', false);
      this.loseLive(proc, 'killed: the server is shutting down');
      return;
    }
    // After the replacement is under way, so retried calls go to it.
    this.failPending(proc, 'sandbox launcher exited after taking the command: it ran in part, in full or not at all, and was killed with the launcher', true, drained);
    this.loseLive(proc, 'its sandbox launcher exited; the process died with it');
  }

  /** Ends the long-lived processes of `proc` (all when null): they died with their launcher. */
  private loseLive(proc: LauncherProcess | null, message: string): void {
    for (const [id, live] of this.live) {
      if (proc !== null && live.proc !== proc) continue;
      this.live.delete(id);
      if (live.started) live.started({ ok: false, error: message });
      live.ended({ exitCode: -1, signal: null, durationMs: 0, spawnError: null, lost: message });
    }
  }

  /**
   * Settles calls of `proc` (all when null). A call it never said it took is
   * resent once to its replacement, unless it was killed on purpose — but only
   * once everything it wrote has been read (`drained`): its word that it took
   * the call may still be in the pipe, and a call resent on a guess could run
   * twice. Should that read never end, the call ends at its deadline; should
   * it have stopped at a line that was no message, the call is not resent.
   */
  private failPending(proc: LauncherProcess | null, message: string, mayRetry = true, drained: Promise<boolean> = Promise.resolve(true)): void {
    for (const [id, entry] of this.pending) {
      if (proc !== null && entry.proc !== proc) continue;
      if (!mayRetry || entry.accepted || !entry.retry || this.closed) {
        this.pending.delete(id);
        entry.settle(failed(message, entry.begun));
        continue;
      }
      const retry = entry.retry;
      void drained.then((whole) => {
        // Settled meanwhile: its result was read after all, or its deadline passed.
        if (this.pending.get(id) !== entry) return;
        this.pending.delete(id);
        if (entry.accepted || !whole || this.closed) return entry.settle(failed(message, entry.begun));
        clearTimeout(entry.deadline);
        retry();
      });
    }
  }

  private send(proc: LauncherProcess, message: ClientMessage): void {
    try {
      proc.stdin.write(`${JSON.stringify(message)}\n`);
      proc.stdin.flush();
    } catch {
      // The launcher is gone; its exit handler settles the call.
    }
  }
}
