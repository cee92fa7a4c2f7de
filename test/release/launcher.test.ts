/**
 * The npm wrapper's launcher (npm/wrapper/bin/hide) on the layouts npm
 * makes — hoisted beside the wrapper, nested inside it, a global install's
 * symlink chain, a direct call — with stand-in platform binaries, under dash
 * and busybox sh: it execs the right one with the arguments untouched, names
 * the missing package when optional dependencies were omitted, prefers this
 * version's package when two versions share a tree (nested first, as Node
 * resolves) and names a lone one of another version instead of running it,
 * honours HIDE_BINARY_PATH (a bare name as the file in the working directory,
 * never a PATH lookup that could land on the launcher itself), and on an x64
 * CPU without AVX2 asks for the baseline package. The real packages through a
 * real registry: npm.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { wrapperLauncher } from '../../scripts/release/npm.ts';
import { NPM_WRAPPER } from '../../scripts/release/targets.ts';
import { tempDir } from '../helpers/temp.ts';
import { available, run, VERSION } from './helpers.ts';

const cpu = process.arch === 'arm64' ? 'arm64' : 'x64';
const platform = `${NPM_WRAPPER}-linux-${cpu}`;
let work: string;

beforeAll(() => {
  work = tempDir('hide-launcher-');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function file(path: string, text: string, mode = 0o755): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

/**
 * A stand-in platform binary that says which package it is (and its version,
 * when it has a package.json as the release writes one) and echoes its argv.
 */
function fakeBinary(dir: string, pkg: string, version?: string): void {
  const label = version === undefined ? pkg : `${pkg}@${version}`;
  file(join(dir, pkg, 'bin', 'hide'), `#!/bin/sh\necho "${label}:$#:$*"\n`);
  if (version !== undefined) file(join(dir, pkg, 'package.json'), `${JSON.stringify({ name: pkg, version, description: 'the hide binary' }, null, 2)}\n`, 0o644);
}

/** A node_modules tree with the wrapper and `.bin/hide` as npm links it; returns the path of the link. */
function layout(name: string, packages: { pkg: string; nested?: boolean; version?: string }[]): string {
  const nm = join(work, name, 'node_modules');
  file(join(nm, NPM_WRAPPER, 'bin', 'hide'), wrapperLauncher(VERSION));
  for (const { pkg, nested, version } of packages) fakeBinary(nested ? join(nm, NPM_WRAPPER, 'node_modules') : nm, pkg, version);
  mkdirSync(join(nm, '.bin'), { recursive: true });
  symlinkSync(`../${NPM_WRAPPER}/bin/hide`, join(nm, '.bin', 'hide'));
  return join(nm, '.bin', 'hide');
}

const shells: [string, string[]][] = [];
if (available('launcher under dash', Bun.which('dash') ? undefined : 'dash is not installed')) shells.push(['dash', [Bun.which('dash')!]]);
if (available('launcher under busybox sh', Bun.which('busybox') ? undefined : 'busybox is not installed')) shells.push(['busybox sh', [Bun.which('busybox')!, 'sh']]);

const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', ...extra });

describe.each(shells)('launcher under %s', (_, shell) => {
  const launch = (path: string, args: string[], extra: Record<string, string> = {}) => run([...shell, path, ...args], { env: env(extra) });

  test('hoisted beside the wrapper, through node_modules/.bin: execs it with the arguments as given', async () => {
    const bin = layout(`hoisted-${shell.length}`, [{ pkg: platform }]);
    const r = await launch(bin, ['stdio', '--workspace', 'a dir with spaces']);
    expect(r).toEqual({ code: 0, stdout: `${platform}:3:stdio --workspace a dir with spaces\n`, stderr: '' });
  });

  test('nested inside the wrapper', async () => {
    const bin = layout(`nested-${shell.length}`, [{ pkg: platform, nested: true }]);
    expect((await launch(bin, ['version'])).stdout).toBe(`${platform}:1:version\n`);
  });

  test("a global install's symlink chain (prefix/bin/hide → lib/node_modules/…)", async () => {
    const prefix = join(work, `global-${shell.length}`);
    file(join(prefix, 'lib', 'node_modules', NPM_WRAPPER, 'bin', 'hide'), wrapperLauncher(VERSION));
    fakeBinary(join(prefix, 'lib', 'node_modules', NPM_WRAPPER, 'node_modules'), platform);
    mkdirSync(join(prefix, 'bin'), { recursive: true });
    symlinkSync(`../lib/node_modules/${NPM_WRAPPER}/bin/hide`, join(prefix, 'bin', 'hide'));
    symlinkSync(join(prefix, 'bin', 'hide'), join(work, `link-to-global-${shell.length}`)); // a link to the link
    expect((await launch(join(prefix, 'bin', 'hide'), ['version'])).stdout).toBe(`${platform}:1:version\n`);
    expect((await launch(join(work, `link-to-global-${shell.length}`), ['version'])).stdout).toBe(`${platform}:1:version\n`);
  });

  test('called by its own path, from its directory', async () => {
    layout(`direct-${shell.length}`, [{ pkg: platform }]);
    const r = await run([...shell, 'hide', 'version'], { cwd: join(work, `direct-${shell.length}`, 'node_modules', NPM_WRAPPER, 'bin'), env: env() });
    expect(r.stdout).toBe(`${platform}:1:version\n`);
  });

  test('optional dependencies omitted: exit 127 naming the missing package and version', async () => {
    const bin = layout(`omitted-${shell.length}`, []);
    const r = await launch(bin, ['version']);
    expect(r.code).toBe(127);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`the npm package ${platform}@${VERSION} (the hide binary for Linux ${cpu}, glibc) is not installed`);
    expect(r.stderr).toContain('--omit=optional');
    expect(r.stderr).toContain('HIDE_BINARY_PATH');
  });

  test('two versions in one tree: the nested package of this version wins over a hoisted one of another', async () => {
    const bin = layout(`two-versions-${shell.length}`, [
      { pkg: platform, version: '0.0.1-other' },
      { pkg: platform, nested: true, version: VERSION },
    ]);
    expect((await launch(bin, ['version'])).stdout).toBe(`${platform}@${VERSION}:1:version\n`);
  });

  test('a hoisted package of this version is found past a nested one of another', async () => {
    const bin = layout(`nested-other-${shell.length}`, [
      { pkg: platform, nested: true, version: '0.0.1-other' },
      { pkg: platform, version: VERSION },
    ]);
    expect((await launch(bin, ['version'])).stdout).toBe(`${platform}@${VERSION}:1:version\n`);
  });

  test('only another version installed: exit 127 naming what was found and what is needed, nothing run', async () => {
    const bin = layout(`only-other-${shell.length}`, [{ pkg: platform, version: '0.0.1-other' }]);
    const r = await launch(bin, ['version']);
    expect(r.code).toBe(127);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`found ${platform}@0.0.1-other in `);
    expect(r.stderr).toContain(`but this is ${NPM_WRAPPER}@${VERSION}`);
  });

  test('only the other libc build installed: runs it (npm decided the libc)', async () => {
    const bin = layout(`other-libc-${shell.length}`, [{ pkg: `${platform}-musl` }]);
    expect((await launch(bin, ['version'])).stdout).toBe(`${platform}-musl:1:version\n`);
  });

  test('HIDE_BINARY_PATH runs that binary, and refuses one that is not executable', async () => {
    const bin = layout(`env-${shell.length}`, []);
    const mine = file(join(work, `mine-${shell.length}`), '#!/bin/sh\necho "mine:$*"\n');
    expect(await launch(bin, ['version'], { HIDE_BINARY_PATH: mine })).toEqual({ code: 0, stdout: 'mine:version\n', stderr: '' });
    chmodSync(mine, 0o644);
    const r = await launch(bin, ['version'], { HIDE_BINARY_PATH: mine });
    expect(r.code).toBe(127);
    expect(r.stderr).toContain(`HIDE_BINARY_PATH=${mine} is not an executable file`);
  });

  test('HIDE_BINARY_PATH without a slash is that file in the working directory, not a name looked up on PATH', async () => {
    const bin = layout(`env-bare-${shell.length}`, []);
    const cwd = join(work, `env-bare-cwd-${shell.length}`);
    file(join(cwd, 'hide'), '#!/bin/sh\necho "checked:$*"\n');
    // On PATH, under the same name: the launcher itself, as after `npm install -g`.
    const onPath = join(work, `env-bare-path-${shell.length}`);
    mkdirSync(onPath, { recursive: true });
    symlinkSync(bin, join(onPath, 'hide'));
    const r = await run([...shell, bin, 'version'], { cwd, env: env({ HIDE_BINARY_PATH: 'hide', PATH: `${onPath}:${process.env.PATH ?? '/usr/bin:/bin'}` }), timeoutMs: 10_000 });
    expect(r).toEqual({ code: 0, stdout: 'checked:version\n', stderr: '' });
  });

  describe.skipIf(cpu !== 'x64')('x64 CPU without AVX2', () => {
    const noAvx2 = () => file(join(work, 'cpuinfo'), 'processor\t: 0\nflags\t\t: fpu sse2 sse4_2 avx\n', 0o644);

    test('with only the regular build: asks for the baseline package, with the npx line', async () => {
      const bin = layout(`no-avx2-${shell.length}`, [{ pkg: platform }]);
      const r = await launch(bin, ['version'], { HIDE_CPUINFO: noAvx2() });
      expect(r.code).toBe(127);
      expect(r.stderr).toContain(`this CPU has no AVX2, so hide needs the npm package ${platform}-baseline@${VERSION}`);
      expect(r.stderr).toContain(`npx -y -p ${NPM_WRAPPER} -p ${platform}-baseline@${VERSION} hide`);
    });

    test('with the baseline build installed: runs it, and prefers the regular one on a CPU with AVX2', async () => {
      const bin = layout(`baseline-${shell.length}`, [{ pkg: platform }, { pkg: `${platform}-baseline` }]);
      expect((await launch(bin, ['version'], { HIDE_CPUINFO: noAvx2() })).stdout).toBe(`${platform}-baseline:1:version\n`);
      const avx2 = file(join(work, 'cpuinfo-avx2'), 'flags\t\t: fpu sse2 avx avx2 bmi2\n', 0o644);
      expect((await launch(bin, ['version'], { HIDE_CPUINFO: avx2 })).stdout).toBe(`${platform}:1:version\n`);
    });
  });
});
