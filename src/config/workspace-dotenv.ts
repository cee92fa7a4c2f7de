/**
 * The server reads `.env` from its working directory, and the working
 * directory is also the default workspace. A `.env` that commands or file
 * tools can write — one a cloned repository brings, or one a command wrote
 * for the next start — must not configure the server: it could turn the
 * sandbox or authentication off, or widen the allowed paths, for every
 * session after it. This module answers where such a file lies; the loader
 * decides what follows.
 *
 * Pure apart from reading the filesystem (realpath): no logging, no policy.
 */
import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isWithin } from '../util/path-within.ts';

export interface WritableRoot {
  path: string;
  /** How the message names it: "the workspace" or "an allowed path". */
  what: string;
}

/** Where a path leads, following links as an open would; as written when it does not exist. */
function leadsTo(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/**
 * The root under which a command could write `file`, or null. Two places
 * count: the name as the server opens it (a command that can write the
 * directory can swap a link in), and where the name leads today (a link
 * from outside into the workspace).
 *
 * @example
 * writableRootOf('/home/me/project/.env', [{ path: '/home/me/project', what: 'the workspace' }]) // that root
 */
export function writableRootOf(file: string, roots: readonly WritableRoot[]): WritableRoot | null {
  const asOpened = join(leadsTo(dirname(file)), basename(file));
  const target = leadsTo(file);
  return roots.find((root) => isWithin(leadsTo(root.path), asOpened) || isWithin(leadsTo(root.path), target)) ?? null;
}

/** The start-up refusal for a `.env` that lies where commands can write and sets some of the server's settings. */
export function workspaceDotenvProblem(file: string, names: readonly string[], root: WritableRoot): string {
  const shown = names.length > 4 ? `${names.slice(0, 4).join(', ')} and ${names.length - 4} more` : names.join(', ');
  return (
    `${file} sets ${shown} but lies in ${root.what} (${root.path}), where commands and file tools can write: ` +
    'a file there must not configure the server, or a command (or a cloned repository) could change its settings for the next start. ' +
    'Set them in the environment, as flags or in a config file outside the workspace (--config), ' +
    'or start the server from a directory outside the workspace with --workspace'
  );
}
