/**
 * Builds the effective Config from, in order of precedence: command-line
 * flags, the environment, `.env` in the working directory, a JSON config file,
 * and defaults. Every source is keyed through the SETTINGS rows so the seeds'
 * names keep working, and each value remembers where it came from so an error
 * can say which name to fix. Commands that need a setting or two (`keys`,
 * `health`) resolve just those through the same precedence.
 */
import { existsSync, statSync } from 'node:fs';
import { duplicateKeys } from '../util/json-duplicate-keys.ts';
import { jsonSyntaxMessage } from '../util/json-syntax.ts';
import { readSettingsFileSync } from '../util/read-settings-file.ts';
import { resolve } from 'node:path';
import * as v from 'valibot';
import { type Config, ConfigSchema, type SettingPath, type SettingValue } from './schema.ts';
import { CONFIG_FILE_ENV, defaultOf, type LoadContext, type SettingSpec } from './setting.ts';
import { unknownEnvNames } from './env-names.ts';
import { unknownFileKeys } from './file-keys.ts';
import { SETTINGS } from './settings.ts';
import { grantedRoots, type WritableRoot, workspaceDotenvProblem, writableRootOf } from './writable-roots.ts';

export { defaultAuditFile } from './settings.ts';

export interface LoadOptions {
  /** Values from command-line flags, keyed by setting path (e.g. "port"). */
  flags?: Record<string, string | undefined>;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** JSON config file; falls back to HIDE_CONFIG (environment, then .env). */
  configFile?: string;
  /**
   * Whether stderr is a terminal (decides the default log format). A function
   * is asked only when no source sets the format: finding out costs a start
   * milliseconds (the runtime builds its stderr stream to answer).
   */
  isTTY?: boolean | (() => boolean);
}

export interface LoadedConfig {
  config: Config;
  /** The .env and config file read, absolute: the sandbox checks that commands cannot read them. */
  files: string[];
  /** Where each setting's value came from: "flag --port", "env HIDE_PORT", "file x.json", "default". */
  sources: Record<string, string>;
  /** What to warn about at start: `HIDE_*` variables that name no setting (a misspelt name is otherwise silent). */
  warnings: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const ROWS: readonly SettingSpec[] = SETTINGS;
const MASK = '********';

/** Minimal .env reader: KEY=VALUE lines, `#` comments, optional quotes, `export ` prefix. */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  // A byte-order mark (some editors write one) would make the first line no KEY=VALUE line at all.
  for (const raw of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2] ?? '';
    const q = value[0];
    // A quoted value, alone or followed by a comment (`HIDE_HOST="127.0.0.1"  # loopback`); else a bare one, comment cut.
    const quoted = q === '"' || q === "'" ? (q === '"' ? /^"([^"]*)"\s*(?:#.*)?$/ : /^'([^']*)'\s*(?:#.*)?$/).exec(value) : null;
    if (quoted) value = quoted[1]!;
    else if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) value = value.slice(1, -1);
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

/** What one load reads from: the context, flags, both env sources and the config file. */
interface Sources {
  ctx: LoadContext;
  flags: Record<string, string | undefined>;
  dotenv: Record<string, string>;
  /** The .env read, absolute; null when there is none. */
  dotenvPath: string | null;
  configPath: string | undefined;
  /** The config file was named by the `.env` (HIDE_CONFIG there, not as a flag or in the environment). */
  configFromDotenv: boolean;
  fileData: unknown;
  /** The .env and config file, absolute. */
  files: string[];
  problems: string[];
  warnings: string[];
}

function readConfigFile(file: string): { data: unknown; problem?: string } {
  try {
    const text = readSettingsFileSync(file).replace(/^\uFEFF/, '');
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      return { data: {}, problem: `config file ${file}: ${jsonSyntaxMessage(err)}` };
    }
    // Setting names are looked up without regard to case (the seed's sections are PascalCase): `Auth` and `auth` are one.
    const twice = duplicateKeys(text, { ignoreCase: true });
    if (twice.length > 0) return { data, problem: `config file ${file}: ${twice.map((k) => `"${k}"`).join(', ')} given twice (one would silently override the other)` };
    return { data };
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    return { data: {}, problem: `config file ${file}: ${reason}` };
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function openSources(opts: LoadOptions): Sources {
  let isTTY = opts.isTTY ?? false;
  const ctx: LoadContext = {
    cwd: opts.cwd ?? process.cwd(),
    env: opts.env ?? process.env,
    get isTTY() {
      if (typeof isTTY === 'function') isTTY = isTTY();
      return isTTY;
    },
  };
  const problems: string[] = [];
  const dotenvPath = resolve(ctx.cwd, '.env');
  // A directory named `.env` (a Python virtual environment often is) holds no settings: it is the project's, passed over.
  const hasDotenv = existsSync(dotenvPath) && !isDirectory(dotenvPath);
  let dotenv: Record<string, string> = {};
  if (hasDotenv) {
    try {
      dotenv = parseDotenv(readSettingsFileSync(dotenvPath));
    } catch (err) {
      problems.push(`${dotenvPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  // An empty --config= names no file: that is a mistake, not a request for none (an empty HIDE_CONFIG is unset, as every empty variable is).
  if (opts.configFile?.trim() === '') problems.push('--config: expected a file name; got ""');
  const configPath = opts.configFile?.trim() || ctx.env[CONFIG_FILE_ENV] || dotenv[CONFIG_FILE_ENV] || undefined;
  let fileData: unknown = {};
  if (configPath) {
    const read = readConfigFile(resolve(ctx.cwd, configPath));
    fileData = read.data;
    if (read.problem) problems.push(read.problem);
    else if (fileData === null || typeof fileData !== 'object' || Array.isArray(fileData)) {
      problems.push(`config file ${configPath}: expected a JSON object`);
      fileData = {};
    } else for (const unknown of unknownFileKeys(fileData)) problems.push(`config file ${configPath}: ${unknown}`);
  }
  const files = [...(hasDotenv ? [dotenvPath] : []), ...(configPath ? [resolve(ctx.cwd, configPath)] : [])];
  const configFromDotenv = configPath !== undefined && !opts.configFile?.trim() && !ctx.env[CONFIG_FILE_ENV];
  return { ctx, flags: opts.flags ?? {}, dotenv, dotenvPath: hasDotenv ? dotenvPath : null, configPath, configFromDotenv, fileData, files, problems, warnings: [] };
}

/**
 * The value a setting has in one source, under its canonical name or a seed
 * alias. Two names of one setting set to different values in the same source
 * is a problem: whichever we took, the other was meant by someone.
 */
function fromNames(spec: SettingSpec, names: readonly string[], read: (name: string) => unknown, where: string, problems: string[]): [string, unknown] | undefined {
  const found = names.flatMap((name) => {
    const value = read(name);
    return value === undefined ? [] : [[name, value] as [string, unknown]];
  });
  // Compared as parsed when they parse: `true` and `1` say the same.
  const meaning = (value: unknown) => {
    const parsed = v.safeParse(spec.schema, value);
    return JSON.stringify(parsed.success ? parsed.output : value);
  };
  const differing = found.length > 1 ? found.filter(([, value]) => meaning(value) !== meaning(found[0]![1])) : [];
  if (differing.length > 0) {
    const named = found.map(([name]) => name).join(', ');
    problems.push(`${spec.env}: ${named} (${where}) are names of one setting and are set to different values; keep one`);
  }
  return found[0];
}

function firstEnv(spec: SettingSpec, env: Record<string, string | undefined>, where: string, problems: string[]): [string, string] | undefined {
  return fromNames(spec, [spec.env, ...(spec.envAliases ?? [])], (name) => env[name], where, problems) as [string, string] | undefined;
}

/** One setting's raw value and where it came from, by precedence. */
function pick(spec: SettingSpec, src: Sources): { value: unknown; source: string } {
  const flag = src.flags[spec.path];
  if (flag !== undefined) return { value: flag, source: `flag --${spec.path}` };
  const fromEnv = firstEnv(spec, src.ctx.env, 'environment', src.problems);
  if (fromEnv) return { value: fromEnv[1], source: `env ${fromEnv[0]}` };
  const fromDotenv = firstEnv(spec, src.dotenv, '.env', src.problems);
  if (fromDotenv) return { value: fromDotenv[1], source: `.env ${fromDotenv[0]}` };
  const fromFile = fromNames(spec, [spec.path, ...(spec.jsonAliases ?? [])], (p) => getPath(src.fileData, p), `config file ${src.configPath}`, src.problems);
  if (fromFile) return { value: fromFile[1], source: `file ${src.configPath} (${fromFile[0]})` };
  return { value: defaultOf(spec, src.ctx), source: 'default' };
}

/** One line per problem, naming the variable to fix and where its value came from; a secret's value is never shown. */
function problem(spec: SettingSpec, source: string, given: unknown, message: string): string {
  const from = source !== 'default' ? ` (from ${source})` : '';
  // JSON has no Infinity (1e400 in a config file parses to it) and would print it as null.
  // JSON.stringify(undefined) is undefined: a missing value is shown as the word.
  const shown = typeof given === 'number' && !Number.isFinite(given) ? String(given) : String(JSON.stringify(given));
  const got = spec.secret ? '' : `; got ${shown}`;
  // Of a URL the user-info is never shown, in the value or where a message quotes an item of it: a password there is
  // what a URL setting refuses, and the line is logged.
  return withoutUserinfo(`${spec.env}${from}: ${message}${got}`, given);
}

/**
 * Every text in `given` (strings, in lists and objects too) that a URL parser could take for user-info: after a
 * scheme and its slashes or backslashes (`https:u:pw@h` parses too), up to each `@` after it, whatever it holds (a
 * list in one string is split by its reader, so the first item's ends at an earlier `@` than the last). Bounded:
 * MAX_USERINFO texts in all.
 */
function userinfoIn(given: unknown, out: string[] = []): string[] {
  if (out.length >= MAX_USERINFO) return out;
  if (typeof given === 'string') {
    for (const m of given.matchAll(SCHEME)) {
      const rest = given.slice(m.index + m[0].length);
      for (let at = rest.indexOf('@'); at > 0 && out.length < MAX_USERINFO; at = rest.indexOf('@', at + 1)) out.push(rest.slice(0, at));
      if (out.length >= MAX_USERINFO) break;
    }
  } else if (Array.isArray(given)) for (const item of given) userinfoIn(item, out);
  else if (given !== null && typeof given === 'object') for (const item of Object.values(given)) userinfoIn(item, out);
  return out;
}

/** User-info texts looked for in one refused value: a value with more is shown without anything after its first scheme. */
const MAX_USERINFO = 64;

/** `line` with every user-info of `given` masked where it stands before its `@`, as written and as JSON text writes it. */
function withoutUserinfo(line: string, given: unknown): string {
  const found = userinfoIn(given);
  // Past the bound, nothing after the first scheme of the line is shown.
  if (found.length >= MAX_USERINFO) {
    const first = SCHEME_ONCE.exec(line);
    return first === null ? line : `${line.slice(0, first.index + first[0].length)}${MASK}`;
  }
  const parts = found.flatMap((p) => [p, JSON.stringify(p).slice(1, -1)]);
  for (const part of [...new Set(parts)].sort((a, b) => b.length - a.length)) line = line.split(`${part}@`).join(`${MASK}@`);
  return line;
}

/** The row an issue belongs to: its path, or the path of the value that holds it (a list item). */
function rowOf(dotPath: string): SettingSpec | undefined {
  return ROWS.find((s) => dotPath === s.path || dotPath.startsWith(`${s.path}.`));
}

/** Every name a `.env` line can set one of our settings by, the config file's included. */
const OUR_NAMES = new Set([CONFIG_FILE_ENV, ...ROWS.flatMap((s) => [s.env, ...(s.envAliases ?? [])])]);
const WORKSPACE_ROW = ROWS.find((s) => s.path === 'workspace')!;
const ALLOWED_PATHS_ROW = ROWS.find((s) => s.path === 'allowedPaths')!;

/** What commands and file tools may write under one set of sources: the workspace and the allowed paths. */
function writableRoots(src: Sources): WritableRoot[] {
  const value = (spec: SettingSpec): unknown => {
    const parsed = v.safeParse(spec.schema, pick(spec, src).value);
    // A bad value is reported by the load itself.
    return parsed.success ? (spec.finish ? spec.finish(parsed.output, src.ctx) : parsed.output) : undefined;
  };
  const workspace = value(WORKSPACE_ROW);
  const allowed = value(ALLOWED_PATHS_ROW);
  return grantedRoots(typeof workspace === 'string' ? workspace : undefined, Array.isArray(allowed) ? allowed : []);
}

/**
 * A `.env` that sets none of our settings is the project's own file, not
 * the server's: it is neither read nor kept from the tools. One that sets
 * some and lies where commands can write is refused — judged by the
 * workspace and allowed paths both without it and with it, since it could
 * move the workspace away from itself. Without it means without the config
 * file it names too: that file could move the workspace just as well.
 */
function screenDotenv(src: Sources): void {
  if (src.dotenvPath === null) return;
  const ours = Object.keys(src.dotenv).filter((name) => OUR_NAMES.has(name));
  if (ours.length === 0) {
    // Not read, yet a misspelt name of ours may be why: say so.
    src.warnings.push(...unknownEnvNames(src.dotenv, `${src.dotenvPath}, not read: it sets no setting`));
    src.files = src.files.filter((f) => f !== src.dotenvPath);
    src.dotenv = {};
    return;
  }
  const quiet = { problems: [] as string[] };
  const without = { ...src, ...quiet, dotenv: {}, ...(src.configFromDotenv ? { fileData: {} } : {}) };
  const root = writableRootOf(src.dotenvPath, [...writableRoots(without), ...writableRoots({ ...src, ...quiet })]);
  if (root) src.problems.push(workspaceDotenvProblem(src.dotenvPath, ours, root));
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const src = openSources(opts);
  screenDotenv(src);
  const raw: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  for (const spec of ROWS) {
    const { value, source } = pick(spec, src);
    setPath(raw, spec.path, value);
    sources[spec.path] = source;
  }

  const parsed = v.safeParse(ConfigSchema, raw);
  if (!parsed.success) {
    for (const issue of parsed.issues) {
      const path = v.getDotPath(issue) ?? '(config)';
      const spec = rowOf(path);
      src.problems.push(spec ? problem(spec, sources[spec.path]!, getPath(raw, spec.path), issue.message) : `${path}: ${issue.message}`);
    }
  }
  if (src.problems.length > 0 || !parsed.success) throw new ConfigError(src.problems);

  const config = parsed.output;
  for (const spec of ROWS) {
    if (spec.finish) setPath(config as Record<string, unknown>, spec.path, spec.finish(getPath(config, spec.path), src.ctx));
  }
  const warnings = [...unknownEnvNames(src.ctx.env, 'environment'), ...unknownEnvNames(src.dotenv, src.dotenvPath ?? '.env'), ...src.warnings];
  return { config, sources, files: src.files, warnings };
}

export interface LoadedSettings<P extends SettingPath> {
  values: { [K in P]: SettingValue<K> };
  sources: Record<string, string>;
  files: string[];
}

/**
 * Resolves only the named settings, with the same sources and precedence as
 * loadConfig, and validates only them: a command that needs the keys file
 * does not fail over an unrelated bad setting.
 *
 * @example
 * const { values } = loadSettings(['port'], { configFile: flags.config });
 * values.port; // number
 */
export function loadSettings<const P extends SettingPath>(paths: readonly P[], opts: LoadOptions = {}): LoadedSettings<P> {
  const src = openSources(opts);
  // Screened as for a start: `hide keys generate` run in the project would otherwise take a keys file path from a
  // `.env` a command wrote there, and write the new client (as root, perhaps) wherever it says.
  screenDotenv(src);
  const values: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  for (const path of paths) {
    const spec = ROWS.find((s) => s.path === path)!;
    const { value, source } = pick(spec, src);
    sources[path] = source;
    const parsed = v.safeParse(spec.schema, value);
    if (parsed.success) values[path] = spec.finish ? spec.finish(parsed.output, src.ctx) : parsed.output;
    else for (const issue of parsed.issues) src.problems.push(problem(spec, source, value, issue.message));
  }
  if (src.problems.length > 0) throw new ConfigError(src.problems);
  return { values: values as LoadedSettings<P>['values'], sources, files: src.files };
}

/**
 * The user-info of a URL (`redis://user:pass@host`): `//…@`, up to the last
 * `@` before the host ends, as URL parsers read it — so a password holding a
 * bare `@` (`redis://:p@ss@host`) is all of it, not only what precedes its `@`.
 */
const URL_USERINFO = /\/\/([^/?#]*)@/;
/** A URL scheme and the slashes (or backslashes) after it. */
const SCHEME = /(?<![A-Za-z0-9+.-])[a-z][a-z0-9+.-]{0,31}:[\\/]*/gi;
const SCHEME_ONCE = new RegExp(SCHEME.source, 'i');

/**
 * The values of every secret row, for the audit redactor to mask wherever
 * they turn up (a command's arguments, a header): whole values, and of a URL
 * the password alone, as written and decoded.
 */
export function secretValues(config: Config): string[] {
  const out: string[] = [];
  for (const spec of ROWS) {
    const value = getPath(config, spec.path);
    if (!spec.secret || typeof value !== 'string' || value === '') continue;
    if (spec.secret === true) {
      out.push(value);
      continue;
    }
    const userinfo = URL_USERINFO.exec(value)?.[1] ?? '';
    const password = userinfo.slice(userinfo.indexOf(':') + 1);
    if (password === '') continue;
    out.push(password);
    try {
      const decoded = decodeURIComponent(password);
      if (decoded !== password) out.push(decoded);
    } catch {
      /* not percent-encoded */
    }
  }
  return out;
}

/** A URL with its user-info (user and password) masked, all of it, for logs and printing. */
export function maskedUrlUserinfo(url: string): string {
  return url.replace(URL_USERINFO, `//${MASK}@`);
}

/** A copy of the config fit for printing: every secret row masked. */
export function maskedConfig(config: Config): Config {
  const copy = structuredClone(config);
  for (const spec of ROWS) {
    const value = getPath(copy, spec.path);
    if (!spec.secret || typeof value !== 'string' || value === '') continue;
    // A Redis URL may carry a password (redis://:pass@host): mask only that part.
    const masked = spec.secret === 'url-password' ? maskedUrlUserinfo(value) : MASK;
    setPath(copy as Record<string, unknown>, spec.path, masked);
  }
  return copy;
}
