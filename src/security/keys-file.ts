/**
 * The keys file (seed 001's format) and what a key may look like: the schema
 * of a client entry, parsing with every problem named, misspelt fields, and
 * the warnings for plaintext keys other users can read and for a file other
 * users could rewrite. No state in here.
 */
import { statSync } from 'node:fs';
import * as v from 'valibot';
import { UNSEEN_OR_CONTROL } from '../core/client-id.ts';
import { editDistance } from '../util/edit-distance.ts';
import { routeTo } from '../util/path-links.ts';
import { type Accounts, otherReplacerOf, otherWriterOf, systemAccounts } from '../util/path-writers.ts';
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

/**
 * A warning for a keys file that someone other than its owner, root or the
 * server could rewrite, else null: the file itself writable by group or
 * others, or owned by another user; or a directory holding a name the path
 * passes through (the file's own and every link on the way, so a link in
 * another user's directory counts) writable by group or others without the
 * sticky bit (anyone there could put another file or link in its place), or
 * owned by another user, or a name in a sticky directory owned by another
 * user (util/path-writers.ts). The file is reloaded on every change, so whoever
 * can write it adds a client of their own, with every tool, within a second.
 * A private group of the owner's (isPrivateGroup: what a umask of 002 is
 * meant for) is not another user. Named entries of an access ACL that give
 * write count as the mode's bits do.
 */
export function keysFileWritableByOthers(file: string, serverUid = process.getuid?.(), accounts: Accounts = systemAccounts()): string | null {
  const trust = { serverUid, accounts };
  // Outside the try: a route that changed while it was resolved is for the caller to say (KeyStore's warning).
  const route = routeTo(file);
  try {
    const problem = otherWriterOf(file, trust) ?? otherReplacerOf(route, trust);
    if (problem === null) return null;
    return `keys file ${file}: ${problem}, so another user could add a client of their own (the file is reloaded on every change): make it and the directories on its path writable only by their owner (chmod go-w), owned by root or the server's user`;
  } catch {
    return null;
  }
}
