/**
 * The server reads `.env` and, by default, `.mcp_keys.json` from its working
 * directory, and the working directory is also the default workspace. A file
 * that commands or file tools can write — one a cloned repository brings, or
 * one a command wrote — must not configure the server or say who may call
 * it: a `.env` could turn the sandbox or authentication off for every
 * session after it; a keys file could let in a client nobody enrolled, or
 * widen a client's tools, at its next reload. This module answers where such
 * a file lies; the loader and the start decide what follows.
 *
 * Pure apart from reading the filesystem (realpath): no logging, no policy.
 */
import { realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { routeTo } from '../util/path-links.ts';
import { isWithin } from '../util/path-within.ts';
import type { Config } from './schema.ts';

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
 * The root under which a command could write `file`, or null. Every place
 * the name's lookup passes counts: each name looked up on the way, a link
 * where it lies (a command that can write that directory can put another in
 * its place: a link in the workspace leading out, on the way to a file
 * outside, or a directory there that a `..` climbs out of again), and where
 * the name leads today (a link from outside into the workspace). The name as
 * the server opens it is one of them.
 *
 * @example
 * writableRootOf('/home/me/project/.env', [{ path: '/home/me/project', what: 'the workspace' }]) // that root
 */
export function writableRootOf(file: string, roots: readonly WritableRoot[]): WritableRoot | null {
  const { passed, target } = routeTo(file);
  // A name can be swapped by whoever writes the directory it lies in (the workspace's own name cannot).
  const places = [...passed.map(dirname), target];
  return roots.find((root) => places.some((place) => isWithin(leadsTo(root.path), place))) ?? null;
}

/** The workspace and the allowed paths, as a command's writes reach them. */
export function grantedRoots(workspace: string | undefined, allowedPaths: readonly string[]): WritableRoot[] {
  return [...(workspace === undefined ? [] : [{ path: workspace, what: 'the workspace' }]), ...allowedPaths.map((path) => ({ path, what: 'an allowed path' }))];
}

/**
 * Why a keys file taken by default (`.mcp_keys.json` in the working
 * directory) must not be used where it lies, or null. One the operator named
 * there is their choice, warned about at start (the sandbox's secret check).
 */
export function writableKeysFileProblem(file: string, workspace: string, allowedPaths: readonly string[]): string | null {
  const root = writableRootOf(file, grantedRoots(workspace, allowedPaths));
  if (root === null) return null;
  return (
    `the keys file ${file} lies in ${root.what} (${root.path}), where commands and file tools can write: ` +
    'a cloned repository that brings one, or a command that writes one, would enrol its own clients. ' +
    'Keep it outside the workspace and allowed paths (say ~/.config/hide/keys.json, mode 0600) and set HIDE_API_KEYS_FILE to it, ' +
    'or name this file in HIDE_API_KEYS_FILE if it is yours and commands may rewrite it'
  );
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

/**
 * One warning per configured read-only path that leads into the workspace or
 * an allowed path: a right a directory above grants cannot be taken back
 * below it (Landlock adds rights, it never removes them), so commands and
 * file tools write there as anywhere else in that root. With `/` granted
 * everything is writable, which the start says on its own.
 */
export function readOnlyInWritableWarnings(config: Pick<Config, 'workspace' | 'allowedPaths'> & { sandbox: Pick<Config['sandbox'], 'mode' | 'readOnlyPaths'> }): string[] {
  // Without the sandbox nothing is granted read-only.
  if (config.sandbox.mode === 'off') return [];
  const roots = boundedRoots(config.workspace, config.allowedPaths);
  return config.sandbox.readOnlyPaths.flatMap((path) => {
    const at = leadsTo(path);
    const root = roots.find((r) => isWithin(leadsTo(r.path), at));
    return root === undefined
      ? []
      : [`the read-only path ${path} lies in ${root.what} (${root.path}): commands and file tools can write it as they write the rest of it; keep read-only paths outside the workspace and allowed paths`];
  });
}

/** What this start runs and how it was found: the executable, or the source tree a `bun run` runs; npm's local prefix. */
export interface Launch {
  /** The executable (a compiled build) or the source tree's root (a run from source). */
  program: string;
  fromSource: boolean;
  /**
   * The directory npm or Bun resolved the program and its scripts from (`npm_config_local_prefix`, which `npx`,
   * `npm exec`, `npm run` and `bun run` set), or null when neither started it.
   */
  npmPrefix: string | null;
  /** Where npm or Bun was started (`INIT_CWD`, else this process's working directory), when one of them started it. */
  npmStart: string | null;
}

/** The granted roots that leave anything outside them: with `/` granted every place is writable, and said so at start. */
function boundedRoots(workspace: string, allowedPaths: readonly string[]): WritableRoot[] {
  return grantedRoots(workspace, allowedPaths).filter((root) => leadsTo(root.path) !== '/');
}

/**
 * Why a start must be refused for where it was launched from, or null. What
 * npm or Bun resolves from a directory — its `node_modules/.bin`, `.npmrc`,
 * `package.json` scripts — is what the next `npx …` or `npm run …` there
 * runs, as the user and outside the sandbox; a source tree is what the next
 * `bun run serve` runs. In a directory commands can write, one command is
 * enough to decide what the next session runs. Refused at the first start,
 * before any command could have written there.
 */
export function writableLaunchProblem(launch: Launch, workspace: string, allowedPaths: readonly string[]): string | null {
  const roots = boundedRoots(workspace, allowedPaths);
  const sourceRoot = launch.fromSource ? writableRootOf(launch.program, roots) : null;
  if (sourceRoot !== null) {
    return (
      `hide runs from its source in ${launch.program}, which lies in ${sourceRoot.what} (${sourceRoot.path}), where commands and file tools can write: ` +
      'a command could change what the next start runs, outside the sandbox. Give a workspace outside it (--workspace DIR)'
    );
  }
  // npm looks for node_modules from where it starts up to the prefix it found: a command can put one in any
  // directory on the way, so the start counts as much as the prefix (a project with no package.json of its own
  // under a home with one: the prefix lay outside, the start inside).
  for (const from of [launch.npmPrefix, launch.npmStart]) {
    const prefixRoot = from === null ? null : writableRootOf(from, roots);
    if (prefixRoot === null) continue;
    return (
      `hide was started by npm or Bun from ${from}, which lies in ${prefixRoot.what} (${prefixRoot.path}), where commands and file tools can write: ` +
      'a node_modules, .npmrc or package.json a command puts there would decide what the next launch from there runs, outside the sandbox. ' +
      "Start it from a directory outside the workspace (an MCP client's \"cwd\"), or run an installed binary (install.sh, npm install -g)"
    );
  }
  return null;
}

/** A start-up warning when the executable itself lies where commands can write (they could replace it for the next start), else null. */
export function writableExecutableWarning(launch: Launch, workspace: string, allowedPaths: readonly string[]): string | null {
  if (launch.fromSource) return null;
  const root = writableRootOf(launch.program, boundedRoots(workspace, allowedPaths));
  if (root === null) return null;
  return (
    `the hide executable ${launch.program} lies in ${root.what} (${root.path}), where commands and file tools can write: ` +
    'a command could replace what the next start runs, outside the sandbox. Install it outside (install.sh puts it in ~/.local/bin)'
  );
}
