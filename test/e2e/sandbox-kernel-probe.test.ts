/**
 * Whether the kernel can confine a command is not decided by one launcher's
 * failure: a path it grants can be renamed away while it boots (a command of
 * another server whose workspace holds this one's), and on a server under a
 * seccomp filter (any container) a SIGSYS sent to it reads as the filter's.
 * Under HIDE_SANDBOX=auto either turned the sandbox off for the server's whole
 * life. Only a launcher that grants no such path and cannot confine itself
 * either does that now; otherwise commands wait for a launcher that can.
 */
import { describe, expect, test } from 'bun:test';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBinary } from '../helpers/binary.ts';
import { childrenOf } from '../helpers/procfs.ts';
import { startServerProcess } from '../helpers/process.ts';
import { tempDir } from '../helpers/temp.ts';
import { UNPRIVILEGED } from '../helpers/two-clients.ts';
import { waitFor } from '../helpers/wait.ts';
import { landlockAbi } from '../../src/sandbox/landlock.ts';

// The system's: one in root's home (pyenv) is out of the unprivileged uid's reach.
const SYSTEM_PYTHON = '/usr/bin/python3';
const usable = process.platform === 'linux' && process.getuid?.() === 0 && existsSync(SYSTEM_PYTHON) && Bun.which('setpriv') !== null && landlockAbi() > 0;

/** Every process below `pid`. */
function descendants(pid: number): number[] {
  return childrenOf(pid).flatMap((child) => [child, ...descendants(child)]);
}

// A seccomp filter, as a container's profile, then the server in its place. It allows everything, or with
// REFUSE=<syscall number> refuses that one call with EPERM.
const UNDER_FILTER = `
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
refuse = int(os.environ.pop('REFUSE', '-1'))
insns = [(0x06, 0, 0, 0x7fff0000)] if refuse < 0 else [(0x20, 0, 0, 0), (0x15, 0, 1, refuse), (0x06, 0, 0, 0x00050001), (0x06, 0, 0, 0x7fff0000)]
insn = ctypes.create_string_buffer(b''.join(struct.pack('=HBBI', *i) for i in insns))
prog = ctypes.create_string_buffer(struct.pack('=H6xQ', len(insns), ctypes.addressof(insn)))
assert libc.prctl(38, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0
assert libc.prctl(22, ctypes.c_ulong(2), ctypes.c_ulong(ctypes.addressof(prog)), ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0
os.execv(sys.argv[1], sys.argv[1:])
`;

/** A workspace the unprivileged uid owns, a copy of the binary and the filter's wrapper beside it. */
async function setUp(): Promise<{ dir: string; bin: string; wrapper: string }> {
  const top = tempDir('hide-kernel-probe-');
  const dir = join(top, 'ws');
  mkdirSync(dir);
  chownSync(dir, UNPRIVILEGED, UNPRIVILEGED);
  chmodSync(top, 0o755);
  // The checkout may not be readable by that uid: it runs a copy of the compiled binary, outside the workspace.
  const bin = join(top, 'hide');
  copyFileSync(await ensureBinary(), bin);
  chmodSync(bin, 0o755);
  const wrapper = join(top, 'under-filter.py');
  writeFileSync(wrapper, UNDER_FILTER);
  return { dir, bin, wrapper };
}

const asUser = ['setpriv', `--reuid=${UNPRIVILEGED}`, `--regid=${UNPRIVILEGED}`, '--clear-groups', '--'];
const serverEnv = (dir: string) => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, HIDE_WORKSPACE: dir, HIDE_AUDIT_LOG_ENABLED: 'false', HIDE_LOG_FORMAT: 'json' });

describe.skipIf(!usable)('a launcher that could not confine itself while the kernel can', () => {
  // Unprivileged: as root each launcher is the init of a PID namespace of its own, which takes no signal from outside
  // it that it has no handler for. Sent to the first launcher only, the path-free one confines and says the kernel
  // can; sent to every launcher that boots (a process of the same user, or a command where Landlock cannot scope
  // signals, can), the path-free one is killed too, which says nothing of the kernel either.
  test.each([
    ['the first launcher', 1, 'although the kernel confines one that grants no path'],
    ['every launcher that boots, the path-free one too', 50, 'did not say the kernel cannot either'],
  ])('a SIGSYS sent to %s of an unprivileged server under a seccomp filter leaves the sandbox on', async (_whom, most, verdict) => {
    const { dir, bin, wrapper } = await setUp();
    let logs = '';
    // The launcher is caught while it boots: a launcher already up would take the signal as a crash, not the
    // filter's word. Each try is a new server; a try whose launcher was up first says nothing either way.
    for (let attempt = 0; attempt < 3; attempt++) {
      const proc = Bun.spawn([...asUser, SYSTEM_PYTHON, wrapper, bin, 'serve', '--port', '0'], {
        cwd: dir,
        env: serverEnv(dir),
        stdout: 'ignore',
        stderr: 'pipe',
      });
      logs = '';
      const reading = (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) logs += decoder.decode(chunk, { stream: true });
      })();
      try {
        // Every new launcher below the server is sent SIGSYS, up to `most` of them, for 4 s at most after the first.
        const signalled = new Set<number>();
        let until = Date.now() + 15_000;
        while (signalled.size < most && Date.now() < until && proc.exitCode === null) {
          for (const pid of descendants(proc.pid)) {
            if (signalled.has(pid)) continue;
            let cmdline = '';
            try {
              cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
            } catch {
              continue;
            }
            if (!cmdline.includes('__launcher')) continue;
            process.kill(pid, 'SIGSYS');
            if (signalled.size === 0) until = Date.now() + 4000;
            signalled.add(pid);
          }
          await Bun.sleep(1);
        }
        if (signalled.size === 0) await proc.exited;
        expect({ sent: signalled.size > 0, logs: signalled.size > 0 ? '' : logs }).toEqual({ sent: true, logs: '' });
        // Said within the boot deadline when the signal came before the launcher was up; a launcher up first takes it as a crash.
        const caught = await waitFor(() => logs.includes('SIGSYS') || logs.includes('sandbox launcher exited'), 10_000, 'the launcher to end').then(() => logs.includes('SIGSYS'), () => false);
        if (!caught) continue;
        const url = /listening on (http:\/\/[^\s]+) /.exec(logs)![1];
        await waitFor(() => logs.includes(verdict) || logs.includes('WITHOUT the sandbox'), 15_000, 'the verdict');
        expect(logs).not.toContain('WITHOUT the sandbox');
        const health = (await (await fetch(`${url}/health`)).json()) as { sandbox: string };
        expect(health.sandbox).not.toBe('off');
        // Once the signals stop, the next call boots a launcher of its own, confined.
        const res = await fetch(`${url}/mcp`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'cat', arguments: ['/proc/self/status'] } } }),
        });
        const stdout = ((await res.json()) as { result: { structuredContent: { stdout: string } } }).result.structuredContent.stdout;
        expect(stdout).toMatch(/^NoNewPrivs:\s+1$/m);
        expect(stdout).toMatch(/^Seccomp:\s+2$/m);
        return;
      } finally {
        proc.kill('SIGTERM');
        await proc.exited;
        await reading;
      }
    }
    throw new Error(`no try caught the first launcher while it booted: ${logs}`);
  }, 90_000);

  // The other side: where the kernel (here a profile refusing landlock_restrict_self, which both architectures number
  // 446) refuses every launcher, the one granting no path too, `auto` still runs commands unconfined, and says so.
  test('a profile that refuses every launcher still turns the sandbox off under auto, after the path-free launcher fails too', async () => {
    const { dir, bin, wrapper } = await setUp();
    const server = await startServerProcess({ cwd: dir, env: { ...serverEnv(dir), REFUSE: '446' }, program: [...asUser, SYSTEM_PYTHON, wrapper, bin] });
    try {
      await waitFor(() => server.logs().includes('WITHOUT the sandbox'), 15_000, 'the sandbox to be turned off');
      expect(server.logs()).toContain('landlock_restrict_self');
      expect(server.logs()).not.toContain('although the kernel confines');
      const health = (await (await fetch(`${server.url}/health`)).json()) as { sandbox: string };
      expect(health.sandbox).toBe('off');
    } finally {
      await server.stop();
    }
  }, 60_000);
});
