/**
 * install.sh against dist/release served on loopback: under each POSIX shell
 * this machine has (dash; busybox sh with only busybox's applets on PATH, as
 * on Alpine — wget instead of curl), it installs to --prefix, the installed
 * `hide version` runs, and it prints the next command. A tampered archive, a
 * tampered binary inside a well-formed archive and an archive missing from
 * SHA256SUMS, and a SHA256SUMS naming the archive twice with two checksums,
 * are refused with nothing installed and no temporary files left; a TMPDIR
 * with a backslash and a SHA256SUMS without its last newline install; a
 * relative or unexpanded ~ --prefix is made absolute; a copy cut off at any line
 * (a broken `curl | sh`) runs nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tarGz } from '../../scripts/release/tar.ts';
import { tempDir } from '../helpers/temp.ts';
import { available, ensureRelease, RELEASE_BUILD_MS, RELEASE_DIR, ROOT, run, serveDirectory } from './helpers.ts';

const INSTALL_SH = join(ROOT, 'install.sh');
const onX64 = process.arch === 'x64' && process.platform === 'linux';
const native = onX64 ? 'linux-x64' : 'linux-arm64';

let server: ReturnType<typeof serveDirectory>;
let work: string;

beforeAll(async () => {
  await ensureRelease();
  server = serveDirectory(RELEASE_DIR);
  work = tempDir('hide-install-');
}, RELEASE_BUILD_MS + 20_000);

afterAll(() => {
  server?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A PATH holding only busybox applets, as on a minimal Alpine. */
function busyboxPath(): string {
  const dir = join(work, 'busybox-bin');
  if (existsSync(dir)) return dir;
  mkdirSync(dir);
  const busybox = Bun.which('busybox')!;
  for (const applet of ['sh', 'wget', 'sha256sum', 'tar', 'gzip', 'mkdir', 'cp', 'mv', 'rm', 'chmod', 'mktemp', 'cut', 'sed', 'uname', 'cat', 'grep']) {
    symlinkSync(busybox, join(dir, applet));
  }
  return dir;
}

interface Shell {
  name: string;
  argv: string[];
  path: string;
}

function shells(): Shell[] {
  const list: Shell[] = [];
  const systemPath = '/usr/local/bin:/usr/bin:/bin';
  const dash = Bun.which('dash');
  if (available('install.sh under dash', dash ? undefined : 'dash is not installed (apt-get install dash)')) list.push({ name: 'dash', argv: [dash!], path: systemPath });
  const busybox = Bun.which('busybox');
  if (available('install.sh under busybox sh', busybox ? undefined : 'busybox is not installed (apt-get install busybox)')) {
    list.push({ name: 'busybox sh (busybox applets only)', argv: [busybox!, 'sh'], path: '' });
  }
  return list;
}

async function install(shell: Shell, baseUrl: string, prefix: string, tmpName = 'tmp') {
  const tmp = join(work, `${tmpName}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(tmp);
  const path = shell.path || busyboxPath();
  const r = await run([...shell.argv, INSTALL_SH, '--base-url', baseUrl, '--prefix', prefix], {
    env: { PATH: path, HOME: join(work, 'home'), TMPDIR: tmp },
    timeoutMs: 60_000,
  });
  return { ...r, leftovers: readdirSync(tmp) };
}

describe('install.sh', () => {
  for (const shell of shells()) {
    test(`${shell.name}: installs the ${native} build, which runs, and prints the next command`, async () => {
      const prefix = join(work, `prefix-${shell.name.split(' ')[0]}`);
      const r = await install(shell, server.url, prefix);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Downloading hide-${native}.tar.gz from ${server.url}`);
      const v = await run([join(prefix, 'bin', 'hide'), 'version']);
      expect(v.stdout.trim()).toEndWith(`.${native}`);
      expect(r.stdout).toContain(`Installed hide ${v.stdout.trim()} to ${prefix}/bin/hide`);
      expect(r.stdout).toContain(`Next: serve a project over HTTP`);
      expect(r.stdout).toContain(`${prefix}/bin/hide serve`); // not on PATH: the full path
      expect(readdirSync(join(prefix, 'bin'))).toEqual(['hide']);
      expect(r.leftovers).toEqual([]);
    }, 60_000);
  }

  test('a TMPDIR with a backslash in its name (sha256sum would escape the path and mark the digest)', async () => {
    const shell = shells()[0] ?? { name: 'sh', argv: ['/bin/sh'], path: '/usr/bin:/bin' };
    const prefix = join(work, 'prefix-backslash');
    const r = await install(shell, server.url, prefix, 'tmp\\dir');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readdirSync(join(prefix, 'bin'))).toEqual(['hide']);
    expect(r.leftovers).toEqual([]);
  }, 60_000);

  test('a SHA256SUMS without its last newline, the needed lines last (sha256sum -c reads it so)', async () => {
    const lines = readFileSync(join(RELEASE_DIR, 'SHA256SUMS'), 'utf8').trimEnd().split('\n');
    const mine = (l: string) => l.endsWith(`  hide-${native}`) || l.endsWith(`  hide-${native}.tar.gz`);
    const sums = [...lines.filter((l) => !mine(l)), ...lines.filter(mine)].join('\n');
    const doctored = serveDirectory(RELEASE_DIR, { SHA256SUMS: sums });
    try {
      const shell = shells()[0] ?? { name: 'sh', argv: ['/bin/sh'], path: '/usr/bin:/bin' };
      const prefix = join(work, 'prefix-no-newline');
      const r = await install(shell, doctored.url, prefix);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(readdirSync(join(prefix, 'bin'))).toEqual(['hide']);
    } finally {
      doctored.stop();
    }
  }, 60_000);

  describe('refuses what does not match SHA256SUMS, installing nothing', () => {
    const archive = `hide-${native}.tar.gz`;
    const cases: [string, () => Record<string, Uint8Array | string>, string][] = [
      [
        'a tampered archive',
        () => {
          const bytes = new Uint8Array(readFileSync(join(RELEASE_DIR, archive)));
          bytes[bytes.length >> 1]! ^= 0xff;
          return { [archive]: bytes };
        },
        `checksum mismatch for ${archive}`,
      ],
      [
        'an archive rebuilt around another binary, with its own sum in SHA256SUMS',
        () => {
          const fake = tarGz('hide', new TextEncoder().encode('#!/bin/sh\necho pwned\n'), { mtime: 0 });
          const sum = new Bun.CryptoHasher('sha256').update(fake).digest('hex');
          const sums = readFileSync(join(RELEASE_DIR, 'SHA256SUMS'), 'utf8').replace(new RegExp(`^[0-9a-f]+  ${archive}$`, 'm'), `${sum}  ${archive}`);
          return { [archive]: fake, SHA256SUMS: sums };
        },
        `checksum mismatch for hide-${native}`,
      ],
      [
        'an archive SHA256SUMS does not list',
        () => ({ SHA256SUMS: readFileSync(join(RELEASE_DIR, 'SHA256SUMS'), 'utf8').replace(new RegExp(`^.*  ${archive}\n`, 'm'), '') }),
        `SHA256SUMS has no entry for ${archive}`,
      ],
      [
        'a SHA256SUMS that lists the archive twice, the right checksum first and another after it',
        () => ({ SHA256SUMS: `${readFileSync(join(RELEASE_DIR, 'SHA256SUMS'), 'utf8')}${'0'.repeat(64)}  ${archive}\n` }),
        `SHA256SUMS lists ${archive} twice with different checksums`,
      ],
    ];
    for (const [what, doctor, message] of cases) {
      test(what, async () => {
        const doctored = serveDirectory(RELEASE_DIR, doctor());
        try {
          const prefix = join(work, `refused-${Math.random().toString(36).slice(2)}`);
          const shell = shells()[0] ?? { name: 'sh', argv: ['/bin/sh'], path: '/usr/bin:/bin' };
          const r = await install(shell, doctored.url, prefix);
          expect(r.code).toBe(1);
          expect(r.stderr).toContain(message);
          expect(r.stderr).toContain('refusing to install');
          expect(existsSync(prefix)).toBe(false);
          expect(r.leftovers).toEqual([]);
        } finally {
          doctored.stop();
        }
      }, 60_000);
    }
  });

  test.skipIf(!onX64)('picks the baseline build on a CPU without AVX2, and the glibc build beside an installed musl', async () => {
    const cpuinfo = join(work, 'cpuinfo-no-avx2');
    writeFileSync(cpuinfo, 'processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt avx\n');
    const dry = (env: Record<string, string>) => run(['sh', INSTALL_SH, '--dry-run'], { env: { PATH: process.env.PATH ?? '', HOME: work, ...env } });
    expect((await dry({ HIDE_CPUINFO: cpuinfo })).stdout).toContain('target:  linux-x64-baseline');
    const r = await dry({});
    // This machine is glibc (it may have Debian's musl package too).
    expect(r.stdout).toContain(`target:  linux-x64${readFileSync('/proc/cpuinfo', 'utf8').includes(' avx2') ? '\n' : '-baseline\n'}`);
    expect(r.stdout).toContain('archive: https://github.com/headless-ide/hide/releases/latest/download/hide-linux-x64');
  });

  test('a relative --prefix, and a --prefix=~/x the shell did not expand, become absolute paths', async () => {
    const home = join(work, 'home');
    const dry = (prefix: string) => run(['sh', INSTALL_SH, '--target', native, '--dry-run', prefix], { cwd: work, env: { PATH: process.env.PATH ?? '', HOME: home } });
    expect((await dry('--prefix=rel dir')).stdout).toContain(`install: ${work}/rel dir/bin/hide\n`);
    expect((await dry('--prefix=~/opt')).stdout).toContain(`install: ${home}/opt/bin/hide\n`);
  });

  // Under cron, env -i or a service there may be no HOME: the default became /.local, a tree in the root directory.
  test('with HOME unset, empty, / however spelt, relative or missing and no --prefix it refuses, naming --prefix', async () => {
    const dry = (env: Record<string, string>) => run(['sh', INSTALL_SH, '--target', native, '--dry-run'], { cwd: work, env: { PATH: process.env.PATH ?? '', ...env } });
    for (const home of [undefined, '', '/', '//', '///', '/.', '/..', 'home', `${work}/missing`]) {
      const r = await dry(home === undefined ? {} : { HOME: home });
      expect([home, r.code, r.stdout, r.stderr]).toEqual([home, 1, '', 'install.sh: no HOME (or HOME is /, relative or missing): give --prefix DIR\n']);
    }
    mkdirSync(join(work, 'h'), { recursive: true });
    // A HOME that is a link keeps its name (/home -> /var/home), so the advice about PATH names what the user knows.
    symlinkSync(join(work, 'h'), join(work, 'h-link'));
    expect((await dry({ HOME: `${work}/h/` })).stdout).toContain(`install: ${work}/h/.local/bin/hide\n`);
    expect((await dry({ HOME: `${work}/h-link` })).stdout).toContain(`install: ${work}/h-link/.local/bin/hide\n`);
  });

  test('piped into sh and cut off at any line, it runs nothing; whole, it does', async () => {
    const lines = readFileSync(INSTALL_SH, 'utf8').split('\n');
    const dry = (text: string) => run(['sh', '-s', '--', '--target', native, '--dry-run'], { cwd: work, env: { PATH: process.env.PATH ?? '', HOME: work }, stdin: text });
    expect((await dry(lines.join('\n'))).stdout).toContain(`target:  ${native}`);
    const printed: number[] = [];
    for (let cut = 1; cut < lines.length - 1; cut++) {
      if ((await dry(`${lines.slice(0, cut).join('\n')}\n`)).stdout !== '') printed.push(cut);
    }
    expect(printed).toEqual([]);
  }, 120_000);

  test.skipIf(!available('shellcheck of install.sh', Bun.which('shellcheck') ? undefined : 'shellcheck is not installed (apt-get install shellcheck)'))(
    'shellcheck -s sh finds nothing',
    async () => {
      const r = await run(['shellcheck', '-s', 'sh', INSTALL_SH, join(ROOT, 'npm', 'wrapper', 'bin', 'hide')]);
      expect(r.stdout).toBe('');
      expect(r.code).toBe(0);
    },
  );
});
