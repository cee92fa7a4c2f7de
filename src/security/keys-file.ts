/**
 * The keys file (seed 001's format) and what a key may look like: the schema
 * of a client entry, parsing with every problem named, misspelt fields, and
 * the warnings for plaintext keys other users can read and for a file other
 * users could rewrite. No state in here.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import * as v from 'valibot';
import { UNSEEN_OR_CONTROL } from '../core/client-id.ts';
import { editDistance } from '../util/edit-distance.ts';
import { routeTo } from '../util/path-links.ts';
import { accessAcl } from '../util/xattrs.ts';
import { duplicateKeys } from '../util/json-duplicate-keys.ts';
import { jsonSyntaxMessage } from '../util/json-syntax.ts';

/** Longest key we are willing to hash; longer input is refused as invalid. */
export const MAX_KEY_LENGTH = 1024;
// Whitespace: not in a client id, which is logged and audited (nor UNSEEN_OR_CONTROL).
const WHITESPACE = /\s/;
/**
 * A key travels in an HTTP header, which carries bytes that servers read as
 * Latin-1: a key with other characters (`clé`) would never arrive as it was
 * configured, so keys are printable ASCII.
 */
const KEY_CHARS = /^[\x21-\x7e]+$/;

/** What a key may be, for messages. */
export const KEY_FORM = `1-${MAX_KEY_LENGTH} printable ASCII characters, no spaces`;

/** True when the string has a shape a key can have (before any hashing). */
export function isWellFormedKey(key: string): boolean {
  return key.length > 0 && key.length <= MAX_KEY_LENGTH && KEY_CHARS.test(key);
}

const ClientEntrySchema = v.pipe(
  v.object({
    client_id: v.pipe(
      v.string('client_id must be a string'),
      v.nonEmpty('client_id must not be empty'),
      v.maxLength(128, 'client_id must be at most 128 characters'),
      v.check((s) => !WHITESPACE.test(s) && !UNSEEN_OR_CONTROL.test(s), 'client_id must not contain whitespace, control or invisible formatting characters'),
      // Beside OAuth tokens (HIDE_AUTH_MODE=both) a token's client id is `issuer#sub`: a key's id of that form would be
      // the same client as that token's user, with its processes, limits and launcher.
      v.check((s) => !s.includes('#'), 'client_id must not contain "#", which names OAuth token identities (issuer#sub)'),
    ),
    description: v.optional(v.string('description must be a string'), ''),
    enabled: v.optional(v.boolean('enabled must be true or false'), true),
    api_key: v.optional(
      v.pipe(
        v.string('api_key must be a string'),
        v.check(isWellFormedKey, `api_key must be ${KEY_FORM}`),
      ),
    ),
    api_key_sha256: v.optional(
      v.pipe(v.string(), v.regex(/^[0-9a-fA-F]{64}$/, 'api_key_sha256 must be 64 hex digits')),
    ),
    tools: v.optional(v.array(v.pipe(v.string(), v.nonEmpty()), 'tools must be a list of tool names or "*"')),
    readOnly: v.optional(v.boolean('readOnly must be true or false'), false),
  }),
  v.check(
    (e) => (e.api_key === undefined) !== (e.api_key_sha256 === undefined),
    'each client needs exactly one of api_key or api_key_sha256',
  ),
);

export const KeysFileSchema = v.object({
  clients: v.array(ClientEntrySchema, 'clients must be a list'),
});

export type KeysFileEntry = v.InferOutput<typeof ClientEntrySchema>;

const ENTRY_FIELDS = ['client_id', 'description', 'enabled', 'api_key', 'api_key_sha256', 'tools', 'readOnly'] as const;

/**
 * Fields of client entries that look like a misspelt known field: `readonly`
 * or `enabeld` would be ignored, leaving the client with every tool or still
 * enabled. Other extra fields (notes, owners) are the file owner's own.
 */
function misspeltFields(raw: unknown): string[] {
  const clients = (raw as { clients?: unknown } | null)?.clients;
  if (!Array.isArray(clients)) return [];
  return clients.flatMap((entry, i) => {
    if (entry === null || typeof entry !== 'object') return [];
    return Object.keys(entry).flatMap((key) => {
      if ((ENTRY_FIELDS as readonly string[]).includes(key)) return [];
      const near = ENTRY_FIELDS.find((f) => f.toLowerCase() === key.toLowerCase() || editDistance(f.toLowerCase(), key.toLowerCase()) <= 2);
      return near === undefined ? [] : [`clients.${i}.${key}: unknown field (did you mean "${near}"?)`];
    });
  });
}

/** Parses and checks a keys file's text; throws an Error naming each problem. */
export function parseKeysFile(text: string): KeysFileEntry[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`keys file is not valid JSON: ${jsonSyntaxMessage(err)}`);
  }
  const parsed = v.safeParse(KeysFileSchema, raw);
  const problems = parsed.success
    ? []
    : parsed.issues.map((i) => {
        const path = v.getDotPath(i);
        return path ? `${path}: ${i.message}` : i.message;
      });
  problems.push(...misspeltFields(raw));
  problems.push(...duplicateKeys(text).map((k) => `${k}: given twice (one would silently override the other)`));
  if (!parsed.success || problems.length > 0) throw new Error(`keys file is invalid: ${problems.join('; ')}`);
  return parsed.output.clients;
}

/**
 * A warning for a keys file that holds plaintext keys and that users other
 * than its owner may read (group or other bits), else null. Digests alone are
 * no use to a reader, so such a file is not worth a warning.
 */
export function plaintextKeysExposure(file: string, plaintext: number): string | null {
  if (plaintext === 0) return null;
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch {
    return null;
  }
  if ((mode & 0o044) === 0) return null;
  return (
    `keys file ${file} holds ${plaintext} plaintext key(s) (api_key) and is readable by other users (mode 0${mode.toString(8)}): ` +
    'chmod 600 it, or keep only digests (api_key_sha256, as `hide keys generate` writes)'
  );
}

/** ACL tags (acl/libacl.h) and the write permission. */
const ACL_USER = 0x02;
const ACL_GROUP = 0x08;
const ACL_MASK = 0x10;
const ACL_WRITE = 0x02;

/**
 * Who other than a trusted user an access ACL lets write `path` (`uid N`,
 * `gid N`), or null: a named entry with write that the mask leaves in. The
 * mode's group bits say nothing of these (they are the mask).
 */
function aclWriters(path: string, trusted: (uid: number) => boolean): string | null {
  let acl: Buffer | null;
  try {
    acl = accessAcl(path);
  } catch {
    return null;
  }
  if (acl === null || acl.length < 4) return null;
  const entries: { tag: number; perm: number; id: number }[] = [];
  for (let at = 4; at + 8 <= acl.length; at += 8) entries.push({ tag: acl.readUInt16LE(at), perm: acl.readUInt16LE(at + 2), id: acl.readUInt32LE(at + 4) });
  const mask = entries.find((e) => e.tag === ACL_MASK)?.perm ?? 0o7;
  const writer = entries.find((e) => (e.perm & mask & ACL_WRITE) !== 0 && ((e.tag === ACL_USER && !trusted(e.id)) || e.tag === ACL_GROUP));
  return writer === undefined ? null : `${writer.tag === ACL_USER ? 'uid' : 'gid'} ${writer.id}`;
}

/** The user and group tables (`/etc/passwd`, `/etc/group`) as text. */
export interface Accounts {
  passwd: string;
  group: string;
}

export function systemAccounts(): Accounts {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  };
  return { passwd: read('/etc/passwd'), group: read('/etc/group') };
}

/**
 * Whether `gid` is user `uid`'s private group, as user-private-group systems
 * make one: the same number, named as the user in the group table, with no
 * other member listed there and no other user's primary group. The number
 * alone says nothing: a gid the tables do not name (`--user 1000:1000`, a
 * Kubernetes fsGroup equal to runAsUser) or a shared one that happens to be
 * the uid (`users`, gid 100) may have other members. Root's group never is.
 */
export function isPrivateGroup(uid: number, gid: number, accounts: Accounts): boolean {
  if (uid === 0 || gid !== uid) return false;
  const rows = (text: string) => text.split('\n').map((line) => line.split(':'));
  const users = rows(accounts.passwd).filter((f) => f.length >= 4);
  const name = users.find((f) => Number(f[2]) === uid && f[2] !== '')?.[0];
  if (name === undefined) return false;
  // Every entry with that number: a second name for it would let its members in as well.
  const groups = rows(accounts.group).filter((f) => f.length >= 4 && f[2] !== '' && Number(f[2]) === gid);
  if (groups.length === 0) return false;
  for (const [groupName, , , members = ''] of groups) {
    if (groupName !== name || members.split(',').some((m) => m !== '' && m !== name)) return false;
  }
  return !users.some((f) => f[3] !== '' && Number(f[3]) === gid && Number(f[2]) !== uid);
}

/**
 * A warning for a keys file that someone other than its owner, root or the
 * server could rewrite, else null: the file itself writable by group or
 * others, or owned by another user; or a directory holding a name the path
 * passes through (the file's own and every link on the way, so a link in
 * another user's directory counts) writable by group or others without the
 * sticky bit (anyone there could put another file or link in its place), or
 * owned by another user. The file is reloaded on every change, so whoever
 * can write it adds a client of their own, with every tool, within a second.
 * A private group of the owner's (isPrivateGroup: what a umask of 002 is
 * meant for) is not another user. Named entries of an access ACL that give
 * write count as the mode's bits do.
 */
export function keysFileWritableByOthers(file: string, serverUid = process.getuid?.(), accounts: Accounts = systemAccounts()): string | null {
  const trusted = (uid: number) => uid === 0 || uid === serverUid;
  const route = routeTo(file);
  const why = (path: string, isFile: boolean): string | null => {
    const st = statSync(path);
    const what = isFile ? 'it' : `the directory ${path}`;
    if (!trusted(st.uid)) return `${what} is owned by uid ${st.uid}`;
    const acl = aclWriters(path, trusted);
    if (acl !== null) return `${what} has an ACL that lets ${acl} write`;
    const open = st.mode & (isPrivateGroup(st.uid, st.gid, accounts) ? 0o002 : 0o022);
    if (open === 0 || (!isFile && (st.mode & 0o1000) !== 0)) return null;
    return `${what} is writable by ${open === 0o022 ? 'group and others' : open === 0o020 ? 'its group' : 'others'} (mode 0${(st.mode & 0o7777).toString(8)})`;
  };
  try {
    const dirs = new Set(['/', ...route.passed.map((name) => dirname(name))]);
    for (const [path, isFile] of [[route.target, true] as const, ...[...dirs].map((d) => [d, false] as const)]) {
      const problem = why(path, isFile);
      if (problem !== null) {
        return `keys file ${file}: ${problem}, so another user could add a client of their own (the file is reloaded on every change): make it and the directories on its path writable only by their owner (chmod go-w), owned by root or the server's user`;
      }
    }
    return null;
  } catch {
    return null;
  }
}
