/** Temporary directories for tests, by their real path (tmpdir may be a symlink, and results name paths as given). */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix = 'hide-test-'): string {
  return realpathSync(mkdtempSync(join(tmpdir(), prefix)));
}

/** A temp directory removed at the end of a `using` block. */
export function disposableTempDir(prefix = 'hide-test-'): { path: string; [Symbol.dispose](): void } {
  const path = tempDir(prefix);
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}
