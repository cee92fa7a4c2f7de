/**
 * Shared by the release tests: the artifacts of `bun run release`, built once
 * per test run (or reused when dist/release is newer than everything it is
 * made from), a loopback HTTP server for a directory, a bounded process run,
 * npm tools installed on demand into the git-ignored dist/.tools, and skips
 * that print why.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withBuildLock } from '../helpers/build-lock.ts';
import { ROOT } from '../../scripts/release/build.ts';
import { archiveName, binaryName, NPM_WRAPPER, npmPackageName, TARGETS } from '../../scripts/release/targets.ts';

export { ROOT };
export const RELEASE_DIR = join(ROOT, 'dist', 'release');
export const NPM_DIR = join(ROOT, 'dist', 'npm');
export const TOOLS_DIR = join(ROOT, 'dist', '.tools');

/** What a release is made of: a newer file here means dist/release is stale. */
const INPUTS = ['src', 'scripts/release', 'npm', 'install.sh', 'server.json', 'package.json', 'bun.lock', 'tsconfig.json'];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(path).reduce((m, name) => Math.max(m, newestMtime(join(path, name))), st.mtimeMs);
}

/** The files `bun run release` must leave, relative to dist/. */
export function expectedArtifacts(version: string): string[] {
  return [
    ...TARGETS.flatMap((t) => [`release/${binaryName(t)}`, `release/${archiveName(t)}`, `npm/${npmPackageName(t)}-${version}.tgz`]),
    'release/install.sh',
    'release/SHA256SUMS',
    `npm/${NPM_WRAPPER}-${version}.tgz`,
  ];
}

export const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

export interface ReleaseRun {
  /** Whether this test run built it (false: reused). */
  built: boolean;
  seconds: number;
  log: string;
  /** `git status --porcelain` before and after the build (equal: no tracked or unignored file written). */
  gitStatus: { before: string; after: string };
}

async function gitStatus(): Promise<string> {
  if (!Bun.which('git') || !existsSync(join(ROOT, '.git'))) return 'no git';
  return (await run(['git', 'status', '--porcelain', '--untracked-files=all'], { cwd: ROOT })).stdout;
}

let releasing: Promise<ReleaseRun> | undefined;

/**
 * Runs `bun run release` once per test process, unless every artifact exists
 * and dist/release/SHA256SUMS is newer than every input (HIDE_TEST_REBUILD=1
 * forces it). Decided under the release build lock, so that a build another test
 * process runs is waited for and then reused.
 */
/** Longest `bun run release` may take here. */
export const RELEASE_BUILD_MS = 600_000;

export function ensureRelease(): Promise<ReleaseRun> {
  releasing ??= withBuildLock('release', async () => {
    const sums = join(RELEASE_DIR, 'SHA256SUMS');
    const complete = expectedArtifacts(VERSION).every((f) => existsSync(join(ROOT, 'dist', f)));
    const fresh = complete && statSync(sums).mtimeMs > Math.max(...INPUTS.map((p) => newestMtime(join(ROOT, p))));
    const before = await gitStatus();
    if (fresh && process.env.HIDE_TEST_REBUILD !== '1') return { built: false, seconds: 0, log: 'reused dist/release', gitStatus: { before, after: before } };
    const t0 = performance.now();
    // 221 s in a full CI run on 2 cores, 317 s with a second run beside it: room for a slower machine.
    const r = await run(['bun', 'run', 'release'], { cwd: ROOT, timeoutMs: RELEASE_BUILD_MS });
    if (r.code !== 0) throw new Error(`bun run release failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return { built: true, seconds: (performance.now() - t0) / 1000, log: r.stdout, gitStatus: { before, after: await gitStatus() } };
  });
  return releasing;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to the end, killing it after `timeoutMs`. */
export async function run(
  cmd: string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number; stdin?: string } = {},
): Promise<RunResult> {
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd,
    env: opts.env ?? (process.env as Record<string, string>),
    stdin: opts.stdin === undefined ? 'ignore' : new TextEncoder().encode(opts.stdin),
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  try {
    const [stdout, stderr, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Serves `dir` over HTTP on 127.0.0.1 (a free port); `override` replaces the
 * bytes of chosen file names (a tampered archive, a doctored SHA256SUMS).
 */
export function serveDirectory(dir: string, override: Record<string, Uint8Array | string> = {}) {
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(req) {
      const name = decodeURIComponent(new URL(req.url).pathname.slice(1));
      if (name in override) return new Response(override[name]);
      if (name.includes('/') || name.startsWith('.') || !existsSync(join(dir, name))) return new Response('not found', { status: 404 });
      return new Response(Bun.file(join(dir, name)));
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) };
}

/** Prints why part of a suite does not run here; returns whether it does. */
export function available(what: string, missing: string | undefined): boolean {
  if (missing) console.log(`skip: ${what}: ${missing}`);
  return !missing;
}

/**
 * Installs an npm package set into dist/.tools/<name> once (kept across runs:
 * dist/ is git-ignored); `check` is a file the install must leave, relative
 * to that directory. Returns the directory, or the reason it failed.
 */
export async function npmTool(name: string, pkg: Record<string, unknown>, check: string): Promise<{ dir: string } | { error: string }> {
  const dir = join(TOOLS_DIR, name);
  const binPath = join(dir, check);
  const manifest = `${JSON.stringify({ private: true, ...pkg }, null, 2)}\n`;
  const current = existsSync(join(dir, 'package.json')) && readFileSync(join(dir, 'package.json'), 'utf8') === manifest;
  if (current && existsSync(binPath)) return { dir };
  const npm = Bun.which('npm');
  if (!npm) return { error: 'npm is not installed' };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), manifest);
  const r = await run([npm, 'install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error', '--no-package-lock'], { cwd: dir, timeoutMs: 240_000 });
  if (r.code !== 0 || !existsSync(binPath)) return { error: `npm install in ${dir} failed (${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' / ')}` };
  return { dir };
}

export { freePort } from '../helpers/free-port.ts';
