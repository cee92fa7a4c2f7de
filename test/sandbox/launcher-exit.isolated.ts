/**
 * A launcher that dies while its last messages are still in the pipe: the
 * server reads them before it settles the launcher's calls, so a call the
 * launcher said it took is never sent to the replacement and run twice.
 * The launcher here is a stand-in process that speaks the protocol and dies
 * at the moment under test (the real one cannot be made to die there on
 * purpose): handed a call, it leaves a child holding its stdout that reports
 * it took the call once the stand-in is gone, and exits at once.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { LauncherConfineError, SandboxLauncher } from '../../src/sandbox/launcher-client.ts';
import { landlockAbi, UnreachableGrantError } from '../../src/sandbox/landlock.ts';
import { saysWhatKernelAllows } from '../../src/sandbox/launcher.ts';
import { UnfilteredThreadError } from '../../src/sandbox/unfiltered-thread.ts';
import { sandboxRules } from '../../src/sandbox/rules.ts';
import { SyscallError } from '../../src/util/libc.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENV, makeFixture, makeLauncher } from './helpers.ts';

const dir = tempDir('hide-launcher-exit-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const STAND_IN = `
import { appendFileSync } from 'node:fs';
const runs = process.argv[2];
const lateBy = process.argv[3] ?? '0';
const report = { abi: 7, networkEnforced: true, scoped: true, skipped: [], pidNamespace: false, privateProc: false, privateTmp: false, privateNetwork: false, readOnlyMounts: false, seccomp: true, nonDumpable: true, namespaceRefused: null, mountRefused: null, networkRefused: null, readOnlyRefused: null, tmpViewRefused: null, yieldRefused: null };
process.stdout.write(JSON.stringify({ t: 'ready', report }) + '\\n');
for await (const line of console) {
  const message = JSON.parse(line);
  if (message.t !== 'run') continue;
  appendFileSync(runs, message.id + '\\n');
  // Says it took the call once this stand-in is gone (reaped: kill -0 fails), not after a guessed delay.
  Bun.spawn(['sh', '-c', 'while kill -0 ' + process.pid + ' 2>/dev/null; do sleep 0.01; done; sleep ' + lateBy + '; echo \\'{"t":"accepted","id":' + message.id + '}\\''], { stdin: 'ignore', stdout: 'inherit', stderr: 'inherit' }).unref();
  process.exit(0);
}
`;

// Said at once, and said only after a second and a half: longer than a dead launcher's last messages were once
// waited for before its calls were resent on a guess.
test.each([['at once', '0'], ['late', '1.5']])('a call its dead launcher said it took (%s) is not sent to the replacement: it runs once', async (_when, lateBy) => {
  const script = join(dir, 'stand-in.ts');
  const runs = join(dir, `runs-${lateBy}`);
  writeFileSync(script, STAND_IN);
  writeFileSync(runs, '');
  const launcher = new SandboxLauncher({ rules: sandboxRules({ workspace: dir, network: 'off' }), command: [process.execPath, script, runs, lateBy], privateTmp: false });
  try {
    const result = await launcher.run({ argv: ['/bin/true'], cwd: dir, env: ENV, timeoutMs: 10_000, maxOutputBytes: 1024 });
    expect(result.spawnError).toBe('sandbox launcher exited after taking the command: it ran in part, in full or not at all, and was killed with the launcher');
    expect(readFileSync(runs, 'utf8').trim().split('\n')).toHaveLength(1);
  } finally {
    await launcher.close();
  }
});

const CUT_OFF_STAND_IN = `
import { appendFileSync, readFileSync } from 'node:fs';
const runs = process.argv[2];
const report = { abi: 7, networkEnforced: true, scoped: true, skipped: [], pidNamespace: false, privateProc: false, privateTmp: false, privateNetwork: false, readOnlyMounts: false, seccomp: true, nonDumpable: true, namespaceRefused: null, mountRefused: null, networkRefused: null, readOnlyRefused: null, tmpViewRefused: null, yieldRefused: null };
process.stdout.write(JSON.stringify({ t: 'ready', report }) + '\\n');
for await (const line of console) {
  const message = JSON.parse(line);
  if (message.t !== 'run') continue;
  const first = readFileSync(runs, 'utf8') === '';
  appendFileSync(runs, message.id + '\\n');
  if (first) {
    // Dies in the middle of a message, before any word that it took the call.
    await Bun.write(Bun.stdout, '{"t":"result","id":' + message.id + ',"res":{"stdout":"par');
    process.exit(0);
  }
  const res = { stdout: 'from the replacement', stderr: '', exitCode: 0, signal: null, timedOut: false, cancelled: false, truncated: false, durationMs: 1, spawnError: null };
  process.stdout.write(JSON.stringify({ t: 'accepted', id: message.id }) + '\\n' + JSON.stringify({ t: 'result', id: message.id, res }) + '\\n');
}
`;

// A launcher killed while writing (a flood of output ahead of its messages makes that likely) leaves a last line
// without its end: what it was saying never took effect, and the lines before it were read whole.
test('a call its launcher died before taking, in the middle of writing something else, is sent to the replacement', async () => {
  const script = join(dir, 'cut-off-stand-in.ts');
  const runs = join(dir, 'runs-cut-off');
  writeFileSync(script, CUT_OFF_STAND_IN);
  writeFileSync(runs, '');
  const logged: string[] = [];
  const launcher = new SandboxLauncher({
    rules: sandboxRules({ workspace: dir, network: 'off' }),
    command: [process.execPath, script, runs],
    privateTmp: false,
    log: (line) => logged.push(line),
  });
  try {
    const result = await launcher.run({ argv: ['/bin/true'], cwd: dir, env: ENV, timeoutMs: 10_000, maxOutputBytes: 1024 });
    expect(result).toMatchObject({ spawnError: null, exitCode: 0, stdout: 'from the replacement' });
    expect(readFileSync(runs, 'utf8').trim().split('\n')).toHaveLength(2);
    expect(logged.filter((l) => l.includes('protocol error'))).toEqual([]);
  } finally {
    await launcher.close();
  }
});

/** What `launcher.start()` failed with (null: the launcher became ready); the launcher is closed after. */
async function bootError(launcher: SandboxLauncher): Promise<Error | null> {
  try {
    return await launcher.start().then(
      () => null,
      (err: Error) => err,
    );
  } finally {
    await launcher.close();
  }
}

/**
 * How a launcher that never became ready failed decides whether HIDE_SANDBOX=auto may run commands unconfined:
 * only a launcher that could not confine itself says what the kernel or container allows.
 */
describe('a launcher that never becomes ready', () => {
  const boot = async (source: string) => {
    const script = join(dir, `boot-${Math.random().toString(36).slice(2)}.ts`);
    writeFileSync(script, source);
    return bootError(new SandboxLauncher({ rules: sandboxRules({ workspace: dir, network: 'off' }), command: [process.execPath, script], privateTmp: false }));
  };

  test('one that reports it could not confine itself is a confinement failure', async () => {
    const reported = await boot(`process.stdout.write(JSON.stringify({ t: 'fatal', error: 'Landlock is not available on this kernel' }) + '\\n');`);
    expect(reported).toBeInstanceOf(LauncherConfineError);
  });

  // Any process allowed to signal the launcher (a command of another server of the same user, on a kernel whose
  // Landlock cannot scope signals) can send SIGSYS: only a seccomp filter on the server itself, which the launcher
  // inherits, can have the kernel send it.
  test('one killed by SIGSYS is a confinement failure only on a server under a seccomp filter', async () => {
    const forged = await boot(`process.kill(process.pid, 'SIGSYS');`);
    expect(forged).toBeInstanceOf(Error);
    expect(forged).not.toBeInstanceOf(LauncherConfineError);
    expect(forged?.message).toContain('another process');

    const launcherScript = join(dir, 'sigsys-launcher.ts');
    writeFileSync(launcherScript, `process.kill(process.pid, 'SIGSYS');`);
    const serverScript = join(dir, 'filtered-server.ts');
    const src = join(import.meta.dir, '..', '..', 'src');
    writeFileSync(
      serverScript,
      `
import { dlopen, FFIType, ptr } from 'bun:ffi';
const { symbols: c } = dlopen('libc.so.6', { prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 }, syscall: { args: [FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64], returns: FFIType.i64 } });
// One instruction, BPF_RET | BPF_K with SECCOMP_RET_ALLOW: a filter that refuses nothing, as a lenient container profile.
const filter = new Uint8Array(8);
new DataView(filter.buffer).setUint16(0, 0x06, true);
new DataView(filter.buffer).setUint32(4, 0x7fff0000, true);
const prog = new Uint8Array(16);
new DataView(prog.buffer).setUint16(0, 1, true);
new DataView(prog.buffer).setBigUint64(8, BigInt(ptr(filter)), true);
if (c.prctl(38, 1, 0, 0, 0) !== 0) throw new Error('PR_SET_NO_NEW_PRIVS failed');
const SYS_SECCOMP = process.arch === 'arm64' ? 277 : 317;
if (c.syscall(SYS_SECCOMP, 1, 0, BigInt(ptr(prog))) !== 0n) throw new Error('seccomp failed');
const { LauncherConfineError, SandboxLauncher } = await import(${JSON.stringify(join(src, 'sandbox', 'launcher-client.ts'))});
const { sandboxRules } = await import(${JSON.stringify(join(src, 'sandbox', 'rules.ts'))});
const launcher = new SandboxLauncher({ rules: sandboxRules({ workspace: ${JSON.stringify(dir)}, network: 'off' }), command: [process.execPath, ${JSON.stringify(launcherScript)}], privateTmp: false });
const err = await launcher.start().then(() => null, (e) => e);
await launcher.close();
console.log(JSON.stringify({ confine: err instanceof LauncherConfineError, message: err?.message ?? null }));
`,
    );
    const run = Bun.spawnSync([process.execPath, serverScript], { stdout: 'pipe', stderr: 'pipe' });
    expect(run.stderr.toString()).toBe('');
    const verdict = JSON.parse(run.stdout.toString().trim().split('\n').pop()!);
    expect(verdict).toEqual({ confine: true, message: expect.stringContaining('seccomp profile') });
  });

  test('one that dies otherwise before it is ready (killed, out of memory, a crash) is not: it says nothing of the kernel', async () => {
    for (const source of ['process.exit(3);', "process.kill(process.pid, 'SIGKILL');"]) {
      const err = await boot(source);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(LauncherConfineError);
    }
  });
});

/**
 * A granted path the launcher cannot look at once its capabilities are dropped (a root server whose workspace lies in
 * another user's home, mode 0700): the configuration's doing, not the kernel's, so no reason to run commands unconfined.
 */
describe.skipIf(process.getuid?.() !== 0 || landlockAbi() < 1)('a real launcher whose workspace it cannot reach', () => {
  test('fails to start, and not as a confinement failure', async () => {
    const top = tempDir('hide-unreachable-grant-');
    try {
      chmodSync(top, 0o755);
      const home = join(top, 'home');
      mkdirSync(home, { mode: 0o700 });
      chownSync(home, 65534, 65534);
      const workspace = join(home, 'ws');
      mkdirSync(workspace);
      const err = await bootError(makeLauncher(workspace));
      expect(err?.message).toContain('EACCES');
      expect(err).not.toBeInstanceOf(LauncherConfineError);
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  });
});

/**
 * A launcher short of descriptors or memory (the system's file table full, say) when it confines itself: no word on
 * what the kernel allows either. Judged on the errors themselves: a real launcher cannot be put there reliably. A low
 * descriptor limit leaves a window of one descriptor between Bun's own start and the first path Landlock is given,
 * and Bun's own count moves by one from run to run and machine to machine; launchers that failed inside Bun's start,
 * read through a launcher client, also crashed Bun 1.4.5's test runner (abort() in its main thread).
 */
test('a launcher short of descriptors or memory says nothing of what the kernel allows; a refusal does', () => {
  const failed = (errno: number) => new SyscallError('open(/usr)', errno);
  for (const errno of [constants.errno.EMFILE, constants.errno.ENFILE, constants.errno.ENOMEM, constants.errno.EAGAIN]) {
    expect(saysWhatKernelAllows(failed(errno))).toBe(false);
  }
  expect(saysWhatKernelAllows(new UnreachableGrantError('cannot grant /srv/ws: EACCES'))).toBe(false);
  expect(saysWhatKernelAllows(new UnfilteredThreadError('unfiltered thread failed: out of threads'))).toBe(false);
  for (const errno of [constants.errno.EPERM, constants.errno.EOPNOTSUPP, constants.errno.ENOSYS, constants.errno.ENOSPC]) {
    expect(saysWhatKernelAllows(failed(errno))).toBe(true);
  }
  expect(saysWhatKernelAllows(new Error('Landlock is not available on this kernel'))).toBe(true);
  // node:fs's errors (reading mountinfo as root, say) name their errno too.
  const fsFailed = (code: string) => Object.assign(new Error(`${code}: open '/proc/thread-self/mountinfo'`), { code, errno: -constants.errno[code as 'EMFILE'], syscall: 'open' });
  for (const code of ['EMFILE', 'ENFILE', 'ENOMEM']) expect(saysWhatKernelAllows(fsFailed(code))).toBe(false);
  expect(saysWhatKernelAllows(fsFailed('EPERM'))).toBe(true);
});

/**
 * A launcher stopped while it boots (unprivileged on a kernel without Landlock's signal scope, another client's
 * command can stop any process of the server's user; a launcher can also hang for want of a thread) never becomes
 * ready: the call waiting for it fails by its own deadline, and at start `required` refuses rather than wait for ever.
 */
describe.skipIf(landlockAbi() < 1)('a real launcher that never becomes ready', () => {
  test('fails the call waiting for it rather than hold it for ever', async () => {
    using fx = makeFixture();
    const launcher = makeLauncher(fx.workspace);
    try {
      const run = launcher.run({ argv: ['/bin/true'], cwd: fx.workspace, env: ENV, timeoutMs: 1000, maxOutputBytes: 1024 });
      // Spawned by now: the boot begins as the call is made.
      process.kill(launcher.pid!, 'SIGSTOP');
      const result = await run;
      // At the call's own deadline (its timeout plus 4 s), not the launcher's boot deadline (10 s).
      expect(result.spawnError).toBe("sandbox unavailable: no launcher was ready within the call's timeout plus 4 s");
    } finally {
      await launcher.close();
    }
  }, 60_000);
});

/**
 * While a dead launcher's last messages are read, its pid may already name someone else: the kernel has it back once
 * the launcher is reaped. The unprivileged exit-at-once (SandboxSpawner.killAll) stops and kills the tree under that
 * pid, so a launcher that has exited has no pid, whatever is still to be read from its pipe.
 */
test('a launcher that has exited has no pid, while its last messages are still read', async () => {
  const script = join(dir, 'exits-after-ready.ts');
  // Ready, then gone, leaving a child that holds its stdout: the read of what it wrote goes on for a while.
  writeFileSync(
    script,
    `const report = { abi: 7, networkEnforced: true, scoped: true, skipped: [], pidNamespace: false, privateProc: false, privateTmp: false, privateNetwork: false, readOnlyMounts: false, seccomp: true, nonDumpable: true, namespaceRefused: null, mountRefused: null, networkRefused: null, readOnlyRefused: null, tmpViewRefused: null, yieldRefused: null };
process.stdout.write(JSON.stringify({ t: 'ready', report }) + '\\n');
Bun.spawn(['sleep', '3'], { stdin: 'ignore', stdout: 'inherit', stderr: 'inherit' }).unref();
setTimeout(() => process.exit(0), 100);
`,
  );
  const launcher = new SandboxLauncher({ rules: sandboxRules({ workspace: dir, network: 'off' }), command: [process.execPath, script], privateTmp: false });
  try {
    await launcher.start();
    const pid = launcher.pid;
    expect(pid).not.toBeNull();
    const reaped = () => {
      try {
        process.kill(pid!, 0);
        return false;
      } catch {
        return true;
      }
    };
    await waitFor(reaped, 10_000, 'the launcher reaped');
    expect(launcher.pid).toBeNull();
  } finally {
    await launcher.close();
  }
});

/**
 * A command holds none of its launcher's descriptors: it cannot keep the launcher's pipe to the server open (each
 * death of its launcher would then wait out the read of its last messages), nor write to the server through it.
 */
describe.skipIf(landlockAbi() < 1)('a command of a real launcher', () => {
  test('has its standard streams open and nothing else', async () => {
    using fx = makeFixture();
    const launcher = makeLauncher(fx.workspace);
    try {
      const r = await launcher.run({
        argv: ['/usr/bin/python3', '-c', "import os; print(sorted(int(fd) for fd in os.listdir('/proc/self/fd')))"],
        cwd: fx.workspace,
        env: ENV,
        timeoutMs: 10_000,
        maxOutputBytes: 4096,
      });
      // The last is the directory being listed.
      expect(r.stdout.trim()).toBe('[0, 1, 2, 3]');
    } finally {
      await launcher.close();
    }
  });
});
