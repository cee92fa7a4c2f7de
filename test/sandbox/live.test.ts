/**
 * Long-lived processes in a launcher: confined as a command is, their
 * terminals numbered in a devpts instance of the launcher's own (an
 * operator's terminal is not reachable), gone with a launcher that dies, and
 * a restarted launcher starts new ones.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { LiveExit, LiveStart } from '../../src/exec/live.ts';
import type { SandboxLauncher } from '../../src/sandbox/launcher-client.ts';
import { ENV, type Fixture, liveProcesses, makeFixture, makeLauncher, uniqueSleep, waitFor } from './helpers.ts';

const root = process.getuid?.() === 0;
let fx: Fixture;
let launcher: SandboxLauncher;

beforeAll(async () => {
  fx = makeFixture();
  launcher = makeLauncher(fx.workspace);
  await launcher.start();
});
afterAll(async () => {
  await launcher?.close();
  fx?.[Symbol.dispose]();
});

async function startCollecting(argv: string[], terminal: { cols: number; rows: number } | null = null) {
  const out: Uint8Array[] = [];
  const started: LiveStart = await launcher.startLive({ argv, cwd: fx.workspace, env: ENV, terminal, pendingBytes: 1 << 20 }, (chunk) => out.push(chunk));
  const text = () => Buffer.concat(out).toString('utf8');
  return { started, text };
}

describe('long-lived processes in the sandbox', () => {
  test('a started process is confined like a command: the secret outside the workspace is unreadable', async () => {
    const { started, text } = await startCollecting(['/bin/cat', fx.secret]);
    if (!started.ok) throw new Error(started.error);
    const exit: LiveExit = await started.handle.exited;
    expect(exit.exitCode).not.toBe(0);
    expect(text()).not.toContain('TOP-SECRET');
    expect(text()).toContain('Permission denied');
  });

  test.skipIf(!root)("a terminal is numbered in the launcher's own devpts instance: the host's terminals are neither listed nor reachable", async () => {
    // Three terminals on the host (pts 0-2 at least); the last must stay out of reach.
    let received = '';
    const host = [0, 1, 2].map(() => new Bun.Terminal({ cols: 80, rows: 24, data: (_t, d) => (received += Buffer.from(d).toString()) }));
    try {
      const { started, text } = await startCollecting(['/bin/sh', '-c', 'ls /dev/pts; for n in 1 2 3; do echo injected > /dev/pts/$n && echo WROTE; done'], { cols: 80, rows: 24 });
      if (!started.ok) throw new Error(started.error);
      await started.handle.exited;
      const listed = text().split(/\s+/).filter(Boolean);
      expect(listed).toContain('ptmx');
      expect(listed.filter((n) => /^\d+$/.test(n))).toEqual(['0']);
      expect(text()).not.toContain('WROTE');
      expect(received).not.toContain('injected');
    } finally {
      for (const t of host) t.close();
    }
  });

  test.skipIf(!root)('a terminal process that writes after a pause, and after its input, loses none of it', async () => {
    const { started, text } = await startCollecting(['/bin/sh', '-c', 'echo now; sleep 0.3; echo later; read line; echo "got $line"; exit 7'], { cols: 80, rows: 24 });
    if (!started.ok) throw new Error(started.error);
    expect(await waitFor(() => text().includes('later'))).toBe(true);
    started.handle.write(new TextEncoder().encode('abc\n'));
    const exit = await started.handle.exited;
    expect(exit.exitCode).toBe(7);
    expect(text()).toBe('now\r\nlater\r\nabc\r\ngot abc\r\n');
  });

  test('input reaches the process and ending the input ends it', async () => {
    const { started, text } = await startCollecting(['/bin/cat']);
    if (!started.ok) throw new Error(started.error);
    started.handle.write(new TextEncoder().encode('ping\n'));
    await waitFor(() => text().includes('ping'));
    started.handle.closeInput();
    expect((await started.handle.exited).exitCode).toBe(0);
  });

  test('a write after the end is refused as closed at once, and the launcher that reported the end is left alone', async () => {
    const { started } = await startCollecting(['/bin/true']);
    if (!started.ok) throw new Error(started.error);
    await started.handle.exited;
    const [pid, restarts] = [launcher.pid, launcher.restarts];
    // No answer would come for it: waiting for one would hang the call, and its deadline would kill this launcher.
    expect(await started.handle.write(new TextEncoder().encode('late\n'))).toBe('closed');
    expect([launcher.pid, launcher.restarts]).toEqual([pid, restarts]);
  });

  test('a launcher that dies takes its processes with it; they end as lost, and the restarted launcher starts new ones', async () => {
    const marker = uniqueSleep();
    const { started } = await startCollecting(['/bin/sleep', marker]);
    if (!started.ok) throw new Error(started.error);
    await waitFor(() => liveProcesses(marker).length === 1);
    const restarts = launcher.restarts;
    process.kill(launcher.pid!, 'SIGKILL');
    const exit = await started.handle.exited;
    expect(exit.lost).toContain('launcher');
    expect(await waitFor(() => liveProcesses(marker).length === 0)).toBe(true);
    await waitFor(() => launcher.restarts === restarts + 1 && launcher.pid !== null);
    // The process is gone with its launcher: input for it is refused, never left waiting for an answer.
    expect(await started.handle.write(new TextEncoder().encode('late\n'))).toBe('closed');
    const again = await startCollecting(['/bin/echo', 'back']);
    if (!again.started.ok) throw new Error(again.started.error);
    await again.started.handle.exited;
    expect(again.text()).toContain('back');
  });
});
