/**
 * A start grants the workspace and the allowed paths (read-write) and the
 * configured read-only paths wherever their names lead at that moment. A
 * user who can put a link in the place of one of those names — by writing a
 * directory the name lies in — decides what the next start gives commands
 * and file tools: `/`, or `/etc`, with no one else's hand on the
 * configuration. This module says which configured paths another user could
 * so replace; the start warns, as it does for a keys file another user
 * could rewrite. The sandbox's built-in read-only paths (`/usr`, `/etc/…`)
 * are the system's own and are not looked at.
 *
 * Pure apart from reading the filesystem: no logging, no policy.
 */
import { routeTo } from '../util/path-links.ts';
import { otherReplacerOf, systemAccounts, type Trust } from '../util/path-writers.ts';
import type { Config } from './schema.ts';

/**
 * One warning per configured path another user could replace, naming why.
 *
 * @example
 * replaceableRootWarnings(config) // ['the workspace /srv/ws could be replaced by another user (the directory /srv is writable by its group (mode 0775)): …']
 */
export function replaceableRootWarnings(config: Pick<Config, 'workspace' | 'allowedPaths'> & { sandbox: Pick<Config['sandbox'], 'mode' | 'readOnlyPaths'> }, trust: Trust = {}): string[] {
  const paths: Array<[what: string, path: string, given: string]> = [
    ['the workspace', config.workspace, 'commands and file tools read-write access to'],
    ...config.allowedPaths.map((path): [string, string, string] => ['the allowed path', path, 'commands and file tools read-write access to']),
    ...(config.sandbox.mode === 'off' ? [] : config.sandbox.readOnlyPaths.map((path): [string, string, string] => ['the read-only path', path, 'commands read access to'])),
  ];
  const warnings: string[] = [];
  // The user and group tables read once for every path.
  const judged = { ...trust, accounts: trust.accounts ?? systemAccounts() };
  for (const [what, path, given] of paths) {
    let problem: string | null;
    try {
      problem = otherReplacerOf(routeTo(path), judged);
    } catch {
      // Changing while looked at: the start's own resolution says so, or grants what it finds.
      continue;
    }
    if (problem === null) continue;
    warnings.push(
      `${what} ${path} could be replaced by another user (${problem}): a start gives ${given} wherever that name leads then, a link to / included; ` +
        'make the directories on its path writable only by root or the server\'s user (chmod go-w, or the sticky bit with the name owned by one of them)',
    );
  }
  return warnings;
}
