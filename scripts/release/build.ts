/**
 * `bun run release`: every release artifact, into the git-ignored dist/.
 *
 *   dist/release/hide-<target>          the five binaries (targets.ts)
 *   dist/release/hide-<target>.tar.gz   each alone as `hide`, for install.sh
 *   dist/release/install.sh             the install script
 *   dist/release/SHA256SUMS             of all of the above (`sha256sum -c`)
 *   dist/npm/<package>/                 wrapper + platform packages (npm.ts)
 *   dist/npm/<package>-<version>.tgz    the same, packed for `npm publish`
 *
 * Each binary is `bun run build` for another target — same entry points, same
 * flags (no .env or bunfig autoload) — with HIDE_BUILD_VERSION defined as
 * `<version>+<commit>[.dirty].<target>`, which `hide version` prints
 * (src/core/version.ts). Archives are byte-for-byte reproducible from the
 * binaries (tar.ts; time from SOURCE_DATE_EPOCH or the commit). Tracked files
 * are only read.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packNpmPackages, writeNpmPackages } from './npm.ts';
import { pool } from './pool.ts';
import { tarGz } from './tar.ts';
import { archiveName, binaryName, BUILD_FLAGS, ENTRY_POINTS, IMAGE, MCP_NAME, NPM_WRAPPER, TARGETS, type Target } from './targets.ts';

export const ROOT = join(import.meta.dir, '..', '..');

async function git(args: string[]): Promise<string | undefined> {
  if (!Bun.which('git')) return undefined;
  const proc = Bun.spawn(['git', ...args], { cwd: ROOT, stdout: 'pipe', stderr: 'ignore' });
  const [out, code] = await Promise.all([proc.stdout.text(), proc.exited]);
  return code === 0 ? out.trim() : undefined;
}

/** `0.1.0+1a2b3c4d5e6f.linux-x64`, or `…+1a2b3c4d5e6f.dirty.linux-x64` from a changed tree. */
export function buildVersion(version: string, commit: string, dirty: boolean, target: Target): string {
  return `${version}+${commit}${dirty ? '.dirty' : ''}.${target.name}`;
}

/**
 * What must agree before anything is built: server.json and the npm wrapper
 * template name this version and the names in targets.ts. Returns the problems.
 */
export function metadataProblems(version: string): string[] {
  const problems: string[] = [];
  const server = JSON.parse(readFileSync(join(ROOT, 'server.json'), 'utf8')) as {
    name?: string;
    version?: string;
    packages?: { registryType?: string; identifier?: string; version?: string }[];
  };
  if (server.name !== MCP_NAME) problems.push(`server.json name is ${server.name}, not ${MCP_NAME}`);
  if (server.version !== version) problems.push(`server.json version is ${server.version}, package.json says ${version}`);
  const npm = server.packages?.find((p) => p.registryType === 'npm');
  if (npm?.identifier !== NPM_WRAPPER || npm.version !== version) problems.push(`server.json's npm package must be ${NPM_WRAPPER} ${version}`);
  const oci = server.packages?.find((p) => p.registryType === 'oci');
  if (oci?.identifier !== `${IMAGE}:${version}`) problems.push(`server.json's oci package must be ${IMAGE}:${version}`);
  const wrapper = JSON.parse(readFileSync(join(ROOT, 'npm', 'wrapper', 'package.json'), 'utf8')) as { mcpName?: string };
  if (wrapper.mcpName !== MCP_NAME) problems.push(`npm/wrapper/package.json mcpName is ${wrapper.mcpName}, not ${MCP_NAME}`);
  return problems;
}

async function compile(target: Target, outfile: string, version: string): Promise<void> {
  const cmd = [process.execPath, 'build', ...ENTRY_POINTS, ...BUILD_FLAGS, `--target=${target.bunTarget}`, '--define', `HIDE_BUILD_VERSION=${JSON.stringify(version)}`, '--outfile', outfile];
  const proc = Bun.spawn(cmd, { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
  if (code !== 0) throw new Error(`bun build for ${target.name} failed (${code}):\n${out}\n${err}`);
}

const sha256 = (path: string) => new Bun.CryptoHasher('sha256').update(readFileSync(path)).digest('hex');

export interface Release {
  releaseDir: string;
  npmDir: string;
  /** The npm package tarballs, wrapper first; empty when npm is missing. */
  tarballs: string[];
  version: string;
}

export async function buildRelease(log: (line: string) => void = console.log): Promise<Release> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const problems = metadataProblems(pkg.version);
  if (problems.length) throw new Error(`release metadata disagrees:\n- ${problems.join('\n- ')}`);
  const commit = (await git(['rev-parse', '--short=12', 'HEAD'])) ?? 'unknown';
  const dirty = ((await git(['status', '--porcelain'])) ?? '') !== '';
  const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? (await git(['log', '-1', '--format=%ct'])) ?? 0);

  const releaseDir = join(ROOT, 'dist', 'release');
  const npmDir = join(ROOT, 'dist', 'npm');
  rmSync(releaseDir, { recursive: true, force: true });
  rmSync(npmDir, { recursive: true, force: true });
  mkdirSync(releaseDir, { recursive: true });
  mkdirSync(npmDir, { recursive: true });

  log(`hide ${pkg.version} at ${commit}${dirty ? ' (uncommitted changes)' : ''}: ${TARGETS.length} targets`);
  await pool(TARGETS, Math.max(1, Math.min(2, navigator.hardwareConcurrency)), async (target) => {
    const bin = join(releaseDir, binaryName(target));
    await compile(target, bin, buildVersion(pkg.version, commit, dirty, target));
    writeFileSync(join(releaseDir, archiveName(target)), tarGz('hide', readFileSync(bin), { mtime: epoch }));
    log(`  ${binaryName(target)} (${(statSync(bin).size / 2 ** 20).toFixed(0)} MiB)`);
  });
  copyFileSync(join(ROOT, 'install.sh'), join(releaseDir, 'install.sh'));

  const files = [...TARGETS.flatMap((t) => [binaryName(t), archiveName(t)]), 'install.sh'].sort();
  writeFileSync(join(releaseDir, 'SHA256SUMS'), files.map((f) => `${sha256(join(releaseDir, f))}  ${f}\n`).join(''));
  log('  SHA256SUMS');

  const dirs = writeNpmPackages({ outDir: npmDir, releaseDir, version: pkg.version });
  let tarballs: string[] = [];
  try {
    tarballs = await packNpmPackages(dirs, npmDir);
    log(`  dist/npm: ${dirs.length} packages, packed`);
  } catch (e) {
    log(`  dist/npm: ${dirs.length} package folders; not packed: ${(e as Error).message}`);
  }
  return { releaseDir, npmDir, tarballs, version: pkg.version };
}

if (import.meta.main) {
  const t0 = performance.now();
  try {
    const r = await buildRelease();
    console.log(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${r.releaseDir.replace(`${ROOT}/`, '')}, ${r.npmDir.replace(`${ROOT}/`, '')}`);
    if (!existsSync(join(r.releaseDir, 'SHA256SUMS'))) process.exitCode = 1;
  } catch (e) {
    console.error(`release: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
