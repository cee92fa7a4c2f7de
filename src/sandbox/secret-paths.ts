/**
 * Which of the server's own files (keys file, audit log and its rotations,
 * config file, `.env`) a sandboxed command could reach under given Landlock
 * rules. Landlock cannot carve a hole out of a granted tree, so the only
 * defence is to keep these files outside every granted path; this module
 * answers "is it outside?" so start-up can say so loudly when it is not.
 *
 * Pure apart from reading the filesystem (realpath, lstat): no logging, no
 * policy. Callers decide whether an exposure is a warning or a refusal.
 */
import { dirname, resolve } from 'node:path';
import { routeTo } from '../util/path-links.ts';
import { isWithin } from '../util/path-within.ts';
import type { LandlockRules } from './landlock.ts';

export type GrantAccess = 'read-only' | 'read-write';

export interface SandboxGrant {
  /** The rule as written in the rules (not resolved). */
  rule: string;
  access: GrantAccess;
}

export interface SecretExposure extends SandboxGrant {
  /** The file as the caller named it. */
  file: string;
}

/**
 * The rule under which a command could reach `path`, read-write before
 * read-only (Landlock adds up the rights of every rule that covers a file),
 * or null. A rule covers a path equal to it or beneath it by whole segments
 * (`/etc/ssl` does not cover `/etc/sslx`); `/` covers everything.
 *
 * Rules are resolved as the kernel does when they are applied (the rule path
 * is opened following symlinks). The path is compared twice:
 * - resolved, against every rule, because Landlock checks the real location
 *   of the file a command opens — a symlink inside a granted tree pointing
 *   at a file outside does not grant that file;
 * - as written, and each name looked up on the way (links and the
 *   directories a `..` climbs out of included), against read-write rules
 *   only, because the server opens that name: a command that can write a
 *   directory along it can swap in a symlink or a file of its own. Read
 *   access to the name gains nothing.
 *
 * @example
 * sandboxGrantFor('/etc/hide/keys.json', sandboxRules({ workspace: '/srv/ws', network: 'off' })) // null
 */
export function sandboxGrantFor(path: string, rules: LandlockRules): SandboxGrant | null {
  const { passed, target: real } = routeTo(path);
  const written = resolve(path);
  const grants = (access: GrantAccess, list: readonly string[], rootOf: (rule: string) => string | null, candidates: string[]): SandboxGrant | null => {
    for (const rule of list) {
      const root = rootOf(rule);
      if (root !== null && candidates.some((p) => isWithin(root, p))) return { rule, access };
    }
    return null;
  };
  // A read-only rule is granted where it led when the server started, as launchers check it (none: not granted). Looked
  // up again here, a path swapped while the server starts could show this check one place and the launchers another.
  const readOnlyRoot = (rule: string) => (rules.readOnlyAt === undefined ? routeTo(rule).target : (rules.readOnlyAt[rule] ?? null));
  // A name looked up can be swapped by whoever writes the directory it lies in (a rule's own name cannot).
  return (
    grants('read-write', rules.readWrite, (rule) => routeTo(rule).target, [real, written, ...passed.map(dirname)]) ??
    grants('read-only', rules.readOnly, readOnlyRoot, [real])
  );
}

/**
 * The files of `files` that a command could reach, one entry per file. A
 * file that does not exist yet (an audit log not written, a rotation not
 * made) is checked where it would be created, through its parent directory:
 * the server will write it there and commands could read it afterwards.
 *
 * @example
 * secretExposures([keysFile, auditFile, `${auditFile}.1`, configFile], rules)
 */
export function secretExposures(files: readonly string[], rules: LandlockRules): SecretExposure[] {
  const out: SecretExposure[] = [];
  for (const file of new Set(files)) {
    const grant = sandboxGrantFor(file, rules);
    if (grant) out.push({ file, ...grant });
  }
  return out;
}
