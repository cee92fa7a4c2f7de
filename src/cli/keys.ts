/**
 * `hide keys generate|list`: manage the keys file. A generated key is shown
 * once and only its SHA-256 is written, so the file never holds a usable key.
 * Writes go through a temp file and rename, so the server's watcher never
 * reads a half-written file. Without --file, the keys file is the one the
 * server would use, resolved through the same settings loader.
 */
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadSettings } from '../config/load.ts';
import { inertText } from '../core/inert-text.ts';
import { LockTimeoutError, withDirLockSync } from '../util/dir-lock.ts';
import { readSettingsFileSync } from '../util/read-settings-file.ts';
import { writeFileAtomicSync } from '../util/write-file-atomic.ts';
import { parseArgsOnce, UsageError } from './common.ts';
import { generateApiKey, KeyStore, parseKeysFile, sha256Hex } from '../security/keys.ts';

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: CliIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

const USAGE = `Usage:
  hide keys generate --client-id ID [--description TEXT] [--file FILE] [--config FILE]
      Create a 256-bit key for a new client, print it once, and add the
      client to the keys file with only the key's SHA-256 stored.
  hide keys list [--file FILE] [--config FILE]
      Show client ids, enabled flags and key fingerprints (never keys).

Without --file, the keys file is the server's: HIDE_API_KEYS_FILE (or
SECURITY_API_KEYS_FILE) from the environment, .env or the config file given by
--config or HIDE_CONFIG; else .mcp_keys.json in the current directory.
`;


/** The keys file the server would use (absolute), or .mcp_keys.json here when none is set. */
function defaultFile(configFile: string | undefined): string {
  const { values } = loadSettings(['auth.keysFile'], { configFile });
  return values['auth.keysFile'] ?? resolve('.mcp_keys.json');
}


/** How long a generate waits for another to finish; one holds the lock for milliseconds. */
const LOCK_WAIT_MS = 10_000;

/**
 * Runs `body` holding a lock on the keys file's directory, so generates run
 * one after another: each reads, appends and renames, and two at once would
 * both read the same file and the later rename would drop the other's client.
 */
function withKeysLock<T>(file: string, body: () => T): T {
  try {
    return withDirLockSync(dirname(file), LOCK_WAIT_MS, body);
  } catch (err) {
    if (err instanceof LockTimeoutError) throw new Error(`another "hide keys generate" has held ${file} for over ${LOCK_WAIT_MS / 1000} s; try again`);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`no directory ${dirname(file)} for the keys file ${file}`);
    throw err;
  }
}

function generate(values: { 'client-id'?: string; description?: string }, file: string, io: CliIo): number {
  const clientId = values['client-id'];
  if (!clientId) throw new UsageError('--client-id is required');
  if (!/^[A-Za-z0-9._@:-]{1,128}$/.test(clientId)) {
    throw new UsageError('--client-id must be 1-128 characters of letters, digits and . _ @ : -');
  }
  return withKeysLock(file, () => append(clientId, values.description, file, io));
}

function append(clientId: string, description: string | undefined, file: string, io: CliIo): number {
  // Neither way through a link is right: replaced by the new file, the link leaves its target (a file a secret store or
  // config management keeps) as it was, and later changes to it, revocations among them, no longer reach the server;
  // written through, a link planted beside the keys file would have whoever runs this (root) rewrite another file.
  const link = linkTarget(file);
  if (link !== null) throw new Error(`${file} is a symbolic link (to ${link}): name the file itself with --file`);
  let doc: { clients: unknown[] } & Record<string, unknown> = { clients: [] };
  if (existsSync(file)) {
    let text: string;
    try {
      text = readSettingsFileSync(file);
    } catch (err) {
      throw new Error(`cannot read keys file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const entries = parseKeysFile(text);
    if (entries.some((e) => e.client_id === clientId)) {
      throw new UsageError(`client id "${clientId}" already exists in ${file}`);
    }
    // Keep the file as the user wrote it (extra fields, plaintext entries) and only append.
    doc = JSON.parse(text) as typeof doc;
  }
  const key = generateApiKey();
  doc.clients.push({
    client_id: clientId,
    description: description ?? '',
    enabled: true,
    api_key_sha256: sha256Hex(key),
  });
  writeFileAtomicSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  io.err(`Added client "${clientId}" to ${file}. The key is shown once; store it now.\n`);
  io.out(`${key}\n`);
  return 0;
}

function linkTarget(file: string): string | null {
  try {
    return lstatSync(file).isSymbolicLink() ? readlinkSync(file) : null;
  } catch {
    return null;
  }
}

/** A cell as text that cannot break the table or drive the terminal: control characters shown as \uXXXX. */
function list(file: string, io: CliIo): number {
  if (!existsSync(file)) throw new UsageError(`no keys file at ${file}`);
  const store = new KeyStore({ file });
  const rows = store.listClients().map((c) => [c.clientId, c.enabled ? 'yes' : 'no', c.fingerprint, inertText(c.description)]);
  const header = ['CLIENT ID', 'ENABLED', 'FINGERPRINT', 'DESCRIPTION'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  io.out(`${[header, ...rows].map(line).join('\n')}\n`);
  return 0;
}

export async function runKeys(argv: string[], io: CliIo = stdio): Promise<number> {
  try {
    const { values, positionals } = parseArgsOnce({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'client-id': { type: 'string' },
        description: { type: 'string' },
        file: { type: 'string' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    const [command, ...rest] = positionals;
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    if (command !== 'generate' && command !== 'list') {
      throw new UsageError(command === undefined ? 'missing command' : `unknown command "${command}"`);
    }
    if (command === 'list' && (values['client-id'] !== undefined || values.description !== undefined)) {
      throw new UsageError('list takes only --file and --config');
    }
    const file = values.file !== undefined ? resolve(values.file) : defaultFile(values.config);
    return command === 'generate' ? generate(values, file, io) : list(file, io);
  } catch (err) {
    // parseArgs, the settings, the keys file and the filesystem all report through
    // here: every problem is the user's input or environment, shown as is, exit 2.
    io.err(`hide keys: ${(err as Error).message}\n`);
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`Run "hide keys --help" for usage.\n`);
    }
    return 2;
  }
}
