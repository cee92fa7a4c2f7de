/** Break-out attempts against a launcher confined to a temp workspace. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxLauncher } from '../../src/sandbox/launcher-client.ts';
import { type Fixture, makeFixture, makeLauncher, request, sh } from './helpers.ts';

/** A write outside the grants: Landlock's refusal, or as root the read-only mount's, which the kernel checks first. */
const REFUSED_WRITE = /Permission denied|Read-only file system/;

let fx: Fixture;
let sandbox: SandboxLauncher;

beforeAll(async () => {
  fx = makeFixture();
  sandbox = makeLauncher(fx.workspace);
  const report = await sandbox.start();
  expect(report.abi).toBeGreaterThanOrEqual(1);
});

afterAll(async () => {
  await sandbox.close();
  fx[Symbol.dispose]();
});

describe('reads outside the workspace fail', () => {
  const attempts: Record<string, (f: Fixture) => string> = {
    'absolute path': (f) => `cat ${f.secret}`,
    '..': () => 'cat ../outside/secret.txt',
    '/proc/self/root': (f) => `cat /proc/self/root${f.secret}`,
    'a symlink the command creates': () => 'ln -s ../outside link && cat link/secret.txt',
    'a hard link the command creates': () => 'ln ../outside/secret.txt hard; cat hard',
    'a child that re-execs itself': () => 'exec /bin/sh -c "exec cat ../outside/secret.txt"',
    'python3 -c': (f) => `/usr/bin/python3 -c 'print(open("${f.secret}").read())'`,
    'perl -e': (f) => `/usr/bin/perl -e 'open(F, "<", "${f.secret}") or die "open: $!\\n"; print <F>'`,
    'the /tmp directory': () => 'ls /tmp',
  };
  for (const [name, script] of Object.entries(attempts)) {
    test.concurrent(name, async () => {
      const res = await sh(sandbox, fx.workspace, script(fx));
      expect(res.stdout).not.toContain('TOP-SECRET');
      expect(res.exitCode).not.toBe(0);
      expect(res.stderr).toMatch(/Permission denied|Operation not permitted|Invalid cross-device link/);
    });
  }
});

describe('writes outside the workspace fail', () => {
  const attempts: Record<string, (f: Fixture) => string> = {
    'absolute path': (f) => `echo x > ${f.outside}/w-abs`,
    '..': () => 'echo x > ../outside/w-dotdot',
    "sh -c 'echo x > ../outside'": () => 'echo x > ../w-parent',
    '/proc/self/root': (f) => `echo x > /proc/self/root${f.outside}/w-proc`,
    'a symlink the command creates': () => 'ln -s ../outside out && echo x > out/w-link',
    'overwrite through a hard link': () => 'ln ../outside/secret.txt hard2 && echo x > hard2',
    'rename into the workspace': () => 'mv ../outside/secret.txt stolen.txt',
    'python3 -c': (f) => `/usr/bin/python3 -c 'open("${f.outside}/w-py", "w").write("x")'`,
  };
  for (const [name, script] of Object.entries(attempts)) {
    test.concurrent(name, async () => {
      const res = await sh(sandbox, fx.workspace, script(fx));
      expect(res.exitCode).not.toBe(0);
      expect(res.stderr).toMatch(/Permission denied|Read-only file system|Operation not permitted|Invalid cross-device link/);
    });
  }

  test('nothing was created or changed outside', async () => {
    // Runs after the concurrent attempts above have all settled.
    for (const name of ['w-abs', 'w-dotdot', 'w-proc', 'w-link', 'w-py']) expect(existsSync(join(fx.outside, name))).toBe(false);
    expect(existsSync(join(fx.root, 'w-parent'))).toBe(false);
    expect(readFileSync(fx.secret, 'utf8')).toBe('TOP-SECRET\n');
  });
});

describe('the server stays out of reach', () => {
  test('its environment cannot be read through /proc', async () => {
    const res = await sh(sandbox, fx.workspace, `cat /proc/${process.pid}/environ`);
    expect(res.exitCode).not.toBe(0);
    // Denied, or (root) not even listed in the launcher's own /proc.
    expect(res.stderr).toMatch(/Permission denied|No such file or directory/);
  });

  test('it cannot be signalled', async () => {
    const res = await sh(sandbox, fx.workspace, `kill -0 ${process.pid}`);
    expect(res.exitCode).not.toBe(0);
    // Landlock's signal scope refuses it, or (root) the command's own PID namespace has no such pid.
    expect(res.stderr).toMatch(/Operation not permitted|No such process/);
  });

  test("the launcher's environment, descriptors and memory are out of reach", async () => {
    // Same Landlock domain and uid, but the launcher is not dumpable: its fd
    // numbers may be listed (root owns the directory), never opened or resolved.
    const pid = sandbox.pid;
    const res = await sh(
      sandbox,
      fx.workspace,
      `for f in environ mem fd/0 fd/1 fd/2; do cat /proc/${pid}/$f >/dev/null 2>&1 && echo "read $f"; readlink /proc/${pid}/$f >/dev/null 2>&1 && echo "resolved $f"; done; true`,
    );
    expect(res.stdout).toBe('');
  });

  test('commands hold no capabilities even when the server runs as root', async () => {
    const res = await sh(sandbox, fx.workspace, 'grep -E "^Cap(Eff|Prm|Bnd|Amb)" /proc/self/status');
    expect(res.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[1])).toEqual(Array(4).fill('0000000000000000'));
  });
});

describe('inside the workspace work is unchanged', () => {
  test('read, write, rename, delete', async () => {
    const res = await sh(
      sandbox,
      fx.workspace,
      'mkdir -p d/e && echo hello > d/e/f && mv d/e/f d/g && cat d/g && ln -s g d/link && cat d/link && ln d/g d/hard && rm -r d && test ! -e d && echo gone',
    );
    expect(res).toMatchObject({ stdout: 'hello\nhello\ngone\n', stderr: '', exitCode: 0 });
  });

  test('git, grep, ls and a compiler', async () => {
    const res = await sh(
      sandbox,
      fx.workspace,
      [
        'git init -q repo && cd repo && printf "int main(void){return 7;}\\n" > m.c',
        'git -c user.name=t -c user.email=t@t add m.c && git -c user.name=t -c user.email=t@t commit -qm init',
        'grep -c main m.c && ls',
        'cc -o m m.c && ./m; echo "exit $?"',
      ].join(' && '),
    );
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe('1\nm.c\nexit 7\n');
  });

  test('a private TMPDIR is writable and /tmp is not', async () => {
    const res = await sh(sandbox, fx.workspace, 'echo t > "$TMPDIR/x" && cat "$TMPDIR/x" && mktemp >/dev/null && echo ok; echo x > /tmp/hide-sbx-probe');
    expect(res.stdout).toBe('t\nok\n');
    expect(res.stderr).toMatch(REFUSED_WRITE);
  });

  test('system directories are read-only', async () => {
    // Names of their own, removed afterwards: a broken rule writes them on the host, and an old one left behind
    // would make touch succeed (utimensat needs no Landlock right) on every later run.
    const probes = ['/etc', '/usr'].map((d) => `${d}/hide-ro-probe-${crypto.randomUUID()}`);
    try {
      const res = await sh(sandbox, fx.workspace, `cat /etc/passwd >/dev/null && ls /usr/bin >/dev/null && echo read; touch ${probes.join('; touch ')}`);
      expect([res.stdout, res.stderr.match(new RegExp(REFUSED_WRITE, 'g'))?.length, probes.filter((p) => existsSync(p))]).toEqual(['read\n', 2, []]);
    } finally {
      for (const p of probes) rmSync(p, { force: true });
    }
  });

  test('a missing program is a spawn error, not a crash', async () => {
    const res = await sandbox.run(request(['/nonexistent/tool'], fx.workspace));
    expect(res.exitCode).toBe(-1);
    expect(res.spawnError).toContain('ENOENT');
  });

  test('a program outside the allowed paths cannot be executed', async () => {
    // A copy of a system program, placed where no rule reaches: the same file runs from /usr/bin.
    const copy = join(fx.outside, 'true-copy');
    copyFileSync('/usr/bin/true', copy);
    chmodSync(copy, 0o755);
    const res = await sh(sandbox, fx.workspace, `/usr/bin/true && echo ran; ${copy}`);
    expect([res.stdout, res.exitCode, res.stderr]).toEqual(['ran\n', 126, expect.stringContaining('Permission denied')]);
  });
});
