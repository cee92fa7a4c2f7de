/**
 * Long-running processes: how soon a waiting process_read answers after the
 * child writes (timed from the child's own clock, so the figure is the wake-up
 * path: pipe → launcher → server ring → waiter → HTTP answer), and what an
 * idle process costs the server in memory beyond its output ring, measured
 * as the cost of one more once some are running.
 */
import { judge, type Scenario } from '../lib/context.ts';
import { callBody, post, setupHide, startHide } from '../lib/hide.ts';
import { rss } from '../lib/proc.ts';
import { fmt, percentile } from '../lib/stats.ts';

async function hideFor(ctx: Parameters<Scenario['run']>[0], sandbox: 'off' | 'required', name: string, extra: Record<string, string> = {}) {
  const setup = setupHide({ name, sandbox });
  Object.assign(setup.env, extra);
  const server = await startHide(setup);
  ctx.defer(() => server.stop());
  const call = async (tool: string, args: unknown) => (await post(server.mcpUrl, setup.apiKey, callBody(tool, args))).result.structuredContent;
  return { server, call };
}

/** Wake-up latencies (ms) of reads that were each woken by one line. */
async function wakeups(call: (tool: string, args: unknown) => Promise<any>, lines: number): Promise<number[]> {
  const script = `import time\nfor i in range(${lines}):\n    time.sleep(0.05)\n    print(time.time_ns() // 1000, flush=True)`;
  const s = await call('process_start', { command: '/usr/bin/python3', arguments: ['-u', '-c', script] });
  if (!s.processId) throw new Error(`process_start failed: ${JSON.stringify(s)}`);
  const out: number[] = [];
  let cursor = 0;
  for (let i = 0; i < lines * 3; i++) {
    const r = await call('process_read', { processId: s.processId, cursor, waitMs: 5000 });
    const arrived = (performance.timeOrigin + performance.now()) * 1000;
    cursor = r.cursor;
    const stamps = String(r.output).split('\n').filter(Boolean).map(Number);
    if (stamps.length === 1) out.push((arrived - stamps[0]!) / 1000);
    if (r.status !== 'running') break;
  }
  return out;
}

export const processWakeup: Scenario = {
  name: 'process-wakeup',
  title: 'process_read waitMs wake-up after the child writes a line, p50 (child\'s clock → answer received)',
  target: '≤ 5 ms',
  async run(ctx, row) {
    const lines = ctx.count(100, 10);
    const off = await hideFor(ctx, 'off', 'proc-wake-off');
    const offMs = await wakeups(off.call, lines);
    const on = await hideFor(ctx, 'required', 'proc-wake-on');
    const onMs = await wakeups(on.call, lines);
    const p50On = percentile(onMs, 50);
    const p50Off = percentile(offMs, 50);
    Object.assign(row, {
      baseline: `${fmt(p50Off, 'ms')} p50 (sandbox off)`,
      ours: `${fmt(p50On, 'ms')} p50 (sandbox on)`,
      ratio: '—',
      status: judge(Math.max(p50On, p50Off) <= 5),
    });
    row.notes.push(`${onMs.length} and ${offMs.length} woken reads; p90 ${fmt(percentile(onMs, 90), 'ms')} on, ${fmt(percentile(offMs, 90), 'ms')} off; includes the HTTP answer over loopback`);
  },
};

export const processIdleRss: Scenario = {
  name: 'process-idle-rss',
  title: 'server RSS per idle long-running process, beyond its output ring',
  target: '≤ 64 KiB',
  async run(ctx, row) {
    const n = ctx.count(50, 10);
    const caps = { HIDE_PROCESS_MAX_PER_CLIENT: String(2 * n + 10), HIDE_PROCESS_MAX_TOTAL: String(2 * n + 10) };
    const results: Record<string, number> = {};
    const firstBatch: Record<string, number> = {};
    for (const sandbox of ['off', 'required'] as const) {
      const { server, call } = await hideFor(ctx, sandbox, `proc-rss-${sandbox}`, caps);
      const startIdle = async () => {
        for (let i = 0; i < n; i++) await call('process_start', { command: 'sleep', arguments: ['600'] });
        await Bun.sleep(500);
        return rss(server.pid);
      };
      // Warm the paths (launcher, table, tools) before the baseline.
      for (let i = 0; i < 5; i++) {
        const s = await call('process_start', { command: 'sleep', arguments: ['600'] });
        await call('process_kill', { processId: s.processId, signal: 'SIGKILL' });
      }
      await Bun.sleep(500);
      const start = rss(server.pid);
      // The first batch also grows the heap once, by the garbage of its own requests (200 process_list calls
      // alone move RSS by 5-10 MB here): the cost of one more idle process is the second batch's.
      const warm = await startIdle();
      const after = await startIdle();
      // The ring of an idle process holds its first 4 KiB block only.
      results[sandbox] = (after - warm) / n - 4096;
      firstBatch[sandbox] = (warm - start) / n - 4096;
    }
    const worst = Math.max(results.off!, results.required!);
    Object.assign(row, {
      baseline: `${fmt(results.off! / 1024, 'KiB')} (sandbox off)`,
      ours: `${fmt(results.required! / 1024, 'KiB')} (sandbox on)`,
      ratio: '—',
      status: judge(worst <= 64 * 1024),
    });
    row.notes.push(
      `${n} idle processes (sleep) per server after ${n} already running; the first ${n}, with the heap's one-time growth, came to ${fmt(firstBatch.off! / 1024, 'KiB')} off and ${fmt(firstBatch.required! / 1024, 'KiB')} on`,
    );
    row.notes.push('the ring grows on output up to HIDE_PROCESS_BUFFER_BYTES (1 MiB), an idle one holds 4 KiB');
  },
};
