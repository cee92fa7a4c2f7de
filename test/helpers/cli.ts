/**
 * Runs the `hide` CLI from source (`bun src/main.ts …`) with a minimal
 * environment and, as the compiled binary, without Bun's own loading of the
 * working directory's `.env` (the server reads it itself). A child still running after 20 s is killed, so a hang shows
 * as a wrong exit code, not a stuck test run.
 */
import { join } from 'node:path';

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts');

export function runCli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return runProgram([process.execPath, '--no-env-file', MAIN, ...args], cwd, env);
}

/** Runs `argv` (the compiled binary, say) as runCli runs the source: minimal environment, killed after 20 s. */
export async function runProgram(argv: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  await using proc = Bun.spawn(argv, {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, ...env },
    stdout: 'pipe',
    stderr: 'pipe',
    timeout: 20_000,
    killSignal: 'SIGKILL',
  });
  const [stdout, stderr, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
  return { code, stdout, stderr };
}
