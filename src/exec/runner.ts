/**
 * The command runner behind the shell tools: applies the exec policy (name
 * checks, PATH resolution, allow/deny lists), confines the working directory,
 * builds the child's environment and hands the argv to the spawner — local
 * process groups or the sandbox's per-client launchers.
 */
import { closeSync, constants, fstatSync, openSync, realpathSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { AccessRevoked } from '../core/errors.ts';
import { isWithin } from '../util/path-within.ts';
import type { Confiner } from '../workspace/confine.ts';
import { PathRefusedError } from '../workspace/confine.ts';
import { type FileIdentity, hasProcFd, O_PATH, openDirectory, whereOpen } from '../workspace/open.ts';
import {
  buildChildEnv,
  CommandRefusedError,
  checkCommandAllowed,
  type CommandLists,
  resolveExecutable,
  validateCommandName,
} from './policy.ts';
import type { LiveStart, OutputSink, TerminalSize } from './live.ts';
import { notStarted, type OutputProgress, type SpawnResult } from './spawn.ts';
import type { Spawner } from './spawner.ts';
import { textWithinJsonBudget } from '../util/json-text-cost.ts';

export interface RunnerSettings extends CommandLists {
  defaultTimeoutSeconds: number;
  maxTimeoutSeconds: number;
  maxOutputBytes: number;
  envPassthrough: readonly string[];
}

export interface RunRequest {
  command: string;
  arguments?: readonly string[];
  workingDirectory?: string;
  timeoutSeconds?: number;
  signal?: AbortSignal;
  /** The client the command runs for; the sandbox never lets two clients' commands meet. */
  owner: string;
  /** Receives the output's progress while the command runs (throttled). */
  onProgress?: (progress: OutputProgress) => void;
  /**
   * The server's own command, not a client's: it runs from `/` with HOME
   * `/nonexistent`, looked up (and running) on a PATH without the entries
   * that lie in the workspace or an allowed path (`bun run` and npx put a
   * project's `node_modules/.bin` first), so no file a client can write (a
   * program, a toolchain file, a config under HOME) can choose what it
   * runs. Set for commands a client without the command tools causes.
   */
  outsideWorkspace?: true;
}

export interface StartRequest {
  command: string;
  arguments?: readonly string[];
  workingDirectory?: string;
  /** Added to the child environment; checked against the allow list by the caller. */
  env?: Record<string, string>;
  terminal: TerminalSize | null;
  owner: string;
}

export interface RunResult extends SpawnResult {
  /** Why the command did not run or did not finish, in words an agent can act on; null on a normal exit. */
  error: string | null;
}

function refused(message: string): RunResult {
  return { ...notStarted(message, performance.now()), durationMs: 0, error: message };
}

/**
 * How long a PATH lookup and policy verdict are reused. Short enough that a
 * newly installed tool or a changed symlink is seen within a second, long
 * enough that a burst of calls does not stat every PATH entry each time.
 */
const RESOLVE_TTL_MS = 1000;

interface Resolved {
  at: number;
  /** The executable, or the refusal message. */
  executable: string | null;
  refusal: string | null;
}

export class CommandRunner {
  private readonly childEnv: Record<string, string>;
  /** The environment of an `outsideWorkspace` command. */
  private readonly outsideEnv: Record<string, string>;
  private readonly resolved = new Map<string, Resolved>();

  constructor(
    private readonly settings: RunnerSettings,
    private readonly confiner: Confiner,
    private spawner: Spawner,
    serverEnv: Record<string, string | undefined> = process.env,
  ) {
    this.childEnv = buildChildEnv(serverEnv, settings.envPassthrough, confiner.workspace);
    this.outsideEnv = { ...this.childEnv, HOME: '/nonexistent', PATH: pathOutside(this.childEnv.PATH!, confiner.roots) };
  }

  /**
   * The program `name` means for an `outsideWorkspace` command, or null: found
   * on the reduced PATH, and itself (links followed) outside what a client can
   * write. A link in a PATH directory may point into the workspace.
   */
  programOutside(name: string): string | null {
    const found = Bun.which(name, { PATH: this.outsideEnv.PATH!, cwd: '/' });
    return found !== null && this.outsideRoots(found) ? found : null;
  }

  /** True when `program`, links followed, lies outside every root a client can write. */
  private outsideRoots(program: string): boolean {
    try {
      const real = realpathSync(program);
      return !this.confiner.roots.some((root) => isWithin(root, real));
    } catch {
      return false;
    }
  }

  /**
   * The workspace as the default working directory, without a walk per
   * call: opened by its (real) name and asked where it is, so a directory
   * above it replaced by a link is refused, while a workspace re-made in
   * its place (a fresh clone) is entered. Null without /proc.
   */
  private workspaceInPlace(): { cwd: string; cwdIdentity: FileIdentity } | null {
    if (!hasProcFd()) return null;
    const ws = this.confiner.workspace;
    let fd: number;
    try {
      fd = openSync(ws, O_PATH | constants.O_DIRECTORY);
    } catch {
      throw new PathRefusedError(`the workspace ${ws} is gone`, '.', 'missing');
    }
    try {
      // With /proc (checked above) a descriptor that cannot say where it is counts as elsewhere.
      const where = whereOpen(fd) ?? 'a place /proc cannot name';
      if (where !== ws) throw new PathRefusedError(`the workspace ${ws} now leads to ${where} (a directory on its path was replaced by a link)`, '.');
      const st = fstatSync(fd);
      return { cwd: ws, cwdIdentity: { dev: st.dev, ino: st.ino } };
    } finally {
      closeSync(fd);
    }
  }

  /** PATH lookup plus allow/deny verdict, memoised briefly per (bare command name, cwd, PATH). */
  private resolve(command: string, cwd: string, path = this.childEnv.PATH!): string {
    const key = `${command}\0${cwd}\0${path}`;
    const now = performance.now();
    let hit = this.resolved.get(key);
    if (!hit || now - hit.at > RESOLVE_TTL_MS) {
      hit = { at: now, executable: null, refusal: null };
      const found = resolveExecutable(command, path, cwd);
      if (!found) {
        hit.refusal = command.includes('/') ? `command '${command}' was not found or is not executable` : `command '${command}' was not found on PATH (${path})`;
      } else {
        try {
          checkCommandAllowed(found, this.settings, this.confiner.roots, (name) => resolveExecutable(name, path, cwd));
          hit.executable = found;
        } catch (err) {
          if (!(err instanceof CommandRefusedError)) throw err;
          hit.refusal = err.message;
        }
      }
      // Paths (./x, /abs/x) are never memoised: they may point into the
      // workspace, which a command can change between two calls.
      if (!command.includes('/')) {
        if (this.resolved.size >= 1024) this.resolved.clear();
        this.resolved.set(key, hit);
      }
    }
    if (hit.refusal !== null) throw new CommandRefusedError(hit.refusal);
    return hit.executable!;
  }

  /**
   * The working directory, confined, and the inode its walk (which follows
   * no symlink) found: the spawn enters that inode or nothing (working-dir.ts),
   * so a directory on the way swapped for a symlink meanwhile cannot start
   * the command outside.
   */
  private async workingDirectory(input: string | undefined): Promise<{ cwd: string; cwdIdentity: FileIdentity }> {
    const inPlace = input === undefined || input === '' ? this.workspaceInPlace() : null;
    if (inPlace !== null) return inPlace;
    const real = await this.confiner.resolveDirectory(input);
    const dir = await openDirectory(this.confiner, input ?? '.', real);
    try {
      const st = await dir.handle.stat();
      return { cwd: dir.real, cwdIdentity: { dev: st.dev, ino: st.ino } };
    } finally {
      await dir.handle.close();
    }
  }

  /** The policy checks every start shares: command name, arguments, PATH lookup, allow/deny lists, working directory. */
  private async prepare(
    req: Pick<RunRequest, 'command' | 'arguments' | 'workingDirectory' | 'outsideWorkspace'>,
  ): Promise<{ argv: string[]; cwd: string; cwdIdentity?: FileIdentity } | { refusal: string }> {
    try {
      validateCommandName(req.command);
      for (const arg of req.arguments ?? []) {
        if (arg.includes('\0')) throw new CommandRefusedError('an argument contains a NUL byte');
      }
      // `/` is no client's to change, so there is nothing to pin.
      const { cwd, cwdIdentity } = req.outsideWorkspace ? { cwd: '/', cwdIdentity: undefined } : await this.workingDirectory(req.workingDirectory);
      const path = req.outsideWorkspace ? this.outsideEnv.PATH : this.childEnv.PATH;
      const program = this.resolve(req.command, cwd, path);
      if (req.outsideWorkspace && !this.outsideRoots(program)) {
        throw new CommandRefusedError(`'${program}' leads into the workspace or an allowed path, which clients can write; this command runs only programs they cannot`);
      }
      return { argv: [program, ...(req.arguments ?? [])], cwd, cwdIdentity };
    } catch (err) {
      if (err instanceof CommandRefusedError || err instanceof PathRefusedError) {
        const prefix = err instanceof PathRefusedError ? 'workingDirectory refused: ' : '';
        return { refusal: prefix + err.message };
      }
      throw err;
    }
  }

  /**
   * Starts a long-lived process under the same rules as `run`: policy,
   * confined working directory, the minimal child environment (plus `env`,
   * which the caller has checked against its allow list) and the spawner's
   * confinement.
   */
  async start(req: StartRequest, sink: OutputSink): Promise<LiveStart> {
    const prepared = await this.prepare(req);
    if ('refusal' in prepared) return { ok: false, error: prepared.refusal };
    return this.spawner.startLive({
      owner: req.owner,
      argv: prepared.argv,
      cwd: prepared.cwd,
      cwdIdentity: prepared.cwdIdentity,
      env: req.env ? { ...this.childEnv, ...req.env } : this.childEnv,
      terminal: req.terminal,
    }, sink);
  }

  async run(req: RunRequest): Promise<RunResult> {
    const timeoutSeconds = req.timeoutSeconds ?? this.settings.defaultTimeoutSeconds;
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > this.settings.maxTimeoutSeconds) {
      return refused(`timeoutSeconds must be an integer from 1 to ${this.settings.maxTimeoutSeconds}`);
    }
    const prepared = await this.prepare(req);
    if ('refusal' in prepared) return refused(prepared.refusal);
    const { argv, cwd, cwdIdentity } = prepared;

    const result = await this.spawner.run({
      owner: req.owner,
      argv,
      cwd,
      cwdIdentity,
      env: req.outsideWorkspace ? this.outsideEnv : this.childEnv,
      timeoutMs: timeoutSeconds * 1000,
      maxOutputBytes: this.settings.maxOutputBytes,
      signal: req.signal,
      onProgress: req.onProgress,
    });
    let error: string | null = result.spawnError;
    // A call whose time ran out, or that was cancelled, before its command started says so in its spawnError.
    if (result.timedOut) error = error === null ? `command timed out after ${timeoutSeconds} s; its process group was killed` : `command timed out after ${timeoutSeconds} s: ${error}`;
    else if (result.cancelled) {
      const why = req.signal?.reason instanceof AccessRevoked ? `the server stopped it: ${req.signal.reason.message}` : 'the client went away';
      error = error === null ? `command cancelled: ${why}; its process group was killed` : `command cancelled: ${why}: ${error}`;
    }
    else if (!error && result.exitCode !== 0) error = `command exited with code ${result.exitCode}`;
    // The cap counts bytes; an answer carries each stream as JSON text, where a control byte is six characters
    // (`\u0001`): 256 KiB of them on each stream made a 6.8 MB answer. Each stream gets twice the cap of JSON text.
    const stdout = textWithinJsonBudget(result.stdout, 2 * this.settings.maxOutputBytes);
    const stderr = textWithinJsonBudget(result.stderr, 2 * this.settings.maxOutputBytes);
    return { ...result, stdout: stdout.text, stderr: stderr.text, truncated: result.truncated || stdout.cut || stderr.cut, error };
  }
}

/**
 * `path` without the entries a client can write into: those within one of
 * `roots` (by their real paths: a link into the workspace counts as the
 * workspace), and relative ones (`.`, an empty entry), which name the
 * working directory. Entries that do not exist are dropped too.
 */
function pathOutside(path: string, roots: readonly string[]): string {
  return path
    .split(':')
    .filter((entry) => {
      if (!isAbsolute(entry)) return false;
      let real: string;
      try {
        real = realpathSync(entry);
      } catch {
        return false;
      }
      return !roots.some((root) => isWithin(root, real));
    })
    .join(':');
}
