/** `hide check-config`: validate every setting and print the effective config, secrets masked. */
import { loadConfig, maskedConfig } from '../config/load.ts';
import { landlockAbi } from '../sandbox/landlock.ts';
import { predictedLayers } from '../sandbox/layers.ts';
import { parseFlags } from './common.ts';

export const CHECK_USAGE = `Usage: hide check-config [--config FILE] [--workspace DIR]

Validates all settings (flags, environment, .env, config file) and prints the
effective configuration as JSON with secrets masked, and where each value came
from. The config file is --config FILE, else HIDE_CONFIG from the environment
or .env. Exit 0 when valid; 2 with one line per bad setting otherwise.`;

export async function runCheckConfig(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { config: { type: 'string' }, workspace: { type: 'string' } }, CHECK_USAGE);
  if (flags.help) {
    process.stdout.write(`${CHECK_USAGE}\n`);
    return 0;
  }
  const { config, sources } = loadConfig({
    configFile: flags.config as string | undefined,
    flags: { workspace: flags.workspace as string | undefined },
    isTTY: Boolean(process.stderr.isTTY),
  });
  const abi = process.platform === 'linux' ? landlockAbi() : 0;
  const sandbox = {
    mode: config.sandbox.mode,
    landlockAbi: abi,
    // What `serve` would do with this mode on this kernel.
    effective: config.sandbox.mode === 'off' ? 'off' : abi > 0 ? 'on' : config.sandbox.mode === 'required' ? 'refuses to start' : 'off (kernel has no Landlock)',
    layers: config.sandbox.mode === 'off' ? [] : predictedLayers(config.sandbox.network),
  };
  process.stdout.write(`${JSON.stringify({ config: maskedConfig(config), sandbox, sources }, null, 2)}\n`);
  return 0;
}
