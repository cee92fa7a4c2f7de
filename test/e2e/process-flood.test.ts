/**
 * A process that floods its output for 10 s (`yes`, ended by its own
 * lifetime limit) keeps the server's memory bounded — the ring drops the
 * oldest output and says how much — and a read still gets the newest. Runs
 * once, on a server of its own, so its RSS is the server's alone. It is the
 * slow test of the process tools: 10 s by design. Gigabytes pass through the
 * server in that time, so a leak of a hundredth of them would show; a longer
 * flood would only keep both cores of a small machine busy for longer, under
 * every test running beside it.
 */
import { expect, test } from 'bun:test';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startServerProcess } from '../helpers/process.ts';
import { rpc, tempDir, waitFor } from '../helpers/server.ts';

function rssBytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

test('`yes` for 10 s: server RSS grows by less than 50 MB and reads report what was dropped', async () => {
  const dir = tempDir();
  const workspace = join(dir, 'ws');
  await Bun.write(join(workspace, '.keep'), '');
  const server = await startServerProcess({ cwd: dir, env: { HIDE_WORKSPACE: workspace, HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'), HIDE_RATE_LIMIT_ENABLED: 'false' } });
  const call = async (name: string, args: Record<string, unknown>) => (await rpc(`${server.url}/mcp`, 'tools/call', { name, arguments: args })).body.result.structuredContent;
  try {
    // Warm up the paths a flood uses (a launcher, a read) before the baseline.
    const warm = await call('process_start', { command: 'echo', arguments: ['warm'] });
    await call('process_read', { processId: warm.processId, waitMs: 1000 });
    const pid = server.proc.pid;
    const before = rssBytes(pid);
    let peak = before;
    const s = await call('process_start', { command: 'yes', arguments: ['hide-flood'], timeoutSeconds: 10 });
    expect(s.error).toBeNull();
    let cursor = 0;
    let last: Record<string, any> = {};
    // Each read reports what was lost between its cursor and the oldest byte
    // still held; the last read alone may have kept up, so count them all.
    let droppedSeen = 0;
    // Read as an agent would, sampling the server's RSS each time, until the process's own lifetime ends it.
    await waitFor(
      async () => {
        last = await call('process_read', { processId: s.processId, cursor, waitMs: 15_000, maxBytes: 4096 });
        cursor = last.cursor;
        droppedSeen += last.dropped;
        peak = Math.max(peak, rssBytes(pid));
        return last.status !== 'running';
      },
      30_000,
      'the flood to reach its lifetime',
    );
    expect(last.status).toBe('timed-out');
    expect(droppedSeen).toBeGreaterThan(0);
    const end = await call('process_read', { processId: s.processId, cursor: 0, maxBytes: 64 });
    expect(end.dropped).toBeGreaterThan(1024 * 1024);
    expect(end.output).toContain('hide-flood\nhide-flood\n');
    const growth = peak - before;
    console.log(`yes for 10 s: server RSS ${Math.round(before / 2 ** 20)} MB → peak ${Math.round(peak / 2 ** 20)} MB (+${Math.round(growth / 2 ** 20)} MB); dropped ${end.dropped} bytes`);
    expect(growth).toBeLessThan(50 * 1024 * 1024);

    // A burst the ring holds whole (938,895 bytes at once) is kept whole: the launcher held 256 KiB of it while its
    // first write was on its way and dropped the rest, and the ring, which holds no gap, lost what came before.
    const burst = await call('process_start', { command: 'seq', arguments: ['1', '150000'] });
    await waitFor(async () => (await call('process_read', { processId: burst.processId, cursor: 0, maxBytes: 1 })).status === 'exited', 10_000, 'seq to end');
    const whole = await call('process_read', { processId: burst.processId, cursor: 0, maxBytes: 1024 * 1024 });
    expect({ length: whole.output.length, dropped: whole.dropped, cursor: whole.cursor }).toEqual({ length: 938_895, dropped: 0, cursor: 938_895 });
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 45_000);
