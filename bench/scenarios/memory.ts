/**
 * Memory: resident set size of `dist/hide serve` (VmRSS) while 32 calls each
 * print 200 MB, and its growth over 100 000 calls from 10 000 clients.
 */
import { judge, type Scenario } from '../lib/context.ts';
import { callBody, post, setupHide, startHide, type RunningHide } from '../lib/hide.ts';
import { rss } from '../lib/proc.ts';
import { fmt, mb, signed } from '../lib/stats.ts';

/** RSS after the server has been quiet for `ms`. */
async function settledRss(pid: number, ms = 1000): Promise<number> {
  await Bun.sleep(ms);
  return rss(pid);
}

export const rssOutput: Scenario = {
  name: 'rss-output',
  title: 'RSS while 32 calls each print 200 MB, minus idle',
  target: '≤ 100 MB',
  async run(ctx, row) {
    const calls = 32;
    const bytes = ctx.smoke ? 20_000_000 : 200_000_000;
    const setup = setupHide({ name: 'rss-output' });
    const server = await startHide(setup);
    ctx.defer(() => server.stop());
    await post(server.mcpUrl, setup.apiKey, callBody('shell_execute', { command: 'true' }));
    const idle = await settledRss(server.pid, 500);
    row.baseline = `${fmt(mb(idle), 'MB')} idle`;
    let peak = idle;
    let done = false;
    const sampler = (async () => {
      for (let i = 0; i < 100_000 && !done; i++) {
        try {
          peak = Math.max(peak, rss(server.pid));
        } catch {
          return;
        }
        await Bun.sleep(5);
      }
    })();
    const body = callBody('shell_execute', { command: 'head', arguments: ['-c', String(bytes), '/dev/zero'], timeoutSeconds: 120 });
    const t0 = performance.now();
    const results = await Promise.allSettled(Array.from({ length: calls }, () => post(server.mcpUrl, setup.apiKey, body, 150_000)));
    const elapsed = performance.now() - t0;
    done = true;
    await sampler;
    const delta = peak - idle;
    Object.assign(row, { ours: `${fmt(mb(peak), 'MB')} peak`, ratio: signed(mb(delta), 'MB'), status: judge(mb(delta) <= 100) });
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.result?.structuredContent] : []));
    const summary = new Map<string, number>();
    for (const sc of ok) {
      const k = `exit ${sc?.exitCode} truncated ${sc?.truncated} stdout ${fmt((sc?.stdout?.length ?? 0) / 1e6, 'MB')}`;
      summary.set(k, (summary.get(k) ?? 0) + 1);
    }
    const after = await settledRss(server.pid);
    row.notes.push(`${calls} × ${fmt(bytes / 1e6, 'MB')} in ${fmt(elapsed / 1000, 's')}; RSS 1 s after the last answer ${fmt(mb(after), 'MB')}; results: ${[...summary].map(([k, n]) => `${n}× ${k}`).join('; ') || 'none'}`);
    if (failed.length) {
      row.notes.push(`${failed.length} calls failed: ${String(failed[0]?.reason).slice(0, 200)}`);
      row.status = 'error';
    }
    await server.stop();
  },
};

/** Connection resets seen while driving, retried (reported in the notes). */
let resets = 0;

/**
 * Sends calls `from..to` with 32 workers, call `i` as client `i % keys`;
 * stops at the deadline. A connection reset is retried up to twice and
 * counted; an HTTP or JSON-RPC error is a failure.
 */
async function drive(server: RunningHide, keys: string[], from: number, to: number, deadline: number): Promise<number> {
  let next = from;
  let failures = 0;
  let firstFailure = '';
  const send = async (i: number) => {
    const body = callBody('check_file_exists', { fileName: 'README.md' }, i);
    for (let attempt = 0; ; attempt++) {
      try {
        return await post(server.mcpUrl, keys[i % keys.length] as string, body, 10_000);
      } catch (e) {
        const reset = (e as { code?: string }).code === 'ECONNRESET' || /ECONNRESET|socket connection was closed/.test((e as Error).message);
        if (!reset || attempt >= 2) throw e;
        resets++;
      }
    }
  };
  const worker = async () => {
    while (next < to && performance.now() < deadline && failures <= 20) {
      try {
        await send(next++);
      } catch (e) {
        failures++;
        firstFailure ||= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  if (failures) throw new Error(`${failures} failed calls, first: ${firstFailure}`);
  return next;
}

export const rssClients: Scenario = {
  name: 'rss-clients',
  title: 'RSS after 100k calls from 10k clients, minus after first 1k',
  target: '≤ 20 MB',
  async run(ctx, row) {
    const [total, clients, first] = ctx.smoke ? [3_000, 300, 300] : [100_000, 10_000, 1_000];
    const setup = setupHide({ name: 'rss-clients', clients });
    resets = 0;
    const server = await startHide(setup);
    ctx.defer(() => server.stop());
    const deadline = performance.now() + (ctx.smoke ? 30 : 120) * 1000;
    const t0 = performance.now();
    await drive(server, setup.extraKeys, 0, first, deadline);
    const after1k = await settledRss(server.pid);
    row.baseline = `${fmt(mb(after1k), 'MB')} after ${first}`;
    // Checkpoints tell steady growth per call (a leak) from a heap that settles.
    const checkpoints: string[] = [];
    let reached = first;
    for (const stop of [total / 10, total / 2, total]) {
      reached = await drive(server, setup.extraKeys, reached, stop, deadline);
      if (stop < total) checkpoints.push(`${fmt(mb(rss(server.pid)), 'MB')} after ${reached}`);
    }
    const elapsed = (performance.now() - t0) / 1000;
    const afterAll = await settledRss(server.pid);
    const delta = afterAll - after1k;
    Object.assign(row, { ours: `${fmt(mb(afterAll), 'MB')} after ${reached}`, ratio: signed(mb(delta), 'MB'), status: judge(mb(delta) <= 20) });
    row.notes.push(`${reached} check_file_exists calls from ${clients} keyed clients (api_key_sha256) in ${fmt(elapsed, 's')} (${fmt(reached / elapsed, 'calls/s')}, fetch c=32)`);
    row.notes.push(`unsettled RSS on the way: ${checkpoints.join(', ')} calls`);
    if (resets) row.notes.push(`${resets} connection resets (ECONNRESET) from the server, each retried`);
    if (reached < total) {
      row.notes.push(`stopped at the time budget after ${reached} of ${total} calls`);
      row.status = 'error';
    }
    await server.stop();
  },
};
