/**
 * How hide is installed and driven from the command line, attacked: install.sh
 * against a small release of its own served on loopback (a stand-in `hide` that
 * prints a version, so nothing here waits for `bun run release`), and the CLI
 * commands on hostile input. Each test asserts the safe behaviour: install.sh
 * writes only PREFIX/bin/hide and refuses anything else with a clear message;
 * the CLI fails with a message naming the problem and loses nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tarGz } from '../../scripts/release/tar.ts';
import { chainHash } from '../../src/audit/chain.ts';
import { loadConfig, secretValues } from '../../src/config/load.ts';
import { tempDir } from '../helpers/temp.ts';
import { ROOT, run, serveDirectory } from '../release/helpers.ts';

const INSTALL_SH = join(ROOT, 'install.sh');
const MAIN = join(ROOT, 'src', 'main.ts');
const TARGET = 'linux-x64';
const SHELL = Bun.which('dash') ?? '/bin/sh';

let work: string;

beforeAll(() => {
  work = tempDir('hide-attack-dist-');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sha256 = (data: Uint8Array | string) => new Bun.CryptoHasher('sha256').update(data).digest('hex');

/** A release directory's files for TARGET whose `hide` is `script`, with a matching SHA256SUMS. */
function fakeRelease(script = '#!/bin/sh\necho 9.9.9-fake\n'): Record<string, Uint8Array | string> {
  const binary = new TextEncoder().encode(script);
  const archive = tarGz('hide', binary, { mtime: 0 });
  const sums = `${sha256(archive)}  hide-${TARGET}.tar.gz\n${sha256(binary)}  hide-${TARGET}\n`;
  return { [`hide-${TARGET}.tar.gz`]: archive, SHA256SUMS: sums };
}

/** A PATH of busybox applets only, as on Alpine (wget, busybox mktemp and mv). */
function busyboxPath(): string {
  const dir = join(work, 'busybox-bin');
  if (existsSync(dir)) return dir;
  mkdirSync(dir);
  for (const applet of ['sh', 'wget', 'sha256sum', 'tar', 'gzip', 'mkdir', 'cp', 'mv', 'rm', 'chmod', 'mktemp', 'cut', 'sed', 'uname', 'cat']) {
    symlinkSync(Bun.which('busybox')!, join(dir, applet));
  }
  return dir;
}

async function install(prefix: string, files = fakeRelease(), extra: { tmp?: string; args?: string[]; busybox?: boolean } = {}) {
  const empty = join(work, 'empty');
  mkdirSync(empty, { recursive: true });
  const server = serveDirectory(empty, files);
  const tmp = extra.tmp ?? join(work, `tmp-${Math.random().toString(36).slice(2)}`);
  mkdirSync(tmp, { recursive: true });
  try {
    const shell = extra.busybox ? [Bun.which('busybox')!, 'sh'] : [SHELL];
    const path = extra.busybox ? busyboxPath() : '/usr/local/bin:/usr/bin:/bin';
    const r = await run([...shell, INSTALL_SH, '--base-url', server.url, '--target', TARGET, '--prefix', prefix, ...(extra.args ?? [])], {
      env: { PATH: path, HOME: join(work, 'home'), TMPDIR: tmp },
      timeoutMs: 60_000,
    });
    return { ...r, leftovers: readdirSync(tmp) };
  } finally {
    server.stop();
  }
}

describe('install.sh', () => {
  test('control: the stand-in release installs as PREFIX/bin/hide, nothing else left behind', async () => {
    const prefix = join(work, 'control');
    const r = await install(prefix);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Installed hide 9.9.9-fake to ${prefix}/bin/hide`);
    expect(readdirSync(join(prefix, 'bin'))).toEqual(['hide']);
    expect(r.leftovers).toEqual([]);
  });

  test.skipIf(!Bun.which('busybox'))('control under busybox sh with busybox applets only: installs, and a directory at the target is refused', async () => {
    const prefix = join(work, 'busybox');
    const r = await install(prefix, fakeRelease(), { busybox: true });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readdirSync(join(prefix, 'bin'))).toEqual(['hide']);
    expect(r.leftovers).toEqual([]);
    const blocked = join(work, 'busybox-dir');
    mkdirSync(join(blocked, 'bin', 'hide'), { recursive: true });
    const refused = await install(blocked, fakeRelease(), { busybox: true });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('is a directory');
    expect(readdirSync(join(blocked, 'bin', 'hide'))).toEqual([]);
  });

  test('a TMPDIR with spaces and glob characters is used as given and left clean', async () => {
    const tmp = join(work, 'a dir * [x]');
    const prefix = join(work, 'odd tmp');
    const r = await install(prefix, fakeRelease(), { tmp });
    expect(r.code).toBe(0);
    expect(r.leftovers).toEqual([]);
    expect(readdirSync(join(prefix, 'bin'))).toEqual(['hide']);
  });

  test('a verified binary that does not run here (wrong architecture) is not installed, and its trial copy is removed', async () => {
    const prefix = join(work, 'wrong-arch');
    const r = await install(prefix, fakeRelease('#!/bin/sh\necho "cannot execute binary file: Exec format error" >&2\nexit 126\n'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the ${TARGET} build does not run on this machine`);
    expect(readdirSync(join(prefix, 'bin'))).toEqual([]);
  });

  test('PREFIX/bin/hide a symlink to a directory elsewhere: refused, nothing written into that directory', async () => {
    const prefix = join(work, 'link-to-dir');
    const elsewhere = join(work, 'elsewhere');
    mkdirSync(join(prefix, 'bin'), { recursive: true });
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(prefix, 'bin', 'hide'));
    const r = await install(prefix);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${prefix}/bin/hide is a directory`);
    expect(r.stdout).not.toContain('Installed');
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(readdirSync(join(prefix, 'bin'))).toEqual(['hide']);
    expect(lstatSync(join(prefix, 'bin', 'hide')).isSymbolicLink()).toBe(true);
  });

  test('PREFIX/bin/hide a directory: refused, not installed inside it', async () => {
    const prefix = join(work, 'dir-at-target');
    mkdirSync(join(prefix, 'bin', 'hide'), { recursive: true });
    const r = await install(prefix);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${prefix}/bin/hide is a directory`);
    expect(readdirSync(join(prefix, 'bin', 'hide'))).toEqual([]);
    expect(readdirSync(join(prefix, 'bin'))).toEqual(['hide']);
  });

  test('PREFIX/bin/hide a symlink to a file: the link is replaced, its target left alone', async () => {
    const prefix = join(work, 'link-to-file');
    const target = join(work, 'precious');
    writeFileSync(target, 'precious\n');
    mkdirSync(join(prefix, 'bin'), { recursive: true });
    symlinkSync(target, join(prefix, 'bin', 'hide'));
    const r = await install(prefix);
    expect(r.code).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe('precious\n');
    expect(lstatSync(join(prefix, 'bin', 'hide')).isSymbolicLink()).toBe(false);
  });

  test('a SHA256SUMS line naming another file with the same suffix is not taken for the archive', async () => {
    const files = fakeRelease();
    const archive = files[`hide-${TARGET}.tar.gz`] as Uint8Array;
    const evil = tarGz('hide', new TextEncoder().encode('#!/bin/sh\necho pwned\n'), { mtime: 0 });
    files[`hide-${TARGET}.tar.gz`] = evil;
    files.SHA256SUMS = `${sha256(evil)}  x/hide-${TARGET}.tar.gz\n${sha256(evil)}  hide-${TARGET}.tar.gz.sig\n${sha256(archive)}  hide-${TARGET}.tar.gz\n`;
    const prefix = join(work, 'other-name');
    const r = await install(prefix, files);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`checksum mismatch for hide-${TARGET}.tar.gz`);
    expect(existsSync(prefix)).toBe(false);
  });

  test('from an https URL, curl is limited to https for the redirects too (no downgrade to http)', async () => {
    const bin = join(work, 'curl-shim');
    mkdirSync(bin, { recursive: true });
    const argsFile = join(work, 'curl-args');
    writeFileSync(join(bin, 'curl'), `#!/bin/sh\nprintf '%s\\n' "$@" >>'${argsFile}'\nexit 22\n`, { mode: 0o755 });
    const r = await run([SHELL, INSTALL_SH, '--target', TARGET, '--prefix', join(work, 'https-only')], {
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: work, TMPDIR: work },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot download https://');
    const args = readFileSync(argsFile, 'utf8').split('\n');
    expect(args[args.indexOf('--proto') + 1]).toBe('=https');
  });

  // Plain HTTP to this machine is quiet; anything else that only looks like it must warn.
  const dry = (url: string) =>
    run([SHELL, INSTALL_SH, '--dry-run', '--target', TARGET, '--base-url', url, '--prefix', join(work, 'dry')], {
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: work },
    });
  for (const url of ['http://127.0.0.1:8080/r', 'http://127.0.0.1', 'http://localhost:5000/', 'http://[::1]:9/x']) {
    test(`plain HTTP to loopback (${url}): no warning`, async () => {
      const r = await dry(url);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
    });
  }
  for (const url of ['http://127.attacker.example/r', 'http://127.0.0.1@attacker.example/r', 'http://127.0.0.1:80@attacker.example/', 'http://localhost@attacker.example/', 'http://[::1]@attacker.example/', 'http://127.0.0.1.nip.example/', 'http://127.0.0.1\\@attacker.example/']) {
    test(`plain HTTP to a host that only looks local (${url}): warned`, async () => {
      const r = await dry(url);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('is plain HTTP');
    });
  }
});

/** `hide …` from source, in `cwd`, with only the environment given. */
const hide = (args: string[], cwd: string, env: Record<string, string> = {}) =>
  run(['bun', MAIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(work, 'home'), ...env }, timeoutMs: 60_000 });

describe('hide check-config', () => {
  test('a Redis password holding a bare "@" is masked whole, and the audit redactor is given all of it', async () => {
    const cwd = join(work, 'check-config');
    mkdirSync(cwd, { recursive: true });
    const url = 'redis://:p@ssWORD@redis.internal:6379/0';
    const r = await hide(['check-config'], cwd, { HIDE_RATE_LIMIT_STORE: 'redis', HIDE_REDIS_URL: url });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('ssWORD');
    expect(JSON.parse(r.stdout).config.rateLimit.redisUrl).toBe('redis://********@redis.internal:6379/0');
    const { config } = loadConfig({ cwd, env: { HIDE_RATE_LIMIT_STORE: 'redis', HIDE_REDIS_URL: url } });
    expect(secretValues(config)).toContain('p@ssWORD');
  });
});

describe('hide keys generate', () => {
  test('a new keys file is readable by its owner only, whatever the umask', async () => {
    const cwd = join(work, 'keys-mode');
    mkdirSync(cwd, { recursive: true });
    const r = await run(['sh', '-c', `umask 000 && exec bun ${MAIN} keys generate --client-id a --file keys.json`], { cwd, env: { PATH: process.env.PATH ?? '', HOME: join(work, 'home') } });
    expect(r.code).toBe(0);
    expect(statSync(join(cwd, 'keys.json')).mode & 0o777).toBe(0o600);
    expect(readdirSync(cwd)).toEqual(['keys.json']);
  });

  // A link planted beside the keys file must not have root rewrite its target; nor may a link to a file a secret store
  // keeps be replaced by a copy, which later changes to the target (revocations) would no longer reach.
  test('a symlink at the keys path is refused, naming it: its target is not written, the link stays', async () => {
    const cwd = join(work, 'keys-link');
    mkdirSync(cwd, { recursive: true });
    const target = join(work, 'keys-link-target.json');
    writeFileSync(target, '{"clients":[]}\n');
    symlinkSync(target, join(cwd, 'keys.json'));
    const r = await hide(['keys', 'generate', '--client-id', 'a', '--file', 'keys.json'], cwd);
    expect({ code: r.code, stderr: r.stderr.trim(), stdout: r.stdout }).toEqual({ code: 2, stderr: `hide keys: ${join(cwd, 'keys.json')} is a symbolic link (to ${target}): name the file itself with --file`, stdout: '' });
    expect(readFileSync(target, 'utf8')).toBe('{"clients":[]}\n');
    expect(lstatSync(join(cwd, 'keys.json')).isSymbolicLink()).toBe(true);
  });

  test('a generate killed while holding the lock blocks nobody (the kernel lets go of it)', async () => {
    const cwd = join(work, 'keys-stale');
    mkdirSync(cwd, { recursive: true });
    // Stands in for a generate stopped dead in the middle: it takes the lock, says so, and waits to be killed.
    const holder = Bun.spawn(
      ['bun', '-e', `const { withDirLockSync } = await import(${JSON.stringify(join(ROOT, 'src', 'util', 'dir-lock.ts'))}); withDirLockSync(${JSON.stringify(cwd)}, 0, () => { console.log('held'); Bun.sleepSync(60_000); });`],
      { stdout: 'pipe', stderr: 'ignore' },
    );
    try {
      const reader = holder.stdout.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe('held\n');
      holder.kill('SIGKILL');
      await holder.exited;
      const r = await hide(['keys', 'generate', '--client-id', 'a', '--file', 'keys.json'], cwd);
      expect(r.code).toBe(0);
      expect(readdirSync(cwd)).toEqual(['keys.json']);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  // Each generate reads the file, appends and renames over it: two at once
  // would both read the same file and the later rename drop the other's client,
  // whose key was printed as added.
  test('concurrent generates keep every client, and leave no lock behind', async () => {
    const cwd = join(work, 'keys-race');
    mkdirSync(cwd, { recursive: true });
    const ids = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'];
    const results = await Promise.all(ids.map((id) => hide(['keys', 'generate', '--client-id', id, '--file', 'keys.json'], cwd)));
    expect(results.map((r) => r.code)).toEqual(ids.map(() => 0));
    const kept = JSON.parse(readFileSync(join(cwd, 'keys.json'), 'utf8')).clients.map((c: { client_id: string }) => c.client_id);
    expect(kept.sort()).toEqual(ids);
    expect(readdirSync(cwd)).toEqual(['keys.json']);
  });
});

describe('hide audit on hostile files', () => {
  const chained = (n: number) => {
    let prev = '0'.repeat(64);
    let text = '';
    for (let i = 0; i < n; i++) {
      const rest = { timestamp: new Date(0).toISOString(), event_type: 'tool_call', correlation_id: `c${i}`, prev_hash: prev, ...(i === 0 ? { file_start: 'genesis' } : {}) };
      const hash = chainHash(prev, rest);
      text += `${JSON.stringify({ ...rest, hash })}\n`;
      prev = hash;
    }
    return text;
  };

  test('control: a clean chain verifies', async () => {
    const cwd = join(work, 'audit-ok');
    mkdirSync(cwd, { recursive: true });
    writeFileSync(join(cwd, 'a.jsonl'), chained(3));
    const r = await hide(['audit', 'verify', 'a.jsonl'], cwd);
    expect(r.stdout).toContain('ok: 3 lines');
    expect(r.code).toBe(0);
  });

  test('a line nested 100000 deep is named as a bad line, not a stack overflow', async () => {
    const cwd = join(work, 'audit-deep');
    mkdirSync(cwd, { recursive: true });
    const depth = 100_000;
    const deep = `{"prev_hash":"${'0'.repeat(64)}","hash":"${'1'.repeat(64)}","a":${'['.repeat(depth)}${']'.repeat(depth)}}\n`;
    writeFileSync(join(cwd, 'a.jsonl'), chained(2) + deep);
    const r = await hide(['audit', 'verify', 'a.jsonl'], cwd);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^a\.jsonl:3: (edited|malformed|inserted):/);
    expect(r.stderr).not.toContain('call stack');
    const q = await hide(['audit', 'query', '--file', 'a.jsonl', '--correlation-id', 'c1'], cwd);
    expect(q.code).toBe(0);
    expect(q.stdout.split('\n').filter(Boolean)).toHaveLength(1);
  });

  test('a FIFO, a directory or a device is refused by name, not read (a FIFO with no writer would block for ever)', async () => {
    const cwd = join(work, 'audit-fifo');
    mkdirSync(cwd, { recursive: true });
    const mk = await run(['mkfifo', join(cwd, 'fifo.jsonl')]);
    expect(mk.code).toBe(0);
    mkdirSync(join(cwd, 'dir.jsonl'));
    for (const file of ['fifo.jsonl', 'dir.jsonl', '/dev/zero']) {
      const v = await hide(['audit', 'verify', file], cwd);
      expect(v.code).toBe(2);
      expect(v.stderr).toContain(`${file} is not a regular file`);
      const q = await hide(['audit', 'query', '--file', file], cwd);
      expect(q.code).toBe(2);
      expect(q.stderr).toContain(`${file} is not a regular file`);
    }
    // A FIFO where the checkpoint belongs is a broken checkpoint, not a wait.
    writeFileSync(join(cwd, 'b.jsonl'), chained(2));
    expect((await run(['mkfifo', join(cwd, 'b.jsonl.head')])).code).toBe(0);
    const head = await hide(['audit', 'verify', 'b.jsonl'], cwd);
    expect(head.code).toBe(1);
    expect(head.stdout).toStartWith('b.jsonl.head:1: malformed:');
  });
});

describe('hide health', () => {
  test('a redirect is not followed: the server probed answered with something else, so unhealthy', async () => {
    const healthy = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => Response.json({ status: 'healthy' }) });
    const redirecting = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => Response.redirect(`http://127.0.0.1:${healthy.port}/health`, 302) });
    try {
      const cwd = join(work, 'health');
      mkdirSync(cwd, { recursive: true });
      const control = await hide(['health', '--url', `http://127.0.0.1:${healthy.port}/health`], cwd);
      expect(control.code).toBe(0);
      const r = await hide(['health', '--url', `http://127.0.0.1:${redirecting.port}/health`], cwd);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('unhealthy: HTTP 302');
    } finally {
      healthy.stop(true);
      redirecting.stop(true);
    }
  });
});
