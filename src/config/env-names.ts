/**
 * Variables that look like ours and are not: a misspelt name leaves its
 * setting at the default without a word (`HIDE_READONLY=true` would serve a
 * writable workspace), so each is named at start, with the nearest setting.
 * Not refused: the environment is shared with whatever else runs there.
 */
import { editDistance } from '../util/edit-distance.ts';
import { SETTINGS } from './settings.ts';
import { CONFIG_FILE_ENV } from './setting.ts';

const PREFIX = 'HIDE_';
/** Canonical names, for "did you mean". */
const CANONICAL = SETTINGS.map((s) => s.env);
/**
 * Every name that means something to us: the settings and their seed
 * aliases, the config file, the launcher's own configuration, and the npm
 * wrapper's (which runs the binary with its environment as it is).
 */
const KNOWN = new Set([
  ...SETTINGS.flatMap((s) => [s.env, ...(s.envAliases ?? [])]),
  CONFIG_FILE_ENV,
  'HIDE_LAUNCHER_CONFIG',
  'HIDE_BINARY_PATH',
  'HIDE_CPUINFO',
]);

/** One line per set `HIDE_*` variable of `env` that names nothing of ours; `where` says which source (environment, .env). */
export function unknownEnvNames(env: Readonly<Record<string, string | undefined>>, where: string): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    // An empty variable is unset, as for every setting.
    if (!name.startsWith(PREFIX) || KNOWN.has(name) || value === undefined || value === '') continue;
    const [near, distance] = CANONICAL.map((c) => [c, editDistance(name, c)] as const).reduce((a, b) => (b[1] < a[1] ? b : a));
    const hint = distance <= 3 ? ` (did you mean ${near}?)` : '';
    out.push(`${name} (${where}) is not a setting and is ignored${hint}`);
  }
  return out.sort();
}
