/**
 * The command runner behind the shell tools: applies the exec policy (name
 * checks, PATH resolution, allow/deny lists), confines the working directory,
 * builds the child's environment and hands the argv to a spawn backend — the
 * plain one (spawn.ts) or the sandbox launcher.
 */
import type { Confiner } from '../workspace/confine.ts';
import { PathRefusedError } from '../workspace/confine.ts';
import {
  buildChildEnv,
  CommandRefusedError,
  checkCommandAllowed,
  type CommandLists,
  resolveExecutable,
  validateCommandName,
} from './policy.ts';
import { type SpawnRequest, type SpawnResult, spawnCommand } from './spawn.ts';

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
}

export interface RunResult extends SpawnResult {
  /** Why the command did not run or did not finish, in words an agent can act on; null on a normal exit. */
  error: string | null;
}

export type SpawnBackend = (req: SpawnRequest) => Promise<SpawnResult>;

function refused(message: string): RunResult {
  return {
    stdout: '',
    stderr: '',
    exitCode: -1,
    signal: null,
    timedOut: false,
    cancelled: false,
    truncated: false,
    durationMs: 0,
    spawnError: message,
    error: message,
  };
}

export class CommandRunner {
  private readonly childEnv: Record<string, string>;

  constructor(
    private readonly settings: RunnerSettings,
    private readonly confiner: Confiner,
    private backend: SpawnBackend = spawnCommand,
    serverEnv: Record<string, string | undefined> = process.env,
  ) {
    this.childEnv = buildChildEnv(serverEnv, settings.envPassthrough, confiner.workspace);
  }

  /** Swaps the spawn backend (the sandbox launcher installs itself here). */
  setBackend(backend: SpawnBackend): void {
    this.backend = backend;
  }

  get searchPath(): string {
    return this.childEnv.PATH!;
  }

  async run(req: RunRequest): Promise<RunResult> {
    const timeoutSeconds = req.timeoutSeconds ?? this.settings.defaultTimeoutSeconds;
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > this.settings.maxTimeoutSeconds) {
      return refused(`timeoutSeconds must be an integer from 1 to ${this.settings.maxTimeoutSeconds}`);
    }
    let cwd: string;
    let executable: string;
    try {
      validateCommandName(req.command);
      for (const arg of req.arguments ?? []) {
        if (arg.includes('\0')) throw new CommandRefusedError('an argument contains a NUL byte');
      }
      cwd = await this.confiner.resolveDirectory(req.workingDirectory);
      const found = resolveExecutable(req.command, this.childEnv.PATH!, cwd);
      if (!found) {
        throw new CommandRefusedError(
          req.command.includes('/')
            ? `command '${req.command}' was not found or is not executable`
            : `command '${req.command}' was not found on PATH (${this.childEnv.PATH})`,
        );
      }
      checkCommandAllowed(found, this.settings);
      executable = found;
    } catch (err) {
      if (err instanceof CommandRefusedError || err instanceof PathRefusedError) {
        const prefix = err instanceof PathRefusedError ? 'workingDirectory refused: ' : '';
        return refused(prefix + err.message);
      }
      throw err;
    }

    const result = await this.backend({
      argv: [executable, ...(req.arguments ?? [])],
      cwd,
      env: this.childEnv,
      timeoutMs: timeoutSeconds * 1000,
      maxOutputBytes: this.settings.maxOutputBytes,
      signal: req.signal,
    });
    let error: string | null = result.spawnError;
    if (result.timedOut) error = `command timed out after ${timeoutSeconds} s; its process group was killed`;
    else if (result.cancelled) error = 'command cancelled: the client went away; its process group was killed';
    else if (!error && result.exitCode !== 0) error = `command exited with code ${result.exitCode}`;
    return { ...result, error };
  }
}
