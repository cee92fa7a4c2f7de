/**
 * API keys: the in-memory key store and its reloading (the file format is
 * keys-file.ts).
 * Only SHA-256 digests are kept for matching: a presented key is hashed,
 * looked up by its digest and confirmed with a constant-time comparison, so
 * timing depends on the digest of what was sent, never on how much of a real
 * key it shares, and a thousand clients cost no more than one.
 * Shared by the HTTP auth hook and the CLI (`hide keys`); no HTTP in here.
 */
import { randomBytes } from '../util/random.ts';
import { isWellFormedKey, KEY_FORM, type KeysFileEntry, keysFileWritableByOthers, parseKeysFile, plaintextKeysExposure } from './keys-file.ts';
import { readSettingsFileSync } from '../util/read-settings-file.ts';
import { KeysFileWatcher } from './keys-watch.ts';
import { sha256Hex } from '../util/sha256.ts';
import { MIN_KEY_RUN } from '../audit/redact/key-runs.ts';

/** The client id given to the single configured key (`HIDE_API_KEY`). */
export const DEFAULT_CLIENT_ID = 'default';

export { sha256Hex };
export { isWellFormedKey, KEY_FORM, type KeysFileEntry, KeysFileSchema, MAX_KEY_LENGTH, keysFileWritableByOthers, parseKeysFile, plaintextKeysExposure } from './keys-file.ts';

/** Keys shorter than this are taken but warned about: 32 random base64url characters are 192 bits. */
export const MIN_SAFE_KEY_LENGTH = 32;

/** A new 256-bit key, base64url without padding (43 characters). */
export function generateApiKey(): string {
  return randomBytes(32).toString('base64url');
}

export interface AuthClient {
  clientId: string;
  description: string;
  /** Tool names this client may call; null means every tool. */
  tools: Set<string> | null;
  readOnly: boolean;
}

export type AuthResult =
  | { ok: true; client: AuthClient; keyHash: string }
  | { ok: false; reason: 'missing' | 'invalid' | 'disabled'; keyHash: string | null };

export interface ClientListing {
  clientId: string;
  description: string;
  enabled: boolean;
  /** First 12 hex digits of the key's SHA-256: enough to tell keys apart, useless to an attacker. */
  fingerprint: string;
}

export interface ReloadResult {
  ok: boolean;
  clients: number;
  error?: string;
}

interface StoredKey {
  digest: Buffer;
  hex: string;
  enabled: boolean;
  client: AuthClient;
  /** Present only for keys given in plaintext, so the redactor can mask them. */
  plaintext: string | null;
  /** A digest-only key signed in with once: its length is known, and was said if short. */
  lengthSeen?: true;
}

/** Compared against when no stored digest matched, so both paths do the same work. */
const NO_MATCH = Buffer.alloc(32);

function shortKeyLine(clientId: string, length: number): string {
  return `the key of client "${clientId}" has ${length} characters: a short key can be guessed by trying; use ${MIN_SAFE_KEY_LENGTH} or more random characters (\`hide keys generate\` makes 43)`;
}

function indexKeys(keys: StoredKey[]): Map<string, StoredKey> {
  return new Map(keys.map((k) => [k.hex, k]));
}

function buildKeys(apiKey: string | null, entries: KeysFileEntry[]): StoredKey[] {
  const keys: StoredKey[] = [];
  const ids = new Set<string>();
  const digests = new Set<string>();
  const add = (id: string, description: string, enabled: boolean, hex: string, plaintext: string | null, e?: KeysFileEntry) => {
    if (ids.has(id)) throw new Error(`duplicate client id "${id}"`);
    if (digests.has(hex)) throw new Error(`client "${id}" uses a key that another client already uses`);
    ids.add(id);
    digests.add(hex);
    const tools = e?.tools === undefined || e.tools.includes('*') ? null : new Set(e.tools);
    keys.push({
      digest: Buffer.from(hex, 'hex'),
      hex,
      enabled,
      plaintext,
      client: { clientId: id, description, tools, readOnly: e?.readOnly ?? false },
    });
  };
  if (apiKey !== null) {
    if (!isWellFormedKey(apiKey)) throw new Error(`the single API key must be ${KEY_FORM}`);
    add(DEFAULT_CLIENT_ID, 'single configured key', true, sha256Hex(apiKey), apiKey);
  }
  for (const e of entries) {
    const hex = e.api_key !== undefined ? sha256Hex(e.api_key) : e.api_key_sha256!.toLowerCase();
    add(e.client_id, e.description, e.enabled, hex, e.api_key ?? null, e);
  }
  return keys;
}

export interface KeyStoreOptions {
  /** The single configured key; its client id is "default". */
  apiKey?: string | null;
  /** Path of a keys file (seed-001 format). */
  file?: string | null;
  /** Told about every reload after the first load; must not throw. */
  onReload?: (result: ReloadResult) => void;
  /** Told once per digest-only key that signs in shorter than a guess-proof key (its length is known only then); must not throw. */
  onShortKey?: (line: string) => void;
}

export class KeyStore {
  readonly file: string | null;
  private readonly apiKey: string | null;
  private readonly onReload: (result: ReloadResult) => void;
  private readonly onShortKey: (line: string) => void;
  private keys: StoredKey[];
  /** Digest (hex) → key, rebuilt with `keys`. */
  private byDigest = new Map<string, StoredKey>();
  private watcher: KeysFileWatcher | null = null;

  /** Loads the keys; throws when the single key or the file is unusable, so start-up can refuse. */
  constructor(opts: KeyStoreOptions = {}) {
    this.apiKey = opts.apiKey ?? null;
    this.file = opts.file ?? null;
    this.onReload = opts.onReload ?? (() => {});
    this.onShortKey = opts.onShortKey ?? (() => {});
    this.keys = buildKeys(this.apiKey, this.readFile());
    this.byDigest = indexKeys(this.keys);
  }

  private readFile(): KeysFileEntry[] {
    if (this.file === null) return [];
    let text: string;
    try {
      text = readSettingsFileSync(this.file);
    } catch (err) {
      throw new Error(`cannot read keys file ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return parseKeysFile(text);
  }

  /**
   * Re-reads the keys file. On any problem the last good keys stay in force and
   * the result carries the error; it never throws.
   */
  reload(): ReloadResult {
    let result: ReloadResult;
    try {
      const keys = buildKeys(this.apiKey, this.readFile());
      // Swap both at once: a request in flight sees the old set or the new one.
      this.byDigest = indexKeys(keys);
      this.keys = keys;
      result = { ok: true, clients: this.keys.length };
    } catch (err) {
      result = { ok: false, clients: this.keys.length, error: (err as Error).message };
    }
    try {
      this.onReload(result);
    } catch {
      // A faulty listener must not break reloading.
    }
    return result;
  }

  /** Starts watching the keys file (fs.watch on its directory plus a 1 s stat poll). */
  watch(): void {
    if (this.file === null || this.watcher !== null) return;
    this.watcher = new KeysFileWatcher(this.file, () => this.reload());
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  authenticate(presentedKey: string): AuthResult {
    if (presentedKey.length === 0) return { ok: false, reason: 'missing', keyHash: null };
    if (!isWellFormedKey(presentedKey)) return { ok: false, reason: 'invalid', keyHash: null };
    const digest = Buffer.from(Bun.SHA256.hash(presentedKey) as Uint8Array);
    const keyHash = digest.toString('hex');
    // Look the digest up, then confirm in constant time. The lookup's timing
    // depends only on the SHA-256 of what was sent, which tells an attacker
    // nothing about any key; scanning every key instead would make each
    // request cost O(clients).
    const candidate = this.byDigest.get(keyHash);
    const match = crypto.timingSafeEqual(digest, candidate?.digest ?? NO_MATCH) && candidate ? candidate : null;
    // No digest of a value that is no key: a mistyped key, or a short password sent by mistake, is found again from its
    // unsalted SHA-256 by hashing guesses, and the audit log would keep it.
    if (match === null) return { ok: false, reason: 'invalid', keyHash: null };
    if (!match.enabled) return { ok: false, reason: 'disabled', keyHash };
    if (match.lengthSeen === undefined && match.plaintext === null) this.sawDigestOnlyKey(match, presentedKey.length);
    return { ok: true, client: match.client, keyHash };
  }

  /**
   * A key kept as a digest shows its length only when it is presented. A
   * short one is said once, as a plaintext one is at start: under 16
   * characters the audit log does not even mask it by value (it hashes only
   * runs of 16 or more), so where a client echoes it, it is kept in clear.
   */
  private sawDigestOnlyKey(key: StoredKey, length: number): void {
    key.lengthSeen = true;
    if (length < MIN_SAFE_KEY_LENGTH) this.onShortKey(`${shortKeyLine(key.client.clientId, length)}${length < MIN_KEY_RUN ? '; one this short is not masked by value in the audit log' : ''}`);
  }

  /** The client `clientId` as its enabled key grants it now, or null when a reload disabled or removed it. */
  enabledClient(clientId: string): AuthClient | null {
    return this.keys.find((k) => k.enabled && k.client.clientId === clientId)?.client ?? null;
  }

  /** The client the key with this digest signs in now (enabled), or null: removed, replaced or disabled by a reload. */
  clientOfKey(keyHash: string): AuthClient | null {
    const key = this.byDigest.get(keyHash);
    return key !== undefined && key.enabled ? key.client : null;
  }

  /** True when at least one enabled key exists (auth can admit someone). */
  hasAnyKey(): boolean {
    return this.keys.some((k) => k.enabled);
  }

  listClients(): ClientListing[] {
    return this.keys.map((k) => ({
      clientId: k.client.clientId,
      description: k.client.description,
      enabled: k.enabled,
      fingerprint: k.hex.slice(0, 12),
    }));
  }

  /**
   * A line per tool name a client lists that is not among `known`: such a
   * name grants nothing (a misspelling, a renamed tool, or a pattern such as
   * `shell_*`, which keys-file lists do not take).
   */
  unknownTools(known: ReadonlySet<string>): string[] {
    return this.keys.flatMap((k) =>
      [...(k.client.tools ?? [])].filter((t) => !known.has(t)).map((t) => `keys file client "${k.client.clientId}" lists tool "${t}", which does not exist: it grants nothing`),
    );
  }

  /**
   * A line per enabled key, held in plaintext, shorter than a guess-proof
   * one, naming its client, never the key. A digest-only key's length is not
   * known here.
   */
  shortKeys(): string[] {
    return this.keys
      .filter((k) => k.enabled && k.plaintext !== null && k.plaintext.length < MIN_SAFE_KEY_LENGTH)
      .map((k) => shortKeyLine(k.client.clientId, k.plaintext!.length));
  }

  /**
   * What a start logs and check-config prints about these keys, in that
   * order: a keys file whose plaintext keys other users can read, one they
   * could rewrite, and short keys.
   */
  warnings(): string[] {
    const file = this.file === null ? [] : [plaintextKeysExposure(this.file, this.plaintextInFile()), writersWarning(this.file)];
    return [...file.filter((w): w is string => w !== null), ...this.shortKeys()];
  }

  /** How many keys the keys file holds in plaintext (`api_key`) rather than as digests. */
  plaintextInFile(): number {
    // The single configured key is the only one named "default" when it is set (a file client cannot take that id then).
    return this.keys.filter((k) => k.plaintext !== null && !(this.apiKey !== null && k.client.clientId === DEFAULT_CLIENT_ID)).length;
  }

  /** Plaintext keys this server knows, so logs and audit lines can mask them by value. */
  knownSecrets(): string[] {
    return this.keys.flatMap((k) => (k.plaintext === null ? [] : [k.plaintext]));
  }
}

/** Who else may write the keys file, or why that could not be told (a directory on its way changed while it was looked at). */
function writersWarning(file: string): string | null {
  try {
    return keysFileWritableByOthers(file);
  } catch (err) {
    return `could not tell who may write the keys file ${file}: ${(err as Error).message}`;
  }
}
