/**
 * The checks a process start needs before anything runs: the env a caller
 * asks for (valid names, on the allow list, none the server owns, no NUL)
 * and the lifetime and idle limits it asks for, within the server's.
 */
import type { TerminalSize } from './live.ts';
import { ProcessError } from './process-error.ts';

export interface StartArgs {
  command: string;
  arguments?: readonly string[];
  workingDirectory?: string;
  terminal?: TerminalSize | false;
  env?: Record<string, string>;
  timeoutSeconds?: number;
  idleTimeoutSeconds?: number;
}

/** The settings a start is checked against. */
export interface StartBounds {
  defaultTimeoutSeconds: number;
  maxTimeoutSeconds: number;
  idleTimeoutSeconds: number;
  envAllowlist: readonly string[];
}

/** Names a process may never get from its caller, whatever the allow list says: they steer the loader or the policy. */
const FORBIDDEN_ENV = /^(PATH|HOME|TMPDIR|LD_.*|DYLD_.*)$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** The start's env and limits in force; throws ProcessError for one the caller can fix. */
export function checkStart(bounds: StartBounds, args: StartArgs): { env: Record<string, string> | undefined; timeoutMs: number; idleMs: number } {
  let env: Record<string, string> | undefined;
  if (args.env && Object.keys(args.env).length > 0) {
    env = {};
    for (const [name, value] of Object.entries(args.env)) {
      if (!ENV_NAME.test(name)) throw new ProcessError(`env name '${name.slice(0, 64)}' is not a valid variable name`);
      if (FORBIDDEN_ENV.test(name)) throw new ProcessError(`env ${name} cannot be set: the server owns it`);
      if (!bounds.envAllowlist.includes(name)) {
        throw new ProcessError(`env ${name} is not on the allow list (HIDE_PROCESS_ENV_ALLOWLIST: ${bounds.envAllowlist.join(', ') || 'empty'})`);
      }
      if (value.includes('\0')) throw new ProcessError(`env ${name} contains a NUL byte`);
      env[name] = value;
    }
  }
  const timeout = args.timeoutSeconds ?? Math.min(bounds.defaultTimeoutSeconds, bounds.maxTimeoutSeconds);
  if (timeout > bounds.maxTimeoutSeconds) throw new ProcessError(`timeoutSeconds must be at most ${bounds.maxTimeoutSeconds}`);
  const idle = args.idleTimeoutSeconds ?? bounds.idleTimeoutSeconds;
  if (idle > bounds.idleTimeoutSeconds) throw new ProcessError(`idleTimeoutSeconds must be at most ${bounds.idleTimeoutSeconds}`);
  return { env, timeoutMs: timeout * 1000, idleMs: idle * 1000 };
}
