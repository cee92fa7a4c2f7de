/** How the server starts a launcher from this same program. */
import { fileURLToPath } from 'node:url';
import { isCompiled } from '../core/compiled.ts';

/** argv word that selects launcher mode in src/main.ts. */
export const LAUNCHER_COMMAND = '__launcher';

/** The executable itself when compiled, else Bun running src/main.ts. */
export function launcherArgv(): string[] {
  if (isCompiled()) return [process.execPath, LAUNCHER_COMMAND];
  return [process.execPath, fileURLToPath(new URL('../main.ts', import.meta.url)), LAUNCHER_COMMAND];
}
