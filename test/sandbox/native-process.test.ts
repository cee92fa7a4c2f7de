/**
 * InitProcess: how a root server starts each launcher — posix_spawn through
 * libc, the child the init of a new PID namespace, in its own session, with
 * piped streams, its exit learned and reaped without Bun's Subprocess.
 */
import { describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { waitFor } from '../helpers/wait.ts';
import { NativeProcess } from '../../src/sandbox/native-process.ts';
import { PidNamespaces } from '../../src/sandbox/pidns.ts';
import { cString, libc } from '../../src/util/libc.ts';

const ns = PidNamespaces.open();
const rootOnly = ns === null ? test.skip : test;

const start = (script: string, env: Record<string, string> = {}) => NativeProcess.spawnPiped(ns!, { argv: ['/bin/sh', '-c', script], env: { PATH: '/usr/bin:/bin', ...env }, cwd: '/tmp' });
const text = (stream: ReadableStream<Uint8Array>) => new Response(stream).text();
const openFds = () => readdirSync('/proc/self/fd').length;

describe('NativeProcess', () => {
  rootOnly('runs as pid 1 of a new namespace, in its own session, in cwd, with only the environment given', async () => {
    const p = start('read line; echo "$line $$ $(cut -d" " -f6 /proc/self/stat) $(pwd) $X $HOME"; echo err >&2; exit 3', { X: 'x1' });
    p.stdin.write('hello\n');
    p.stdin.flush();
    const [out, err, code] = await Promise.all([text(p.stdout), text(p.stderr), p.exited]);
    // The shell is 1 in its namespace; the host's /proc gives its session id as the host sees it: its own pid.
    expect(out).toBe(`hello 1 ${p.pid} /tmp x1 \n`);
    expect(err).toBe('err\n');
    expect({ code, exitCode: p.exitCode, signalCode: p.signalCode }).toEqual({ code: 3, exitCode: 3, signalCode: null });
  });

  rootOnly('leaves the calling thread in its own PID namespace', async () => {
    const p = start('exec sleep 5');
    const child = Bun.spawn(['sleep', '5']);
    try {
      expect(readlinkSync(`/proc/${p.pid}/ns/pid`)).not.toBe(readlinkSync('/proc/self/ns/pid'));
      expect(readlinkSync(`/proc/${child.pid}/ns/pid`)).toBe(readlinkSync('/proc/self/ns/pid'));
    } finally {
      child.kill();
      p.kill('SIGKILL');
      await Promise.all([child.exited, text(p.stdout), text(p.stderr), p.exited]);
    }
  });

  rootOnly('reports a kill by signal, and a second kill after the reap reaches nobody', async () => {
    const p = start('echo up; exec sleep 60');
    const reader = p.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('up\n');
    p.kill('SIGKILL');
    const drain = (async () => {
      while (!(await reader.read()).done);
    })();
    await Promise.all([drain, text(p.stderr), p.exited]);
    expect({ exitCode: p.exitCode, signalCode: p.signalCode }).toEqual({ exitCode: null, signalCode: 'SIGKILL' });
    p.kill('SIGKILL');
  });

  rootOnly('everything the init started dies with it', async () => {
    const seconds = String(600 + Math.floor(Math.random() * 1000));
    const p = start(`setsid sleep ${seconds} </dev/null >/dev/null 2>&1 & echo started`);
    expect(await text(p.stdout)).toBe('started\n');
    await p.exited;
    const sleeping = () =>
      readdirSync('/proc').filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === `sleep\0${seconds}\0`;
        } catch {
          return false;
        }
      });
    expect(await waitFor(() => sleeping().length === 0)).toBe(true);
  });

  rootOnly('passes on no descriptor but its three streams, even one the server was started with', async () => {
    // As a shell redirection or a service manager would leave one: without close-on-exec.
    const fd = libc().open(cString('/etc/hostname'), 0);
    expect(fd).toBeGreaterThan(2);
    try {
      // ls's own: the three streams and the directory it lists.
      const p = start('exec ls /proc/self/fd');
      const [out] = await Promise.all([text(p.stdout), text(p.stderr), p.exited]);
      expect(out.split('\n').filter(Boolean).map(Number)).toEqual([0, 1, 2, 3]);
    } finally {
      libc().close(fd);
    }
  });

  rootOnly('learns the exit when nobody reads its output, and of many children at once', async () => {
    const many = Array.from({ length: 20 }, (_, i) => start(`exit ${i}`));
    expect(await Promise.all(many.map((p) => p.exited))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await Promise.all(many.flatMap((p) => [text(p.stdout), text(p.stderr)]));
  });

  rootOnly('takes stdin from /dev/null or from a descriptor of the caller, and a directory descriptor as cwd', async () => {
    const quiet = NativeProcess.spawn(ns!, { argv: ['/bin/sh', '-c', 'cat; pwd'], env: {}, cwd: '/tmp', stdin: 'ignore' });
    expect(quiet.stdin).toBeNull();
    expect(await text(quiet.stdout)).toBe('/tmp\n');
    const file = libc().open(cString('/etc/hostname'), 0o2000000);
    const dir = libc().open(cString('/etc'), 0o2000000 | 0o10000000);
    try {
      const fed = NativeProcess.spawn(ns!, { argv: ['/bin/sh', '-c', 'cat; pwd'], env: {}, cwd: `/proc/self/fd/${dir}`, stdin: file });
      expect(await text(fed.stdout)).toBe(`${readFileSync('/etc/hostname', 'utf8')}/etc\n`);
      expect(await fed.exited).toBe(0);
    } finally {
      libc().close(file);
      libc().close(dir);
    }
  });

  rootOnly('a start that fails throws the reason and leaks no descriptor', async () => {
    await Bun.sleep(10); // the earlier tests' pipes close a tick after their streams end
    const before = openFds();
    expect(() => NativeProcess.spawn(ns!, { argv: ['/nonexistent/launcher'], env: {}, cwd: '/' })).toThrow(/posix_spawn\(\/nonexistent\/launcher\) failed: ENOENT/);
    expect(() => NativeProcess.spawn(ns!, { argv: ['/bin/true'], env: {}, cwd: '/nonexistent-dir' })).toThrow(/ENOENT/);
    expect(openFds()).toBe(before);
  });
});
