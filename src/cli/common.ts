/**
 * What every command shares: flag parsing with --help, loading the config with
 * exit code 2 on a bad setting, and configuring the logger from it. Every
 * command imports this module, so it must stay light: no runtime, no server.
 */
import { parseArgs } from 'node:util';
import { ConfigError, type LoadedConfig, loadConfig } from '../config/load.ts';
import { configureLogger } from '../core/log.ts';
import { StartupError } from '../core/startup-error.ts';

export const EXIT_USAGE = 2;

export class UsageError extends Error {}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/**
 * A flag that takes one value given twice (`--port 1 --port 2`) is refused:
 * parseArgs would keep the last without a word, and the first may be the one
 * that was meant. Flags declared `multiple` may repeat.
 */
export function parseArgsOnce<T extends NonNullable<Parameters<typeof parseArgs>[0]>>(config: T) {
  const parsed = parseArgs({ ...config, tokens: true });
  const seen = new Set<string>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option' || config.options?.[token.name]?.multiple) continue;
    if (seen.has(token.name)) throw new UsageError(`--${token.name} is given more than once`);
    seen.add(token.name);
  }
  return parsed;
}

export function parseFlags<T extends Options>(argv: string[], options: T, usage: string) {
  try {
    const parsed = parseArgsOnce({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true });
    return parsed.values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`);
  }
}

/** Loads config for a command; flags map onto setting paths. */
export function loadForCommand(flags: Record<string, string | boolean | undefined>): LoadedConfig {
  const str = (k: string) => (typeof flags[k] === 'string' ? (flags[k] as string) : undefined);
  const loaded = loadConfig({
    flags: { host: str('host'), port: str('port'), workspace: str('workspace') },
    configFile: str('config'),
    isTTY: () => Boolean(process.stderr.isTTY),
  });
  const log = configureLogger({ level: loaded.config.log.level, format: loaded.config.log.format });
  for (const line of loaded.warnings) log.withTag('config').warn(line);
  return loaded;
}

/** Runs a command body, turning known failures into messages and exit codes. */
export async function runCommand(body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError || err instanceof StartupError) {
      process.stderr.write(`hide: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}
