/** Temporary directories for tests, by their real path (tmpdir may be a symlink, and results name paths as given). */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Every directory made here; the preload (test/setup.ts) removes them after the last test file. */
const made = new Set<string>();

/** Removes every directory tempDir made: a run must not leave its servers' workspaces and binary copies behind. */
export function removeTempDirs(): void {
  for (const path of made) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Whatever a test made unremovable on purpose stays; the run's result does not depend on it.
    }
  }
  made.clear();
}

export function tempDir(prefix = 'hide-test-'): string {
  const path = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  made.add(path);
  return path;
}

/** A temp directory removed at the end of a `using` block. */
export function disposableTempDir(prefix = 'hide-test-'): { path: string; [Symbol.dispose](): void } {
  const path = tempDir(prefix);
  return {
    path,
    [Symbol.dispose]: () => {
      rmSync(path, { recursive: true, force: true });
      made.delete(path);
    },
  };
}
