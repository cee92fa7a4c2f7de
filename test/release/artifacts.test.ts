/**
 * `bun run release`: the five binaries, their archives and SHA256SUMS; each
 * binary's ELF class, machine and loader; the version, commit and target
 * built in; and each build run where this machine can run it — x64 and the
 * baseline build natively (the baseline one also on an emulated CPU without
 * AVX2), x64-musl through musl's loader, arm64 under qemu-user. What cannot
 * run here is skipped with the reason printed.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { archiveName, binaryName, BUILD_FLAGS, ENTRY_POINTS, TARGETS, type Target } from '../../scripts/release/targets.ts';
import { startServerProcess } from '../helpers/process.ts';
import { tempDir } from '../helpers/temp.ts';
import { readElf } from './elf.ts';
import { available, ensureRelease, RELEASE_BUILD_MS, RELEASE_DIR, ROOT, run, VERSION } from './helpers.ts';

const target = (name: string) => TARGETS.find((t) => t.name === name)!;
const bin = (t: Target) => join(RELEASE_DIR, binaryName(t));
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const VERSION_LINE = (t: Target) => new RegExp(`^${VERSION.replaceAll('.', '\\.')}\\+[0-9a-f]{12}(\\.dirty)?\\.${t.name}$`);

let release: Awaited<ReturnType<typeof ensureRelease>>;

beforeAll(async () => {
  release = await ensureRelease();
  console.log(release.built ? `bun run release: ${release.seconds.toFixed(0)} s` : 'bun run release: reused dist/release (newer than its sources)');
}, RELEASE_BUILD_MS + 20_000);

describe('bun run release', () => {
  test('writes only under the git-ignored dist/', () => {
    expect(release.gitStatus.after).toBe(release.gitStatus.before);
  });

  test('builds with the flags of `bun run build`', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const build = pkg.scripts.build!.split(/\s+/);
    expect(build.slice(0, 2)).toEqual(['bun', 'build']);
    expect({ entries: build.filter((a) => a.endsWith('.ts')), flags: build.filter((a) => a.startsWith('--') && a !== '--outfile').sort() }).toEqual({
      entries: [...ENTRY_POINTS],
      flags: [...BUILD_FLAGS].sort(),
    });
  });

  test('SHA256SUMS lists every artifact, and `sha256sum -c` passes', async () => {
    const sums = readFileSync(join(RELEASE_DIR, 'SHA256SUMS'), 'utf8');
    const names = sums.trim().split('\n').map((l) => l.split('  ')[1]);
    expect(names).toEqual([...TARGETS.flatMap((t) => [binaryName(t), archiveName(t)]), 'install.sh'].sort());
    if (Bun.which('sha256sum')) {
      const r = await run(['sha256sum', '-c', 'SHA256SUMS'], { cwd: RELEASE_DIR });
      expect(r.stdout.trim().split('\n')).toEqual(names.map((n) => `${n}: OK`));
      expect(r.code).toBe(0);
    } else {
      for (const line of sums.trim().split('\n')) {
        const [hash, name] = line.split('  ') as [string, string];
        expect(sha256(readFileSync(join(RELEASE_DIR, name)))).toBe(hash);
      }
    }
    // Hundreds of MB to hash: a bound for a loaded machine, not a timing.
  }, 60_000);

  test.each(TARGETS.map((t) => [t.name, t] as const))('%s: 64-bit little-endian ELF for its CPU and loader', async (_, t) => {
    expect(readElf(bin(t))).toEqual({ class64: true, littleEndian: true, type: 2, machine: t.elfMachine, interpreter: t.interpreter });
    if (Bun.which('file')) {
      const out = (await run(['file', '-b', bin(t)])).stdout;
      expect(out).toContain('ELF 64-bit LSB');
      expect(out).toContain(t.cpu === 'x64' ? 'x86-64' : 'ARM aarch64');
      expect(out).toContain(`interpreter ${t.interpreter}`);
    }
  });

  test.each(TARGETS.map((t) => [t.name, t] as const))('%s.tar.gz holds exactly the binary, as `hide`, mode 755, owned by root', (_, t) => {
    const tar = Bun.gunzipSync(readFileSync(join(RELEASE_DIR, archiveName(t))));
    const text = (from: number, len: number) => new TextDecoder().decode(tar.subarray(from, from + len)).replace(/\0.*$/s, '');
    const size = parseInt(text(124, 12), 8);
    expect({ name: text(0, 100), mode: text(100, 8), uid: text(108, 8), type: text(156, 1), magic: text(257, 6) }).toEqual({
      name: 'hide',
      mode: '0000755',
      uid: '0000000',
      type: '0',
      magic: 'ustar',
    });
    expect(sha256(tar.subarray(512, 512 + size))).toBe(sha256(readFileSync(bin(t))));
    // Nothing after the file but padding and the end-of-archive blocks.
    expect(tar.subarray(512 + size).every((b) => b === 0)).toBe(true);
  });
});

/** serve + /health + a shell_execute of echo, through whatever runs the binary. */
async function serveAndCall(program: string[], env: Record<string, string> = {}, startTimeoutMs?: number) {
  const dir = tempDir('hide-release-');
  const server = await startServerProcess({ cwd: dir, program, env: { HIDE_AUDIT_LOG_ENABLED: 'false', ...env }, startTimeoutMs });
  try {
    const health = (await (await fetch(`${server.url}/health`)).json()) as { status: string; version: string; sandbox: string };
    const res = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'echo', arguments: ['from the release'] } } }),
    });
    const call = (await res.json()) as { result: { isError: boolean; structuredContent: { stdout: string } } };
    return { health, call: call.result };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const onX64 = process.arch === 'x64' && process.platform === 'linux';

describe.skipIf(!onX64)('the x64 builds run here', () => {
  for (const name of ['linux-x64', 'linux-x64-baseline']) {
    test(`${name}: version, then serve + /health + shell_execute`, async () => {
      const t = target(name);
      const v = await run([bin(t), 'version']);
      expect(v.stdout.trim()).toMatch(VERSION_LINE(t));
      const { health, call } = await serveAndCall([bin(t)]);
      expect(health).toMatchObject({ status: 'healthy', version: v.stdout.trim() });
      expect(call).toMatchObject({ isError: false, structuredContent: { stdout: 'from the release\n' } });
    });
  }

  const qemuX64 = Bun.which('qemu-x86_64-static') ?? Bun.which('qemu-x86_64');
  test.skipIf(!available('baseline build on a CPU without AVX2', qemuX64 ? undefined : 'no qemu-x86_64 (apt-get install qemu-user-static)'))(
    'linux-x64-baseline: runs on an emulated Nehalem (no AVX, no AVX2)',
    async () => {
      const t = target('linux-x64-baseline');
      const r = await run([qemuX64!, '-cpu', 'Nehalem', bin(t), 'version'], { timeoutMs: 60_000 });
      expect(r.stdout.trim()).toMatch(VERSION_LINE(t));
    },
    60_000,
  );
});

/**
 * Bun's musl builds link musl's loader plus libstdc++ and libgcc_s. Debian has
 * musl (package musl) but those two only as glibc builds, so the test builds a
 * small shim (fixtures/musl-shim.c, with musl-gcc from musl-tools) that lets
 * musl load them. As root it points musl's library path at them inside a
 * private mount namespace, so the sandbox launcher (a re-exec of the binary)
 * finds them too; otherwise LD_LIBRARY_PATH, and the launcher cannot start.
 */
function muslMissing(): string | undefined {
  if (!onX64) return 'not an x64 Linux machine';
  if (!existsSync('/lib/ld-musl-x86_64.so.1')) return 'no /lib/ld-musl-x86_64.so.1 (apt-get install musl)';
  if (!Bun.which('musl-gcc')) return 'no musl-gcc to build the libstdc++ shim (apt-get install musl-tools)';
  for (const lib of ['libstdc++.so.6', 'libgcc_s.so.1']) if (!existsSync(`/lib/x86_64-linux-gnu/${lib}`)) return `no /lib/x86_64-linux-gnu/${lib}`;
  return undefined;
}

describe.skipIf(!available('x64-musl build', muslMissing()))('the x64-musl build runs through musl', () => {
  let shim: string;
  let program: string[];
  let env: Record<string, string> = {};
  beforeAll(async () => {
    shim = tempDir('hide-musl-shim-');
    const cc = await run(['musl-gcc', '-shared', '-fPIC', '-O2', '-o', join(shim, 'ld-linux-x86-64.so.2'), join(import.meta.dir, 'fixtures', 'musl-shim.c')]);
    if (cc.code !== 0) throw new Error(`musl-gcc: ${cc.stderr}`);
    for (const lib of ['libstdc++.so.6', 'libgcc_s.so.1']) writeFileSync(join(shim, lib), readFileSync(`/lib/x86_64-linux-gnu/${lib}`));
    const pathFile = '/etc/ld-musl-x86_64.path';
    const privileged = process.getuid?.() === 0 && existsSync('/usr/bin/unshare') && existsSync(pathFile);
    if (privileged) {
      writeFileSync(join(shim, 'musl.path'), `${shim}\n`);
      program = ['/usr/bin/unshare', '-m', '/bin/sh', '-c', `mount --bind ${shim}/musl.path ${pathFile} && exec "$0" "$@"`, bin(target('linux-x64-musl'))];
    } else {
      console.log('note: x64-musl without root: LD_LIBRARY_PATH only, so its sandbox launcher cannot start');
      program = [bin(target('linux-x64-musl'))];
      env = { LD_LIBRARY_PATH: shim };
    }
  });
  afterAll(() => rmSync(shim, { recursive: true, force: true }));

  test('version, then serve + /health + shell_execute', async () => {
    const t = target('linux-x64-musl');
    const v = await run([...program, 'version'], { env: { ...env, PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    expect(v.stdout.trim()).toMatch(VERSION_LINE(t));
    const { health, call } = await serveAndCall(program, env);
    expect(health).toMatchObject({ status: 'healthy', version: v.stdout.trim() });
    if (!env.LD_LIBRARY_PATH) expect(health.sandbox).toBe('on'); // the launcher loaded too
    expect(call).toMatchObject({ isError: false, structuredContent: { stdout: 'from the release\n' } });
  });
});

/**
 * arm64 under qemu-user (package qemu-user-static; no binfmt needed: qemu is
 * called directly) with Debian's arm64 glibc (package libc6-arm64-cross). The
 * kernel sandbox is off there: qemu-user does not emulate Landlock, and a
 * seccomp filter for aarch64 would apply to qemu's own x86-64 system calls.
 */
function armMissing(): string | undefined {
  if (process.arch === 'arm64') return undefined;
  if (!Bun.which('qemu-aarch64-static') && !Bun.which('qemu-aarch64')) return 'no qemu-aarch64 (apt-get install qemu-user-static)';
  if (!existsSync('/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1')) return 'no arm64 glibc (apt-get install libc6-arm64-cross)';
  return undefined;
}

describe.skipIf(!available('arm64 build', armMissing()))('the arm64 build runs under qemu-user', () => {
  const program = () =>
    process.arch === 'arm64'
      ? [bin(target('linux-arm64'))]
      : [(Bun.which('qemu-aarch64-static') ?? Bun.which('qemu-aarch64'))!, '-L', '/usr/aarch64-linux-gnu', bin(target('linux-arm64'))];

  test('version, then serve + /health + shell_execute (sandbox off)', async () => {
    const t = target('linux-arm64');
    const v = await run([...program(), 'version'], { timeoutMs: 60_000 });
    expect(v.stdout.trim()).toMatch(VERSION_LINE(t));
    // Emulated, the start takes 6-17 s on a busy 2-core machine (and past 15 s once).
    const { health, call } = await serveAndCall(program(), { HIDE_SANDBOX: 'off' }, 60_000);
    expect(health).toMatchObject({ status: 'healthy', version: v.stdout.trim() });
    expect(call).toMatchObject({ isError: false, structuredContent: { stdout: 'from the release\n' } });
  }, 120_000);

  // linux-arm64-musl is not run: Debian has no aarch64 musl loader or
  // libstdc++ without multiarch. Its ELF header is checked above.
});
