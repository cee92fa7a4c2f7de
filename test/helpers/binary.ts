/**
 * The compiled binary for end-to-end tests: built once with `bun run build`
 * when dist/hide is missing or older than a source file, so `bun test` works
 * on a fresh clone and never judges yesterday's code.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { withBuildLock } from './build-lock.ts';
import { type ServerProcess, startServerProcess } from './process.ts';

export const ROOT = join(import.meta.dir, '..', '..');
export const BINARY = join(ROOT, 'dist', 'hide');

let building: Promise<string> | undefined;

/** Newest modification time of what the build reads: src/ and the package manifest and lockfile. */
function newestSource(): number {
  const files = [join(ROOT, 'package.json'), join(ROOT, 'bun.lock')];
  for (const entry of readdirSync(join(ROOT, 'src'), { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files.push(join(entry.parentPath, entry.name));
  }
  return Math.max(...files.filter((f) => existsSync(f)).map((f) => statSync(f).mtimeMs));
}

/** Missing, asked for, or older than a source: a stale binary would test other code than the tests beside it (from source). */
function needsBuild(): boolean {
  return !existsSync(BINARY) || process.env.HIDE_TEST_REBUILD === '1' || statSync(BINARY).mtimeMs < newestSource();
}

export function ensureBinary(): Promise<string> {
  building ??= (async () => {
    // Decided again under the lock: another test process may have built it meanwhile.
    if (needsBuild())
      await withBuildLock('hide', async () => {
        if (!needsBuild()) return;
        const proc = Bun.spawn(['bun', 'run', 'build'], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' });
        const [out, err, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
        if (code !== 0) throw new Error(`bun run build failed (${code}):\n${out}\n${err}`);
      });
    return BINARY;
  })();
  return building;
}

/**
 * Starts `hide serve` from the binary on a port of its own choosing; resolves
 * once it says where it listens. `wrapper` is a command line that runs the
 * binary (its argv follows).
 */
export async function startBinary(opts: { cwd: string; env?: Record<string, string>; args?: string[]; wrapper?: string[] }): Promise<ServerProcess> {
  const bin = await ensureBinary();
  return startServerProcess({ cwd: opts.cwd, env: opts.env ?? {}, args: opts.args, program: [...(opts.wrapper ?? []), bin] });
}
