/**
 * Exec policy: which executable a command name means (PATH resolution), whether
 * it may run (allow/deny lists on base names), and the environment a child
 * gets. Plain functions, shared by every transport.
 */
import { realpathSync } from 'node:fs';
import { isWithin } from '../util/path-within.ts';
import { basename, isAbsolute, resolve } from 'node:path';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class CommandRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandRefusedError';
  }
}

/**
 * Finds the executable for `command`: a path (contains "/") is taken relative
 * to `cwd`; a bare name is looked up on `path`. Returns null when not found or
 * not executable.
 */
export function resolveExecutable(command: string, path: string, cwd: string): string | null {
  if (command.includes('/')) {
    const abs = isAbsolute(command) ? command : resolve(cwd, command);
    return Bun.which(abs) ?? null;
  }
  return Bun.which(command, { PATH: path, cwd }) ?? null;
}

/** Rejects command names that can never be valid. */
export function validateCommandName(command: string): void {
  if (command.trim() === '') throw new CommandRefusedError('command is empty');
  if (command.includes('\0')) throw new CommandRefusedError('command contains a NUL byte');
  if (command.length > 4096) throw new CommandRefusedError('command is longer than 4096 characters');
}

export interface CommandLists {
  allowed: readonly string[];
  denied: readonly string[];
}

/**
 * Checks the resolved executable against the lists by base name — both the
 * name it was found under and the file a symlink points to, so neither
 * `/bin/rm` nor a symlink `./x -> /bin/rm` gets past a denied `rm`.
 * Deny wins; an empty allow list allows everything not denied.
 *
 * With an allow list, a name the client controls proves nothing: a file or
 * link in the workspace (or an allowed path, or a scratch directory) may be
 * called `echo` and be anything. So an executable that is, or resolves to, a
 * file under one of `writableRoots` is refused; and a path runs only when it
 * is the very program `onPath` (the PATH lookup) finds for its name, so
 * `/usr/bin/echo` runs and `$TMPDIR/echo` does not. One found through a
 * system link (`awk` -> `mawk`) passes under either name.
 */
export function checkCommandAllowed(
  executable: string,
  lists: CommandLists,
  writableRoots: readonly string[],
  onPath: (name: string) => string | null,
): void {
  const names = new Set([basename(executable)]);
  let real = executable;
  try {
    real = realpathSync(executable);
    names.add(basename(real));
  } catch {
    /* the resolved name is enough */
  }
  for (const name of names) {
    if (lists.denied.includes(name)) throw new CommandRefusedError(`command '${name}' is denied by the server's policy`);
  }
  if (lists.allowed.length === 0) return;
  if (writableRoots.some((root) => isWithin(root, executable) || isWithin(root, real))) {
    throw new CommandRefusedError(
      `command '${executable}' lies in the workspace; with an allow list only the server's own programs run (${lists.allowed.join(', ')})`,
    );
  }
  if (![...names].some((n) => lists.allowed.includes(n))) {
    throw new CommandRefusedError(
      `command '${basename(executable)}' is not in the server's allowed commands (${lists.allowed.join(', ')})`,
    );
  }
  const listed = onPath(basename(executable));
  if (listed === null || realOf(listed) !== real) {
    throw new CommandRefusedError(
      `command '${executable}' is not the '${basename(executable)}' found on PATH; with an allow list only the server's own programs run (${lists.allowed.join(', ')})`,
    );
  }
}

function realOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * The child's whole environment: never the server's own, which holds API keys
 * and other secrets. HOME points at the workspace so tools that write
 * dotfiles stay inside it.
 */
export function buildChildEnv(
  serverEnv: Record<string, string | undefined>,
  passthrough: readonly string[],
  home: string,
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: serverEnv.PATH || DEFAULT_PATH,
    HOME: home,
    LANG: serverEnv.LANG || 'C.UTF-8',
    TERM: 'dumb',
  };
  for (const name of passthrough) {
    const value = serverEnv[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}
