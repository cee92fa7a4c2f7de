/**
 * Removing a private TMPDIR while the uid's process count is full. The
 * removal runs on the runtime's file-system threads, and one the kernel
 * refused left it waiting for good: a stop waiting on it never wrote its
 * last audit lines. Run as an unprivileged uid (RLIMIT_NPROC binds it), from
 * a bundle of the fixture that uid can read.
 */
import { expect, test } from 'bun:test';
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LAUNCHER_RUNTIME_ENV } from '../../src/sandbox/launcher-argv.ts';
import { tempDir } from '../helpers/temp.ts';

const UID = 65528;
const supported = process.platform === 'linux' && process.getuid?.() === 0 && Bun.which('setpriv') !== null && Bun.which('prlimit') !== null;

test.skipIf(!supported)("a private TMPDIR's removal settles, the uid's process count full: removed, or left to the next start within the wait", async () => {
  const dir = tempDir('hide-tmp-removal-');
  try {
    chmodSync(dir, 0o755);
    const parent = join(dir, 'tmp');
    mkdirSync(parent);
    chownSync(parent, UID, UID);
    const built = await Bun.build({ entrypoints: [join(import.meta.dir, 'fixtures', 'tmp-removal-full-count.ts')], target: 'bun', outdir: join(dir, 'bundle') });
    expect(built.success).toBe(true);
    const script = built.outputs[0]!.path;
    chmodSync(script, 0o644);
    // The runtime's own helper threads, refused the same way, would abort it: the launcher's settings start none.
    const proc = Bun.spawn(['prlimit', '--nproc=40', '--', 'setpriv', `--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', '--', process.execPath, script, parent, '2000'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...LAUNCHER_RUNTIME_ENV },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    const out = await new Response(proc.stdout).text();
    clearTimeout(timer);
    const result = JSON.parse(out.trim() || '{}');
    expect(result.full).toBe(true);
    if (result.error === null) expect(result.lock).toBe(false);
    else expect({ error: result.error, lock: result.lock }).toEqual({ error: expect.stringContaining('not removed within 2 s'), lock: true });
  } finally {
    Bun.spawnSync(['setpriv', `--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', '--', 'kill', '-9', '-1']);
    rmSync(dir, { recursive: true, force: true });
  }
}, 40_000);
