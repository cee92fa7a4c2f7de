/** How the server starts a launcher from this same program. */
import { fileURLToPath } from 'node:url';

/** argv word that selects launcher mode in src/main.ts. */
export const LAUNCHER_COMMAND = '__launcher';

/** True inside a `bun build --compile` executable, whose modules live in /$bunfs. */
function isCompiled(): boolean {
  return Bun.main.startsWith('/$bunfs/') || Bun.main.startsWith('B:\\~BUN\\');
}

/** The executable itself when compiled, else Bun running src/main.ts. */
export function launcherArgv(): string[] {
  if (isCompiled()) return [process.execPath, LAUNCHER_COMMAND];
  return [process.execPath, fileURLToPath(new URL('../main.ts', import.meta.url)), LAUNCHER_COMMAND];
}
