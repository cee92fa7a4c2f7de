/**
 * Start-up: `dist/hide serve` from spawn to the first `/health` 200 against a
 * bare compiled hello-world Bun.serve server, median of N starts each.
 */
import { join } from 'node:path';
import { buildElysiaHello, buildHello } from '../lib/baselines.ts';
import { judge, type Scenario } from '../lib/context.ts';
import { HIDE_BIN, setupHide, startHide } from '../lib/hide.ts';
import { freePort, run, spawnLogged, waitFor200 } from '../lib/proc.ts';
import { fmt, median } from '../lib/stats.ts';

async function helloStart(bin: string, work: string, path = '/'): Promise<number> {
  const port = freePort();
  const t0 = performance.now();
  const s = spawnLogged([bin, '--port', String(port)], { logBase: join(work, 'hello'), cwd: work });
  try {
    return (await waitFor200(`http://127.0.0.1:${port}${path}`, s.proc, 10_000)) - t0;
  } finally {
    await s.stop();
  }
}

export const startup: Scenario = {
  name: 'startup',
  title: 'serve: start to first /health 200 vs bare compiled server',
  target: '≤ 2×',
  async run(ctx, row) {
    const hello = await ctx.once('hello', () => buildHello(ctx.work));
    const n = ctx.count(15, 3);
    const base: number[] = [];
    const ours: number[] = [];
    await helloStart(hello, ctx.work); // first start warms the page cache
    const helloDeadline = performance.now() + 60_000;
    for (let i = 0; i < n && performance.now() < helloDeadline; i++) base.push(await helloStart(hello, ctx.work));
    row.baseline = `${fmt(median(base), 'ms')}`;
    const setup = setupHide({ name: 'startup' });
    await startHide(setup).then((h) => h.stop());
    const deadline = performance.now() + 60_000;
    for (let i = 0; i < n && performance.now() < deadline; i++) {
      const h = await startHide(setup);
      ours.push(h.readyAt - h.spawnedAt);
      await h.stop();
    }
    const ratio = median(ours) / median(base);
    Object.assign(row, { ours: fmt(median(ours), 'ms'), ratio: `${fmt(ratio)}×`, status: judge(ratio <= 2) });
    // How much of it is loading the binary at all, before any serving code runs.
    const version: number[] = [];
    for (let i = 0; i < Math.min(n, 5); i++) {
      const t0 = performance.now();
      await run([HIDE_BIN, '--version'], { timeoutMs: 10_000 });
      version.push(performance.now() - t0);
    }
    row.notes.push(`\`hide --version\` alone takes ${fmt(median(version), 'ms')} (median of ${version.length})`);
    // The stack's own floor: the smallest Elysia server, built like hide.
    const elysia = await ctx.once('elysia-hello', () => buildElysiaHello(ctx.work));
    await helloStart(elysia, ctx.work, '/health');
    const floor: number[] = [];
    for (let i = 0; i < n; i++) floor.push(await helloStart(elysia, ctx.work, '/health'));
    row.notes.push(
      `a one-route Elysia server built with hide's flags starts in ${fmt(median(floor), 'ms')} (${fmt(median(floor) / median(base))}× the hello server, median of ${floor.length}): the floor of the fixed stack`,
    );
    row.notes.push(`median of ${base.length} / ${ours.length} starts, /health polled every 2 ms`);
  },
};
