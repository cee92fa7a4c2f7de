import { expect, test } from 'bun:test';
import { join } from 'node:path';

const FIXTURE = join(import.meta.dir, 'fixtures/sweep-without-pidfd.ts');

// A container whose seccomp profile predates pidfd_open refuses it: the sweep must still kill an orphan (our own
// child, unreaped, whose pid names it alone), not report it left for ever while the launcher sweeps every 10 ms.
test.skipIf(process.platform !== 'linux')('the orphan sweep kills an orphan when pidfd_open is refused', () => {
  const run = Bun.spawnSync(['bun', FIXTURE], { stdout: 'pipe', stderr: 'pipe' });
  expect(run.stderr.toString()).toBe('');
  expect(JSON.parse(run.stdout.toString())).toEqual({ refused: true, left: 0, alive: false });
});
