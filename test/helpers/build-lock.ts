/**
 * Locks for the test processes that build into dist/, one per thing built
 * (dist/hide, the release): under `bun test --parallel` each test file runs
 * in a process of its own, and a build rewrites what another process may be
 * building or running.
 */
import { closeSync, constants as fsConstants, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { tryLock } from '../../src/util/dir-lock.ts';

const DIST = join(import.meta.dir, '..', '..', 'dist');

/**
 * Runs `body` holding the lock named `name`: flock on dist/.locks/NAME, a directory, which the kernel lets go of
 * however its holder ends.
 */
export async function withBuildLock<T>(name: 'hide' | 'release', body: () => Promise<T>): Promise<T> {
  const dir = join(DIST, '.locks', name);
  mkdirSync(dir, { recursive: true });
  const fd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    const giveUpAt = Date.now() + 600_000;
    while (!tryLock(fd)) {
      if (Date.now() > giveUpAt) throw new Error(`${dir} stayed locked for 10 minutes`);
      await Bun.sleep(200);
    }
    return await body();
  } finally {
    // Closing the only descriptor of the open file lets go of the lock.
    closeSync(fd);
  }
}
