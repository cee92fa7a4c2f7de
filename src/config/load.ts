/**
 * Builds the effective Config from, in order of precedence: command-line
 * flags, the environment, `.env` in the working directory, a JSON config file,
 * and defaults. Every source is keyed through the SETTINGS table so the seeds'
 * names keep working, and each value remembers where it came from so an error
 * can say which name to fix.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import * as v from 'valibot';
import { type Config, ConfigSchema } from './schema.ts';
import { SEED_DENIED_COMMANDS, SETTINGS, type SettingSpec } from './settings.ts';

export interface LoadOptions {
  /** Values from command-line flags, keyed by setting path (e.g. "port"). */
  flags?: Record<string, string | undefined>;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** JSON config file; falls back to HIDE_CONFIG. */
  configFile?: string;
  /** Whether stderr is a terminal (decides the default log format). */
  isTTY?: boolean;
}

export interface LoadedConfig {
  config: Config;
  /** The .env and config file read, absolute: the sandbox checks that commands cannot read them. */
  files: string[];
  /** Where each setting's value came from: "flag --port", "env HIDE_PORT", "file x.json", "default". */
  sources: Record<string, string>;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * The default audit log: the user's state directory, never the workspace —
 * a first run must not write into the user's project, and commands must not
 * be able to read or change the log.
 */
export function defaultAuditFile(env: Record<string, string | undefined>, cwd: string): string {
  const state = env.XDG_STATE_HOME || (env.HOME ? join(env.HOME, '.local', 'state') : null);
  return state ? join(state, 'hide', 'audit.jsonl') : resolve(cwd, 'hide-audit.jsonl');
}

function defaults(cwd: string, isTTY: boolean, env: Record<string, string | undefined>): Record<string, unknown> {
  const keysFile = resolve(cwd, '.mcp_keys.json');
  return {
    host: '127.0.0.1',
    port: 5000,
    workspace: cwd,
    allowedPaths: [],
    'auth.enabled': false,
    'auth.apiKey': undefined,
    'auth.keysFile': existsSync(keysFile) ? keysFile : undefined,
    'auth.header': 'X-API-Key',
    allowedClientIps: [],
    trustedProxies: [],
    'rateLimit.enabled': true,
    'rateLimit.rpm': 60,
    'rateLimit.concurrent': 3,
    'rateLimit.store': 'memory',
    'rateLimit.redisUrl': undefined,
    'rateLimit.onStoreError': 'deny',
    'rateLimit.leaseSeconds': 30,
    'audit.enabled': true,
    'audit.file': defaultAuditFile(env, cwd),
    'audit.maxBytes': 0,
    'audit.keep': 5,
    'metrics.port': undefined,
    'metrics.token': undefined,
    shutdownGraceSeconds: 10,
    allowedOrigins: null,
    maxBodyBytes: 4 * 1024 * 1024,
    allowUnauthenticated: false,
    readOnly: false,
    'sandbox.mode': 'auto',
    'sandbox.network': 'off',
    'sandbox.readOnlyPaths': [],
    'sandbox.cpuSeconds': 0,
    'sandbox.memoryBytes': 0,
    'sandbox.openFiles': 4096,
    'sandbox.fileSizeBytes': 0,
    'sandbox.processes': 4096,
    'log.level': 'info',
    'log.format': isTTY ? 'pretty' : 'json',
    'exec.defaultTimeoutSeconds': 30,
    'exec.maxTimeoutSeconds': 300,
    // An agent reads the output in its context window: 256 KiB is already ~64k
    // tokens. Larger caps are a setting away; see the README.
    'exec.maxOutputBytes': 256 * 1024,
    'exec.allowedCommands': [],
    'exec.deniedCommands': SEED_DENIED_COMMANDS,
    'exec.envPassthrough': [],
  };
}

/** Minimal .env reader: KEY=VALUE lines, `#` comments, optional quotes, `export ` prefix. */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2] ?? '';
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) value = value.slice(1, -1);
    else value = value.replace(/\s+#.*$/, '');
    out[m[1]!] = value;
  }
  return out;
}

function getPath(obj: unknown, dotted: string): unknown {
  let cur: unknown = obj;
  for (const part of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    // Case-insensitive lookup: the seed's appsettings sections are PascalCase.
    const rec = cur as Record<string, unknown>;
    const key = part in rec ? part : Object.keys(rec).find((k) => k.toLowerCase() === part.toLowerCase());
    cur = key === undefined ? undefined : rec[key];
  }
  return cur;
}

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    cur[part] ??= {};
    cur = cur[part] as Record<string, unknown>;
  }
  cur[parts.at(-1)!] = value;
}

function readConfigFile(file: string): { data: unknown; problem?: string } {
  try {
    return { data: JSON.parse(readFileSync(file, 'utf8')) };
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    return { data: {}, problem: `config file ${file}: ${reason}` };
  }
}

function firstEnv(spec: SettingSpec, env: Record<string, string | undefined>): [string, string] | undefined {
  for (const name of [spec.env, ...(spec.envAliases ?? [])]) {
    const value = env[name];
    if (value !== undefined) return [name, value];
  }
  return undefined;
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const flags = opts.flags ?? {};
  const problems: string[] = [];

  const dotenvPath = resolve(cwd, '.env');
  const dotenv = existsSync(dotenvPath) ? parseDotenv(readFileSync(dotenvPath, 'utf8')) : {};

  const configPath = opts.configFile ?? env.HIDE_CONFIG ?? dotenv.HIDE_CONFIG;
  let fileData: unknown = {};
  if (configPath) {
    const read = readConfigFile(resolve(cwd, configPath));
    fileData = read.data;
    if (read.problem) problems.push(read.problem);
    else if (fileData === null || typeof fileData !== 'object' || Array.isArray(fileData)) {
      problems.push(`config file ${configPath}: expected a JSON object`);
      fileData = {};
    }
  }

  const defs = defaults(cwd, opts.isTTY ?? false, env);
  const raw: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  for (const spec of SETTINGS) {
    let value: unknown;
    let source: string | undefined;
    const flag = flags[spec.path];
    const fromEnv = firstEnv(spec, env);
    const fromDotenv = firstEnv(spec, dotenv);
    if (flag !== undefined) {
      value = flag;
      source = `flag --${spec.path}`;
    } else if (fromEnv) {
      [source, value] = [`env ${fromEnv[0]}`, fromEnv[1]];
    } else if (fromDotenv) {
      [source, value] = [`.env ${fromDotenv[0]}`, fromDotenv[1]];
    } else {
      for (const p of [spec.path, ...(spec.jsonAliases ?? [])]) {
        const found = getPath(fileData, p);
        if (found !== undefined) {
          [source, value] = [`file ${configPath} (${p})`, found];
          break;
        }
      }
    }
    if (source === undefined) {
      value = defs[spec.path];
      source = 'default';
    }
    setPath(raw, spec.path, value);
    sources[spec.path] = source;
  }

  const parsed = v.safeParse(ConfigSchema, raw);
  if (!parsed.success) {
    for (const issue of parsed.issues) {
      const path = v.getDotPath(issue) ?? '(config)';
      const spec = SETTINGS.find((s) => s.path === path);
      const from = sources[path] && sources[path] !== 'default' ? ` (from ${sources[path]})` : '';
      const given = spec?.secret ? '' : `; got ${JSON.stringify(issue.input)}`;
      const name = spec ? `${spec.env}${from}` : path;
      problems.push(`${name}: ${issue.message}${given}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const config = (parsed as v.SafeParseResult<typeof ConfigSchema> & { success: true }).output;
  // Paths are fixed at load time so later chdir or a different cwd cannot move them.
  config.workspace = resolve(cwd, config.workspace);
  config.allowedPaths = config.allowedPaths.map((p) => resolve(cwd, p));
  if (config.auth.keysFile) config.auth.keysFile = resolve(cwd, config.auth.keysFile);
  if (config.audit.file !== '-' && !isAbsolute(config.audit.file)) config.audit.file = resolve(cwd, config.audit.file);
  const files = [...(existsSync(dotenvPath) ? [dotenvPath] : []), ...(configPath ? [resolve(cwd, configPath)] : [])];
  return { config, sources, files };
}

/** A copy of the config fit for printing: secrets masked. */
export function maskedConfig(config: Config): Config {
  const copy = structuredClone(config);
  if (copy.auth.apiKey) copy.auth.apiKey = '********';
  if (copy.metrics.token) copy.metrics.token = '********';
  // A Redis URL may carry a password (redis://:pass@host): mask only that part.
  if (copy.rateLimit.redisUrl) copy.rateLimit.redisUrl = copy.rateLimit.redisUrl.replace(/\/\/([^@/]*)@/, '//********@');
  return copy;
}
