/**
 * The runtime's file-system worker threads while the uid's process count is
 * full. Bun starts them on first use, and a pool whose first thread the
 * kernel refuses never runs a call again: the server starts them before any
 * command runs, and refuses to start when it cannot; a private TMPDIR's
 * removal, waiting on them at a stop, gives up within its bound so the stop
 * still writes its last audit lines. Run as an unprivileged uid (RLIMIT_NPROC
 * binds it), from a bundle of a fixture that uid can read.
 */
import { expect, test } from 'bun:test';
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LAUNCHER_RUNTIME_ENV } from '../../src/sandbox/launcher-argv.ts';
import { tempDir } from '../helpers/temp.ts';

const UID = 65528;
const supported = process.platform === 'linux' && process.getuid?.() === 0 && Bun.which('setpriv') !== null && Bun.which('prlimit') !== null;

/** Runs fixtures/FIXTURE with ARGS as UID under RLIMIT_NPROC 40 and returns what it printed (JSON), given a directory that uid owns. */
async function runAtFullCount(fixture: string, args: (dir: string) => string[]): Promise<Record<string, any>> {
  const dir = tempDir('hide-full-count-');
  try {
    chmodSync(dir, 0o755);
    const owned = join(dir, 'owned');
    mkdirSync(owned);
    chownSync(owned, UID, UID);
    const built = await Bun.build({ entrypoints: [join(import.meta.dir, 'fixtures', fixture)], target: 'bun', outdir: join(dir, 'bundle') });
    expect(built.success).toBe(true);
    const script = built.outputs[0]!.path;
    chmodSync(script, 0o644);
    // The runtime's own helper threads, refused the same way, would abort it: the launcher's settings start none.
    const proc = Bun.spawn(['prlimit', '--nproc=40', '--', 'setpriv', `--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', '--', process.execPath, script, ...args(owned)], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...LAUNCHER_RUNTIME_ENV },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    const out = await new Response(proc.stdout).text();
    clearTimeout(timer);
    return JSON.parse(out.trim() || '{}');
  } finally {
    Bun.spawnSync(['setpriv', `--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', '--', 'kill', '-9', '-1']);
    rmSync(dir, { recursive: true, force: true });
  }
}

test.skipIf(!supported)("the file-system worker threads refused at start: the start is refused, naming the process count, rather than serving file tools that hang", async () => {
  const result = await runAtFullCount('file-workers-full-count.ts', () => ['2000']);
  expect(result).toEqual({ full: true, refusal: { name: 'StartupError', message: expect.stringContaining('did not run a call within 2 s; is this user\'s process count (RLIMIT_NPROC) full?') } });
}, 40_000);

test.skipIf(!supported)("a private TMPDIR's removal settles, the uid's process count full: removed, or left to the next start within the wait", async () => {
  const result = await runAtFullCount('tmp-removal-full-count.ts', (owned) => [owned, '2000']);
  expect(result.full).toBe(true);
  if (result.error === null) expect(result.lock).toBe(false);
  else expect({ error: result.error, lock: result.lock }).toEqual({ error: expect.stringContaining('not removed within 2 s'), lock: true });
}, 40_000);
