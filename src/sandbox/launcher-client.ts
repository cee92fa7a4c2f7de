/**
 * Server side of the sandbox: starts the launcher (launcher.ts) as a child,
 * sends it commands and matches results to calls, cancels calls on abort,
 * restarts the launcher when it dies (killing the groups of the calls it had
 * in flight, which would otherwise survive it), and owns the private TMPDIR
 * shared by the launcher's commands.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LandlockRules, RestrictReport } from './landlock.ts';
import { launcherArgv } from './launcher.ts';
import {
  type ClientMessage,
  jsonLines,
  LAUNCHER_CONFIG_ENV,
  type LauncherConfig,
  type LauncherMessage,
  type SandboxRunRequest,
  type SandboxRunResult,
} from './protocol.ts';
import { killGroup, notStarted } from '../exec/spawn.ts';

export interface SandboxLauncherOptions {
  rules: LandlockRules;
  /** Command that starts a launcher; default launcherArgv(). */
  command?: string[];
  /**
   * Create a private 0700 scratch directory under the server's tmpdir, grant
   * it read-write and export it as TMPDIR to every command. Default true.
   */
  privateTmp?: boolean;
  /** Drop all capabilities in the launcher (root servers). Default true. */
  dropCapabilities?: boolean;
  /** Receives warnings: unexpected exits, restart failures. */
  log?: (message: string) => void;
}

type LauncherProcess = ReturnType<typeof Bun.spawn<'pipe', 'pipe', 'inherit'>>;

interface Pending {
  proc: LauncherProcess;
  pid: number | null;
  started: number;
  settle(result: SandboxRunResult): void;
  retry: (() => void) | null;
}

const failed = (message: string, started: number): SandboxRunResult => notStarted(message, started);

/**
 * @example
 * const sandbox = new SandboxLauncher({ rules: sandboxRules({ workspace, network: 'off' }) });
 * await sandbox.start();              // throws when Landlock cannot be applied
 * const res = await sandbox.run({ argv: ['/usr/bin/ls'], cwd: workspace, env, timeoutMs: 30_000, maxOutputBytes: 1 << 20 });
 * await sandbox.close();
 */
export class SandboxLauncher {
  private proc: LauncherProcess | null = null;
  private ready: Promise<RestrictReport> | null = null;
  private readonly pending = new Map<number, Pending>();

  /** Commands the launcher is running for us now (for the child-process gauge). */
  get running(): number {
    return this.pending.size;
  }
  private nextId = 1;
  private closed = false;
  private tmpDir: string | null = null;
  /** What the running launcher enforced, once ready. */
  report: RestrictReport | null = null;
  /** Times the launcher was restarted after dying. */
  restarts = 0;

  constructor(private readonly options: SandboxLauncherOptions) {}

  /** pid of the running launcher, or null. */
  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  /** Starts the launcher if it is not running; resolves once it has confined itself. */
  start(): Promise<RestrictReport> {
    if (this.closed) return Promise.reject(new Error('sandbox launcher is closed'));
    this.ready ??= this.launch();
    return this.ready;
  }

  /** Runs one command in the sandbox. Never throws: failures come back as spawnError. */
  run(req: SandboxRunRequest, signal: AbortSignal | undefined = req.signal): Promise<SandboxRunResult> {
    return this.submit(req, signal, performance.now(), true);
  }

  private async submit(
    req: SandboxRunRequest,
    signal: AbortSignal | undefined,
    started: number,
    mayRetry: boolean,
  ): Promise<SandboxRunResult> {
    try {
      await this.start();
    } catch (err) {
      return failed(`sandbox unavailable: ${(err as Error).message}`, started);
    }
    if (signal?.aborted) return { ...failed('cancelled before start', started), cancelled: true };
    const proc = this.proc;
    if (proc === null) return failed('sandbox unavailable: launcher exited', started);
    const id = this.nextId++;
    const { signal: _omit, ...wire } = req;
    return new Promise<SandboxRunResult>((resolve) => {
      const onAbort = () => this.send(proc, { t: 'cancel', id });
      const settle = (result: SandboxRunResult) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      this.pending.set(id, {
        proc,
        pid: null,
        started,
        settle,
        // A launcher that died before reporting the spawn never ran the
        // command (it reports right after spawning): resend it, once, to its
        // replacement, so a crash does not fail calls that were only queued.
        retry: mayRetry ? () => void this.submit(req, signal, started, false).then(settle) : null,
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.send(proc, { t: 'run', id, req: wire });
    });
  }

  /** Stops the launcher (it kills every running command) and removes the private TMPDIR. */
  async close(): Promise<void> {
    this.closed = true;
    const proc = this.proc;
    if (proc) {
      try {
        proc.stdin.end();
      } catch {
        // Already closed.
      }
      // A launcher stuck in a write cannot see EOF; bound the wait.
      const force = setTimeout(() => proc.kill('SIGKILL'), 2000);
      await proc.exited;
      clearTimeout(force);
    }
    this.failPending(null, 'sandbox launcher closed');
    if (this.tmpDir) rmSync(this.tmpDir, { recursive: true, force: true });
    this.tmpDir = null;
  }

  private launch(): Promise<RestrictReport> {
    const { rules } = this.options;
    if (this.options.privateTmp !== false && this.tmpDir === null) {
      this.tmpDir = mkdtempSync(join(tmpdir(), 'hide-sandbox-'));
    }
    const config: LauncherConfig = {
      rules: this.tmpDir ? { ...rules, readWrite: [...rules.readWrite, this.tmpDir] } : rules,
      tmpDir: this.tmpDir,
      dropCapabilities: this.options.dropCapabilities !== false,
    };
    const proc = Bun.spawn(this.options.command ?? launcherArgv(), {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'inherit',
      // Only what the launcher needs: never the server's secrets, which the
      // launcher's commands could read back from its environment.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', [LAUNCHER_CONFIG_ENV]: JSON.stringify(config) },
      cwd: '/',
    });
    this.proc = proc;

    return new Promise<RestrictReport>((resolve, reject) => {
      let wasReady = false;
      void (async () => {
        try {
          for await (const message of jsonLines<LauncherMessage>(proc.stdout)) {
            if (message.t === 'ready') {
              wasReady = true;
              this.report = message.report;
              resolve(message.report);
            } else if (message.t === 'fatal') {
              reject(new Error(`sandbox launcher could not confine itself: ${message.error}`));
            } else if (message.t === 'started') {
              const entry = this.pending.get(message.id);
              if (entry) entry.pid = message.pid;
            } else if (message.t === 'result') {
              const entry = this.pending.get(message.id);
              this.pending.delete(message.id);
              entry?.settle(message.res);
            }
          }
        } catch (err) {
          this.options.log?.(`sandbox launcher protocol error: ${(err as Error).message}`);
          proc.kill('SIGKILL');
        }
      })();
      void proc.exited.then((code) => {
        reject(new Error(`sandbox launcher exited (code ${code}) before it was ready`));
        this.onExit(proc, wasReady);
      });
    });
  }

  private onExit(proc: LauncherProcess, wasReady: boolean): void {
    if (this.proc === proc) {
      this.proc = null;
      this.ready = null;
      if (!this.closed && wasReady) {
        this.restarts++;
        this.options.log?.(`sandbox launcher (pid ${proc.pid}) exited unexpectedly; restarting`);
        this.start().catch((err: Error) => this.options.log?.(`sandbox launcher restart failed: ${err.message}`));
      }
    }
    // After the replacement is under way, so retried calls go to it.
    this.failPending(proc, 'sandbox launcher exited while the command ran');
  }

  /** Settles calls of `proc` (all when null), killing groups a dead launcher left behind. */
  private failPending(proc: LauncherProcess | null, message: string): void {
    for (const [id, entry] of this.pending) {
      if (proc !== null && entry.proc !== proc) continue;
      this.pending.delete(id);
      if (entry.pid !== null) killGroup(entry.pid, 'SIGKILL');
      if (entry.pid === null && entry.retry && !this.closed) entry.retry();
      else entry.settle(failed(message, entry.started));
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
