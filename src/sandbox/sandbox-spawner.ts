/**
 * The sandboxed Spawner: one launcher process per client, each confining
 * itself on its own, so two clients' commands live in sibling Landlock
 * domains and cannot signal, ptrace or read each other through /proc. A
 * launcher is started on a client's first call (a spare, booted ahead, is
 * handed to the next new client so that call does not wait for a boot) and
 * closed after a minute without calls.
 *
 * Unless a supervisor above it does that (supervisor.ts), the server is a
 * child subreaper: whatever a launcher that died leaves behind is
 * re-parented to it, and it kills every child it did not spawn itself — the
 * kernel, not the orphan, says where the orphan came from.
 */
import { ToolLimitError } from '../core/errors.ts';
import type { LiveStart, OutputSink } from '../exec/live.ts';
import { notStarted, type SpawnResult } from '../exec/spawn.ts';
import type { OwnedLiveRequest, OwnedSpawnRequest, Spawner } from '../exec/spawner.ts';
import { LauncherConfineError, liveLauncherPids, SandboxLauncher, type SandboxLauncherOptions } from './launcher-client.ts';
import { becomeSubreaper, isSandboxed, killProcessTree, procMatchesOwnPids, SETTLE_MS, sweepUntilNoneLeft, sweepUntilQuiet } from './orphans.ts';
import { ptysPerLauncher, sharedPtyPool } from './private-proc.ts';
import type { LayerReport } from './protocol.ts';
import { DEFAULT_DEVICES, DEFAULT_PROC, DEFAULT_READ_ONLY } from './rules.ts';
import { inheritedLimits, type ResourceLimits } from './rlimits.ts';
import { underSupervisor, whenSupervisorGone } from './supervisor.ts';

/** Longest one sweep of a server stopping without its supervisor may block, before the rest goes on 10 ms later. */
const WHOLE_FOREST_SWEEP_MS = 2000;

/** A launcher with no call for this long is closed. */
export const IDLE_CLOSE_MS = 60_000;
/**
 * Most launchers alive at once by default (each costs some 10 MB PSS). Past it
 * an idle client's launcher is closed to make room; when every one is busy, a
 * new client's call is refused rather than share another client's sandbox.
 */
export const MAX_LAUNCHERS = 64;

/** What a refused client is told to wait before retrying: a launcher frees when another client's calls end. */
const LAUNCHER_RETRY_SECONDS = 5;

/** The refusal of a new client while every launcher runs another client's commands: a 429 like the other limits. */
function launchersBusy(max: number): ToolLimitError {
  return new ToolLimitError(
    `sandbox launcher limit reached: the sandbox already runs commands for ${max} other clients (HIDE_SANDBOX_MAX_LAUNCHERS); retry when one of them is done`,
    LAUNCHER_RETRY_SECONDS,
    { reason: 'launchers', max },
  );
}

interface Entry {
  launcher: SandboxLauncher;
  idle: ReturnType<typeof setTimeout> | undefined;
  /**
   * Calls handed this launcher and not yet settled. The launcher counts a
   * call only once it has booted and sent it, so without this a new client
   * arriving at the bound in between closed it under the call.
   */
  calls: number;
}

export interface SandboxSpawnerOptions extends Omit<SandboxLauncherOptions, 'onExit'> {
  /** Per-call resource limits applied to every command. */
  limits?: ResourceLimits;
  /** Output a launcher may hold per long-lived process while the server reads slowly; default 1 MiB. */
  livePendingBytes?: number;
  /** Idle time before a client's launcher is closed; default IDLE_CLOSE_MS. */
  idleCloseMs?: number;
  /** Most launchers at once; default MAX_LAUNCHERS. */
  maxLaunchers?: number;
}

const busy = (entry: Entry): boolean => entry.calls > 0 || entry.launcher.running > 0;

export class SandboxSpawner implements Spawner {
  private readonly byOwner = new Map<string, Entry>();
  private spare: SandboxLauncher | null = null;
  private closed = false;
  private sweepsOrphans = false;
  /**
   * True once the server has taken what launchers leave over from a
   * supervisor that died: it is stopping, and sweeps as the supervisor did,
   * the whole forest stopped first, blocking.
   */
  private sweepsWholeForest = false;

  /** True once close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  constructor(private readonly options: SandboxSpawnerOptions) {
    // At once without a supervisor; under one, once it has died (the server is then stopping, and what the
    // launchers it stops leave is its own to kill).
    if (procMatchesOwnPids()) {
      const supervised = underSupervisor();
      whenSupervisorGone(() => {
        becomeSubreaper();
        this.sweepsOrphans = true;
        this.sweepsWholeForest = supervised;
        if (supervised) this.sweep();
      });
    }
  }

  /**
   * Boots the spare launcher and resolves with what it enforces; rejects when
   * a launcher cannot confine itself (the caller decides: refuse or run unsandboxed).
   */
  async start(): Promise<LayerReport> {
    if (this.closed) throw new Error('the sandbox is closed');
    this.spare ??= this.newLauncher();
    return this.spare.start();
  }

  /**
   * Whether the kernel confines a launcher that grants no path a command could move: the system's read-only trees
   * and the device nodes, no private TMPDIR. Asked when a launcher could not confine itself, before that is taken
   * for what the kernel allows: a command of another server can rename a path this one grants while its launcher
   * boots, and a launcher can be sent the SIGSYS a seccomp profile would kill it with. True when this one confines,
   * false when it says it cannot confine either, null when it could not even start or was killed (a process may
   * send SIGSYS to every launcher that boots, this one too).
   */
  async kernelConfines(): Promise<boolean | null> {
    const probe = new SandboxLauncher({
      ...this.launcherOptions(),
      // Not a launcher of the server's: what it enforces is no layer report.
      onReady: undefined,
      rules: { readWrite: [...DEFAULT_DEVICES], readOnly: [...DEFAULT_READ_ONLY, ...DEFAULT_PROC], network: this.options.rules.network },
      privateTmp: false,
      ptys: 1,
      onExit: () => this.sweep(),
    });
    try {
      await probe.start();
      return true;
    } catch (err) {
      return err instanceof LauncherConfineError && !err.killed ? false : null;
    } finally {
      await probe.close();
    }
  }

  get running(): number {
    let n = 0;
    for (const { launcher } of this.byOwner.values()) n += launcher.running;
    return n;
  }

  /** Launcher processes alive now (one per active client, plus the spare). */
  get launchers(): number {
    return this.byOwner.size + (this.spare ? 1 : 0);
  }

  /** Terminals each launcher may hold at once, worked out with the first launcher. */
  private ptys: number | undefined;

  private get maxLaunchers(): number {
    return this.options.maxLaunchers ?? MAX_LAUNCHERS;
  }

  /** The launcher that runs `owner`'s commands, if one is up (tests). */
  launcherOf(owner: string): SandboxLauncher | null {
    return this.byOwner.get(owner)?.launcher ?? null;
  }

  /** Throws ToolLimitError when `owner` has no launcher and every launcher is busy with other clients. */
  async run(req: OwnedSpawnRequest): Promise<SpawnResult> {
    if (this.closed) return notStarted('the server is shutting down');
    const { owner, memoryBytes, ...spawn } = req;
    const entry = this.entryFor(owner);
    if (entry === null) throw launchersBusy(this.maxLaunchers);
    clearTimeout(entry.idle);
    entry.idle = undefined;
    entry.calls++;
    try {
      const result = await entry.launcher.run({ ...spawn, limits: withMemoryAtMost(this.options.limits, memoryBytes) });
      return result.spawnError === null ? result : { ...result, spawnError: explainRefusedStart(result.spawnError) };
    } finally {
      entry.calls--;
      this.idleLater(owner, entry);
    }
  }

  /** A long-lived process in the client's own launcher: the same confinement as its commands; refused as `run` is. */
  async startLive(req: OwnedLiveRequest, sink: OutputSink): Promise<LiveStart> {
    if (this.closed) return { ok: false, error: 'the server is shutting down' };
    const { owner, ...live } = req;
    const entry = this.entryFor(owner);
    if (entry === null) throw launchersBusy(this.maxLaunchers);
    clearTimeout(entry.idle);
    entry.idle = undefined;
    entry.calls++;
    let started: LiveStart;
    try {
      started = await entry.launcher.startLive({ ...live, limits: this.options.limits, pendingBytes: this.options.livePendingBytes ?? 1024 * 1024 }, sink);
    } finally {
      entry.calls--;
    }
    if (started.ok) void started.handle.exited.then(() => this.idleLater(owner, entry));
    else this.idleLater(owner, entry);
    return started.ok ? started : { ...started, error: explainRefusedStart(started.error) };
  }

  /** Starts the idle clock of a client's launcher once it runs nothing. */
  private idleLater(owner: string, entry: Entry): void {
    if (!busy(entry) && this.byOwner.get(owner) === entry) {
      clearTimeout(entry.idle);
      entry.idle = setTimeout(() => this.retire(owner, entry), this.options.idleCloseMs ?? IDLE_CLOSE_MS);
      entry.idle.unref?.();
    }
  }

  killAll(): void {
    // One bound for every tree's settling: the exit waits on it once, not once per client.
    const settleBy = performance.now() + SETTLE_MS;
    for (const { launcher } of this.byOwner.values()) {
      // Without a PID namespace nothing a launcher runs dies with it, and the server may exit right after (a
      // second stop signal) without sweeping what it leaves: its whole tree is stopped and killed now, the
      // launcher first, so nothing is re-parented away unseen.
      const pid = launcher.pid;
      if (pid !== null && this.sweepsOrphans && !this.options.pidNamespaces) killProcessTree(pid, settleBy);
      launcher.kill();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.byOwner.values()].map((e) => {
      clearTimeout(e.idle);
      return e.launcher.close();
    });
    if (this.spare) all.push(this.spare.close());
    this.byOwner.clear();
    this.spare = null;
    await Promise.all(all);
    this.sweep(true);
  }

  private entryFor(owner: string): Entry | null {
    let entry = this.byOwner.get(owner);
    if (!entry) {
      if (this.byOwner.size >= this.maxLaunchers && !this.retireOneIdle()) return null;
      const launcher = this.spare ?? this.newLauncher();
      this.spare = null;
      entry = { launcher, idle: undefined, calls: 0 };
      this.byOwner.set(owner, entry);
      // The next new client gets a launcher that has already booted.
      if (!this.closed) {
        this.spare = this.newLauncher();
        this.spare.start().catch(() => {});
      }
    }
    return entry;
  }

  /** Closes the launcher of one client with nothing running; false when every client is busy. */
  private retireOneIdle(): boolean {
    for (const [owner, entry] of this.byOwner) {
      if (!busy(entry)) {
        clearTimeout(entry.idle);
        this.byOwner.delete(owner);
        void entry.launcher.close();
        return true;
      }
    }
    return false;
  }

  private retire(owner: string, entry: Entry): void {
    if (this.byOwner.get(owner) !== entry || busy(entry)) return;
    this.byOwner.delete(owner);
    void entry.launcher.close();
  }

  /** The options every launcher takes from this spawner's (not the spawner's own). */
  private launcherOptions(): Omit<SandboxLauncherOptions, 'onExit'> {
    const { limits: _l, idleCloseMs: _i, maxLaunchers: _m, livePendingBytes: _p, ...launcherOptions } = this.options;
    return launcherOptions;
  }

  private newLauncher(): SandboxLauncher {
    // Every launcher there can be at once (the clients' and the spare) together within their share of the kernel's terminals.
    this.ptys ??= ptysPerLauncher(this.maxLaunchers + 1, sharedPtyPool());
    return new SandboxLauncher({ ...this.launcherOptions(), ptys: this.ptys, commandLimits: inheritedLimits(this.options.limits), onExit: () => this.sweep() });
  }

  /**
   * Kills what dead launchers left re-parented to us: sandboxed children
   * that are not a live launcher (of any spawner in this process).
   */
  private sweep(last = false): void {
    if (!this.sweepsOrphans) return;
    if (!this.sweepsWholeForest) {
      sweepUntilQuiet(() => liveLauncherPids, isSandboxed);
      return;
    }
    // A fork bomb a dead launcher left would regrow from what sweeps of one tree at a time leave running (see
    // sweepUntilNoneLeft); the last one, once every launcher is closed, waits for what it killed to be gone.
    if (last) sweepUntilNoneLeft({ keep: liveLauncherPids });
    else if (!sweepUntilNoneLeft({ keep: liveLauncherPids, limitMs: WHOLE_FOREST_SWEEP_MS, waitForDying: false })) setTimeout(() => this.sweep(), 10);
  }
}

/**
 * A program the server found but the sandbox keeps from the command fails to
 * start with EACCES (outside what commands may read) or ENOENT (in a place
 * the sandbox shows empty, such as /tmp), which read as a file-mode problem
 * or a missing file; say where to look instead. A PATH entry outside what
 * commands may read (a version manager's shims under a home directory, say)
 * meets this first.
 */
function explainRefusedStart(error: string): string {
  if (!error.startsWith('could not start ') || !/\b(EACCES|ENOENT)\b/.test(error)) return error;
  return `${error} (the sandbox lets commands run programs only from the workspace, the allowed paths and the system paths of HIDE_SANDBOX_READ_ONLY_PATHS; give the command by a path there, or add its directory)`;
}

/** `limits` with data memory at most `bytes` (when given): the lower of the two. */
function withMemoryAtMost(limits: ResourceLimits | undefined, bytes: number | undefined): ResourceLimits | undefined {
  if (bytes === undefined) return limits;
  const configured = limits?.memoryBytes;
  return { ...limits, memoryBytes: configured === undefined ? bytes : Math.min(configured, bytes) };
}
