/**
 * stdio: `dist/hide stdio` against the npm peers mcp-server-commands and
 * desktop-commander, all driven by the SDK's Client over stdio doing `true`.
 * A peer that cannot be installed or run is reported, not fatal.
 */
import { judge, type Ctx, type Row, type Scenario } from '../lib/context.ts';
import { HIDE_BIN, setupHide } from '../lib/hide.ts';
import { peerTarget, PEERS, stdioCalls, stdioStartup, type StdioTarget } from '../lib/stdio.ts';
import { fmt } from '../lib/stats.ts';

function hideTarget(): StdioTarget {
  const setup = setupHide({ name: 'stdio' });
  return {
    name: 'hide',
    command: HIDE_BIN,
    args: ['stdio', '--config', setup.configFile],
    env: setup.env,
    cwd: setup.dir,
    pickCall: () => ({ name: 'shell_execute', arguments: { command: 'true' } }),
  };
}

type Measure = (t: StdioTarget) => Promise<{ ms: number; detail: string }>;

/** Measures each available peer; returns the fastest, noting the others and failures. */
async function fastestPeer(ctx: Ctx, row: Row, measure: Measure): Promise<{ name: string; ms: number } | undefined> {
  let best: { name: string; ms: number } | undefined;
  for (const name of Object.keys(PEERS)) {
    try {
      const target = await ctx.once(`peer:${name}`, () => peerTarget(ctx.work, name));
      const { ms, detail } = await measure(target);
      row.notes.push(`${name}: ${fmt(ms, 'ms')} (${detail})`);
      if (!best || ms < best.ms) best = { name, ms };
    } catch (e) {
      row.notes.push(`${name}: n/a (${(e as Error).message.split('\n')[0]})`);
    }
  }
  return best;
}

async function compare(ctx: Ctx, row: Row, measure: Measure): Promise<void> {
  const best = await fastestPeer(ctx, row, measure);
  if (best) row.baseline = `${fmt(best.ms, 'ms')} (${best.name})`;
  const { ms: ours, detail } = await measure(hideTarget());
  row.ours = fmt(ours, 'ms');
  row.notes.push(`hide: ${fmt(ours, 'ms')} (${detail})`);
  if (!best) {
    Object.assign(row, { status: 'n/a', ratio: 'n/a' });
    return;
  }
  const ratio = ours / best.ms;
  Object.assign(row, { ratio: `${fmt(ratio)}×`, status: judge(ratio <= 0.5) });
}

export const stdioCall: Scenario = {
  name: 'stdio-call',
  title: 'stdio tools/call true p50 vs faster peer',
  target: '≤ 0.5×',
  async run(ctx, row) {
    await compare(ctx, row, async (t) => {
      const r = await stdioCalls(t, ctx.count(300, 20), ctx.secs(6) * 1000);
      return { ms: r.p50Ms, detail: `${r.tool}, ${r.n} calls` };
    });
  },
};

export const stdioStart: Scenario = {
  name: 'stdio-start',
  title: 'stdio start to first tools/list vs faster peer',
  target: '≤ 0.5×',
  async run(ctx, row) {
    await compare(ctx, row, async (t) => {
      const r = await stdioStartup(t, ctx.count(9, 2), ctx.secs(12) * 1000);
      return { ms: r.medianMs, detail: `median of ${r.n} starts` };
    });
  },
};
