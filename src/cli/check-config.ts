/** `hide check-config`: validate every setting and print the effective config, secrets masked. */
import { ConfigError, loadConfig, maskedConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { replaceableRootWarnings } from '../config/replaceable-roots.ts';
import { readOnlyInWritableWarnings, writableExecutableWarning, writableKeysFileProblem, writableLaunchProblem } from '../config/writable-roots.ts';
import { currentLaunch } from '../runtime/launch.ts';
import { isWellFormedKey, KEY_FORM, KeyStore } from '../security/keys.ts';
import { Confiner } from '../workspace/confine.ts';
import { landlockAbi } from '../sandbox/landlock.ts';
import { predictedLayers } from '../sandbox/layers.ts';
import { parseFlags } from './common.ts';

export const CHECK_USAGE = `Usage: hide check-config [--config FILE] [--workspace DIR]

Validates all settings (flags, environment, .env, config file), and with auth
on the keys serve would load, and prints the effective configuration as JSON
with secrets masked, and where each value came from. The config file is --config FILE, else HIDE_CONFIG from the environment
or .env. Exit 0 when valid; 2 with one line per bad setting otherwise.`;

export async function runCheckConfig(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { config: { type: 'string' }, workspace: { type: 'string' } }, CHECK_USAGE);
  if (flags.help) {
    process.stdout.write(`${CHECK_USAGE}\n`);
    return 0;
  }
  const { config, sources, warnings } = loadConfig({
    configFile: flags.config as string | undefined,
    flags: { workspace: flags.workspace as string | undefined },
    isTTY: () => Boolean(process.stderr.isTTY),
  });
  const launch = currentLaunch();
  const problems = [workspaceProblem(config, sources), writableLaunchProblem(launch, config.workspace, config.allowedPaths), keysProblem(config, sources, warnings)].filter((p) => p !== null);
  const replaceable = writableExecutableWarning(launch, config.workspace, config.allowedPaths);
  if (replaceable !== null) warnings.push(replaceable);
  warnings.push(...replaceableRootWarnings(config));
  warnings.push(...readOnlyInWritableWarnings(config));
  if (problems.length > 0) throw new ConfigError(problems);
  const abi = process.platform === 'linux' ? landlockAbi() : 0;
  const sandbox = {
    mode: config.sandbox.mode,
    landlockAbi: abi,
    // What `serve` would do with this mode on this kernel.
    effective: config.sandbox.mode === 'off' ? 'off' : abi > 0 ? 'on' : config.sandbox.mode === 'required' ? 'refuses to start' : 'off (kernel has no Landlock)',
    layers: config.sandbox.mode === 'off' ? [] : predictedLayers(config.sandbox.network),
  };
  process.stdout.write(`${JSON.stringify({ config: maskedConfig(config), sandbox, sources, warnings }, null, 2)}\n`);
  return 0;
}

/**
 * What `serve` would refuse about the keys, as a setting problem: a keys file
 * that cannot be read or parsed, or auth on with no enabled key at all. What
 * it would warn about them (plaintext keys others can read, short keys) is
 * added to `warnings`.
 */
function keysProblem(config: Config, sources: Record<string, string>, warnings: string[]): string | null {
  const needed = config.auth.mode === 'both' || (config.auth.mode === 'apikey' && config.auth.enabled);
  if (!needed) return null;
  const from = (path: string) => (sources[path] !== 'default' ? ` (from ${sources[path]})` : '');
  if (config.auth.apiKey !== undefined && !isWellFormedKey(config.auth.apiKey)) {
    return `HIDE_API_KEY${from('auth.apiKey')}: must be ${KEY_FORM}`;
  }
  const planted = sources['auth.keysFile'] === 'default' && config.auth.keysFile !== undefined ? writableKeysFileProblem(config.auth.keysFile, config.workspace, config.allowedPaths) : null;
  if (planted !== null) return `HIDE_API_KEYS_FILE (default): ${planted}`;
  let store: KeyStore;
  try {
    store = new KeyStore({ apiKey: config.auth.apiKey ?? null, file: config.auth.keysFile ?? null });
  } catch (err) {
    return `HIDE_API_KEYS_FILE${from('auth.keysFile')}: ${(err as Error).message}`;
  }
  warnings.push(...store.warnings());
  store.close();
  if (store.hasAnyKey()) return null;
  return 'HIDE_AUTH_ENABLED: authentication is on but no enabled key is configured (HIDE_API_KEY, or HIDE_API_KEYS_FILE with an enabled client)';
}

/** What `serve` would refuse about the workspace: it must be an existing directory. */
function workspaceProblem(config: Config, sources: Record<string, string>): string | null {
  try {
    new Confiner(config.workspace, config.allowedPaths);
    return null;
  } catch (err) {
    const from = sources.workspace !== 'default' ? ` (from ${sources.workspace})` : '';
    return `HIDE_WORKSPACE${from}: not usable: ${(err as Error).message}`;
  }
}
