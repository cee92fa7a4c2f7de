/** How this process was started: what it runs and where npm or Bun found it (config/writable-roots.ts judges it). */
import { resolve } from 'node:path';
import type { Launch } from '../config/writable-roots.ts';
import { isCompiled } from '../core/compiled.ts';

export function currentLaunch(env: NodeJS.ProcessEnv = process.env): Launch {
  const compiled = isCompiled();
  return {
    // From source this module is src/runtime/launch.ts: the tree's root holds src/, package.json and node_modules/.
    program: compiled ? process.execPath : resolve(import.meta.dir, '../..'),
    fromSource: !compiled,
    npmPrefix: env.npm_config_local_prefix || null,
    npmStart: env.npm_config_local_prefix ? env.INIT_CWD || process.cwd() : null,
  };
}
