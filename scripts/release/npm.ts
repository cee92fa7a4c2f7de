/**
 * The npm packages of a release, written into dist/npm/ from the templates in
 * npm/: one package per platform carrying its binary at bin/hide (with `os`,
 * `cpu` and `libc`, so npm installs only the one that fits), and the wrapper
 * whose `bin` is a POSIX sh launcher listing the platform packages as
 * optional dependencies. No install scripts anywhere: nothing is downloaded
 * at install time. npm/README.md says why it is shaped this way.
 */
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pool } from './pool.ts';
import { binaryName, NPM_WRAPPER, npmPackageName, TARGETS, type Target } from './targets.ts';

const TEMPLATES = join(import.meta.dir, '..', '..', 'npm');

type Manifest = Record<string, unknown>;

const readJson = (path: string): Manifest => JSON.parse(readFileSync(path, 'utf8')) as Manifest;
const writeJson = (path: string, value: unknown) => writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);

/** The platform package's package.json for `target`. */
export function platformManifest(target: Target, version: string): Manifest {
  const m = readJson(join(TEMPLATES, 'platform', 'package.json'));
  return {
    ...m,
    name: npmPackageName(target),
    version,
    description: String(m.description).replaceAll('TARGET', target.name),
    cpu: [target.cpu],
    libc: [target.libc],
  };
}

/** The wrapper's package.json: the template with the version and its optional dependencies. */
export function wrapperManifest(version: string): Manifest {
  const m = readJson(join(TEMPLATES, 'wrapper', 'package.json'));
  if (m.name !== NPM_WRAPPER) throw new Error(`npm/wrapper/package.json names ${String(m.name)}, not ${NPM_WRAPPER}`);
  const optional = Object.fromEntries(TARGETS.filter((t) => t.npmOptional).map((t) => [npmPackageName(t), version]));
  return { ...m, version, optionalDependencies: optional };
}

/** The launcher with the release's name and version written in. */
export function wrapperLauncher(version: string): string {
  const text = readFileSync(join(TEMPLATES, 'wrapper', 'bin', 'hide'), 'utf8');
  const out = text.replace(/^wrapper=.*$/m, `wrapper=${NPM_WRAPPER}`).replace(/^version=.*$/m, `version=${version}`);
  if (!out.includes(`version=${version}\n`)) throw new Error('npm/wrapper/bin/hide has no version= line');
  return out;
}

/**
 * Writes dist/npm/<package>/ for the wrapper and every target; returns the
 * package directories, wrapper first. `releaseDir` holds the bare binaries.
 */
export function writeNpmPackages(opts: { outDir: string; releaseDir: string; version: string }): string[] {
  const dirs: string[] = [];
  for (const target of TARGETS) {
    const dir = join(opts.outDir, npmPackageName(target));
    mkdirSync(join(dir, 'bin'), { recursive: true });
    writeJson(join(dir, 'package.json'), platformManifest(target, opts.version));
    const readme = readFileSync(join(TEMPLATES, 'platform', 'README.md'), 'utf8');
    writeFileSync(join(dir, 'README.md'), readme.replaceAll('TARGET', target.name).replaceAll('WRAPPER', NPM_WRAPPER));
    copyFileSync(join(opts.releaseDir, binaryName(target)), join(dir, 'bin', 'hide'));
    chmodSync(join(dir, 'bin', 'hide'), 0o755);
    dirs.push(dir);
  }
  const wrapper = join(opts.outDir, NPM_WRAPPER);
  mkdirSync(join(wrapper, 'bin'), { recursive: true });
  writeJson(join(wrapper, 'package.json'), wrapperManifest(opts.version));
  copyFileSync(join(TEMPLATES, 'wrapper', 'README.md'), join(wrapper, 'README.md'));
  writeFileSync(join(wrapper, 'bin', 'hide'), wrapperLauncher(opts.version), { mode: 0o755 });
  chmodSync(join(wrapper, 'bin', 'hide'), 0o755);
  return [wrapper, ...dirs];
}

/**
 * `npm pack` of each package directory into `outDir` (the tarballs
 * release.yml publishes, and the tests publish to a local registry); returns
 * the tarball paths in the same order.
 */
export async function packNpmPackages(dirs: string[], outDir: string): Promise<string[]> {
  const npm = Bun.which('npm');
  if (!npm) throw new Error('npm is not installed: the package folders are written, the tarballs are not');
  const pack = async (dir: string) => {
    const proc = Bun.spawn([npm, 'pack', '--json', '--ignore-scripts', '--pack-destination', outDir], { cwd: dir, stdout: 'pipe', stderr: 'pipe' });
    const [out, err, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
    if (code !== 0) throw new Error(`npm pack ${dir} failed (${code}): ${err}`);
    const [info] = JSON.parse(out) as { filename: string }[];
    if (!info) throw new Error(`npm pack ${dir} printed no file name`);
    return join(outDir, info.filename);
  };
  // Two at a time: each platform package is ~110 MB to gzip.
  return pool(dirs, 2, pack);
}
