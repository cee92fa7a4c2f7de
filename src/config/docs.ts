/**
 * Renders `.env.example` and the settings table in README.md and
 * docs/DESIGN.md from the rows of settings.ts, so the docs name every
 * setting with its real default. test/config/generated.test.ts fails when a
 * committed file differs; `bun run settings:write` rewrites them.
 */
import { CONFIG_FILE_ENV, type SettingSpec } from './setting.ts';
import { SETTINGS } from './settings.ts';

const ROWS: readonly SettingSpec[] = SETTINGS;

/** The files that hold the settings table between TABLE_START and TABLE_END. */
export const TABLE_FILES = ['README.md', 'docs/DESIGN.md'];
export const TABLE_START = '<!-- settings table: generated from src/config/settings.ts by `bun run settings:write`; edit the rows there -->';
export const TABLE_END = '<!-- end of settings table -->';

const CONFIG_FILE_DOC =
  "A JSON config file, as `--config FILE` (the flag wins); relative to the working directory. Keys are the settings' dotted paths, nested: " +
  '`{"rateLimit":{"rpm":120}}`.';

function secretNote(spec: SettingSpec): string {
  if (spec.secret === true) return ' Secret: `check-config` masks it.';
  if (spec.secret === 'url-password') return ' `check-config` masks the password in it.';
  return '';
}

/** A fixed default as written after `NAME=`; undefined when there is nothing to write. */
function envForm(spec: SettingSpec): string | undefined {
  const value: unknown = spec.default;
  if (value === undefined || value === null || typeof value === 'function') return undefined;
  // Lists and maps are written as JSON, as the env reader takes them.
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function defaultText(spec: SettingSpec): string {
  if (spec.defaultDoc !== undefined) return spec.defaultDoc;
  const value = envForm(spec);
  return value === undefined ? 'unset' : `\`${value}\``;
}

// Markdown code spans read as noise in a shell-style comment.
const plain = (text: string) => text.replaceAll('`', '');

/** `.env.example`: every setting commented out at its default, or at an example when the default is unset or computed. */
export function renderEnvExample(): string {
  const lines = [
    '# Generated from src/config/settings.ts by `bun run settings:write`: edit the rows there, not this file.',
    '# Copy to .env in the working directory (or export the variables) and uncomment what you change. That directory must lie',
    '# outside the workspace and the allowed paths (start with --workspace DIR): a .env there that sets these stops the start.',
    '# Precedence: command-line flags > environment > .env > config file > defaults.',
    "# Lists are JSON arrays or comma-separated. \"Also\" lists the seeds' names for a setting; they keep working.",
    '',
    `# ${plain(CONFIG_FILE_DOC)}`,
    `# ${CONFIG_FILE_ENV}=hide.json`,
  ];
  for (const spec of ROWS) {
    const value = envForm(spec);
    lines.push('', `# ${plain(spec.doc + secretNote(spec))}`);
    if (spec.envAliases?.length) lines.push(`# Also: ${spec.envAliases.join(', ')}.`);
    if (spec.defaultDoc !== undefined || spec.example !== undefined || value === undefined) lines.push(`# Default: ${plain(defaultText(spec))}.`);
    lines.push(`# ${spec.env}=${spec.example ?? value ?? ''}`);
  }
  return `${lines.join('\n')}\n`;
}

const cell = (text: string) => text.replaceAll('|', '\\|');
const codes = (names: readonly string[]) => names.map((n) => `\`${n}\``).join(', ');

/** The settings table, one row per setting (plus HIDE_CONFIG), as Markdown. */
export function renderSettingsTable(): string {
  const rows = [
    '| env (seed aliases) | config file key (seed aliases) | default | what it does |',
    '|---|---|---|---|',
    `| \`${CONFIG_FILE_ENV}\` | — | unset | ${cell(CONFIG_FILE_DOC)} |`,
  ];
  for (const spec of ROWS) {
    const env = `\`${spec.env}\`${spec.envAliases?.length ? ` (${codes(spec.envAliases)})` : ''}`;
    const json = `\`${spec.path}\`${spec.jsonAliases?.length ? ` (${codes(spec.jsonAliases)})` : ''}`;
    rows.push(`| ${cell(env)} | ${cell(json)} | ${cell(defaultText(spec))} | ${cell(spec.doc + secretNote(spec))} |`);
  }
  return `${rows.join('\n')}\n`;
}

/** The document with the text between the table markers replaced by the current table. */
export function spliceTable(doc: string, file: string): string {
  const start = doc.indexOf(TABLE_START);
  const end = doc.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`${file}: the settings table markers are missing (${TABLE_START} … ${TABLE_END})`);
  return `${doc.slice(0, start)}${TABLE_START}\n${renderSettingsTable()}${doc.slice(end)}`;
}

/**
 * Every generated file as it should be: its path from the repository root
 * and its whole text. `read` gives a file's committed text (the tables live
 * inside hand-written documents).
 */
export function generatedFiles(read: (path: string) => string): { path: string; text: string }[] {
  return [{ path: '.env.example', text: renderEnvExample() }, ...TABLE_FILES.map((path) => ({ path, text: spliceTable(read(path), path) }))];
}
