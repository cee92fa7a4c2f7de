/**
 * Which keys of a JSON config file name settings: the rows' dotted paths and
 * the seeds' appsettings paths, matched in any case. A key that names none is
 * reported (with the nearest name), since a misspelt key would otherwise leave
 * its setting at the default without a word.
 */
import { editDistance } from '../util/edit-distance.ts';
import { SETTINGS } from './settings.ts';

/** Every dotted path a config file may set, lower-cased (keys match in any case): the rows' paths and the seeds' aliases. */
const FILE_PATHS = new Set(SETTINGS.flatMap((s) => [s.path, ...(s.jsonAliases ?? [])]).map((p) => p.toLowerCase()));
/** The objects those paths run through (`ratelimit`, `authentication.apikey`). */
const FILE_SECTIONS = new Set([...FILE_PATHS].flatMap((p) => p.split('.').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('.'))));
/**
 * Sections an ASP.NET host's appsettings.json carries besides the settings
 * (its template writes `Logging` and `AllowedHosts`, and `AllowedHosts` is
 * ours too): a seed user's file keeps loading, and they configure nothing here.
 */
const HOST_SECTIONS = new Set(['logging', 'kestrel']);
/** Canonical paths, for "did you mean". */
const CANONICAL_PATHS = SETTINGS.map((s) => s.path);

/**
 * Keys of a config file that name no setting: a misspelt key would otherwise
 * leave its setting at the default without a word. `$schema` (for editors) and
 * an ASP.NET host's own sections are allowed at the top.
 */
export function unknownFileKeys(data: unknown, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    const path = `${prefix}${key}`;
    const lower = path.toLowerCase();
    if ((prefix === '' && (key === '$schema' || HOST_SECTIONS.has(lower))) || FILE_PATHS.has(lower)) continue;
    if (!FILE_SECTIONS.has(lower)) {
      const near = CANONICAL_PATHS.map((p) => [p, editDistance(lower, p.toLowerCase())] as const).sort((a, b) => a[1] - b[1])[0];
      out.push(`unknown setting "${path}"${near && near[1] <= 3 ? ` (did you mean "${near[0]}"?)` : ''}`);
    } else if (value === null || typeof value !== 'object' || Array.isArray(value)) out.push(`"${path}" must be an object of settings`);
    else out.push(...unknownFileKeys(value, `${path}.`));
  }
  return out;
}
