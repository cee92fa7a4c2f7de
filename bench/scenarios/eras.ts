/**
 * 2026-07-28 against the handshake era: the same measurement as the
 * tools-list, call-c1 and stdio-call rows, with 2026-style requests (`_meta`
 * in the body, MCP-Protocol-Version / Mcp-Method / Mcp-Name headers) against
 * 2025-style ones, on the same server in the same run, alternating A B B A.
 * Each side's first answer is checked for its era (`resultType` present or
 * absent) before anything is measured.
 */
import { judge, type Ctx, type Scenario } from '../lib/context.ts';
import { assertEra, assertOkCall, type Era, framed, HIDE_BIN, MCP_HEADERS, post, setupHide } from '../lib/hide.ts';
import { cpuSeconds } from '../lib/proc.ts';
import { fmt, median } from '../lib/stats.ts';
import { LineClient } from '../lib/stdio-lines.ts';
import { wrk, writePostScript, type WrkResult } from '../lib/wrk.ts';
import { alternate } from './http.ts';

const ERAS: readonly Era[] = ['legacy', 'modern'];
const TRUE_ARGS = { name: 'shell_execute', arguments: { command: 'true' } };

/** One wrk script per era for the same request, legacy first. */
async function eraScripts(ctx: Ctx, method: string, params: Record<string, unknown> | undefined) {
  return { legacy: await eraScript(ctx, 'legacy', method, params), modern: await eraScript(ctx, 'modern', method, params) };
}

/** A wrk script for one era's request, after checking one answer to it is of that era. */
async function eraScript(ctx: Ctx, era: Era, method: string, params: Record<string, unknown> | undefined): Promise<{ script: string; bytes: number }> {
  const { setup, server } = await ctx.hide();
  const { body, headers } = framed(era, method, params, 1);
  const first = await post(server.mcpUrl, setup.apiKey, body, 30_000, headers);
  assertEra(first.result, era, `${method} (${era})`);
  if (method === 'tools/call') assertOkCall(first.result, `${method} (${era})`);
  const script = writePostScript(ctx.work, `${method.replace('/', '-')}-${era}`, body, { ...MCP_HEADERS, ...headers, 'X-API-Key': setup.apiKey });
  return { script, bytes: first.raw.length };
}

const best = (rs: WrkResult[], key: 'requestsPerSec' | 'p50Ms') =>
  key === 'requestsPerSec' ? Math.max(...rs.map((r) => r.requestsPerSec)) : Math.min(...rs.map((r) => r.p50Ms));

export const toolsList2026: Scenario = {
  name: 'tools-list-2026',
  title: 'tools/list req/s (wrk c=32), 2026-07-28 vs 2025-style, same server',
  target: '≥ 0.95',
  async run(ctx, row) {
    const { server } = await ctx.hide();
    const { legacy, modern } = await eraScripts(ctx, 'tools/list', undefined);
    const cpu = { legacy: 0, modern: 0 };
    const shoot = (era: Era, script: string) => async () => {
      const c0 = cpuSeconds(server.pid);
      const r = await wrk({ url: server.mcpUrl, script, connections: 32, seconds: ctx.secs(2) });
      cpu[era] += (cpuSeconds(server.pid) - c0) / r.requests;
      return r;
    };
    for (const s of [legacy, modern]) await wrk({ url: server.mcpUrl, script: s.script, connections: 32, seconds: 1 });
    const rounds = ctx.smoke ? 1 : 4;
    const [l, m] = await alternate(rounds, shoot('legacy', legacy.script), shoot('modern', modern.script));
    const [lr, mr] = [best(l, 'requestsPerSec'), best(m, 'requestsPerSec')];
    const ratio = mr / lr;
    Object.assign(row, { baseline: `${fmt(lr, 'req/s')} (2025)`, ours: `${fmt(mr, 'req/s')} (2026)`, ratio: fmt(ratio), status: judge(ratio >= 0.95) });
    row.notes.push(
      `best of ${l.length} alternating wrk runs each; answers ${legacy.bytes} B (2025) and ${modern.bytes} B (2026, resultType checked); ` +
        `server CPU per request ${fmt((cpu.legacy * 1e6) / l.length, 'µs')} (2025), ${fmt((cpu.modern * 1e6) / m.length, 'µs')} (2026)`,
    );
  },
};

export const callC12026: Scenario = {
  name: 'call-c1-2026',
  title: 'tools/call shell_execute true, one client, p50: 2026-07-28 vs 2025-style',
  target: '≤ 1.05',
  async run(ctx, row) {
    const { server } = await ctx.hide();
    const { legacy, modern } = await eraScripts(ctx, 'tools/call', TRUE_ARGS);
    const shoot = (script: string) => () => wrk({ url: server.mcpUrl, script, connections: 1, threads: 1, seconds: ctx.secs(2) });
    for (const s of [legacy, modern]) await shoot(s.script)();
    const [l, m] = await alternate(ctx.smoke ? 1 : 4, shoot(legacy.script), shoot(modern.script));
    const [lp, mp] = [best(l, 'p50Ms'), best(m, 'p50Ms')];
    const ratio = mp / lp;
    Object.assign(row, { baseline: `${fmt(lp, 'ms')} p50 (2025)`, ours: `${fmt(mp, 'ms')} p50 (2026)`, ratio: fmt(ratio), status: judge(ratio <= 1.05) });
    row.notes.push(
      `lowest p50 of ${l.length} alternating wrk -c1 runs each (resultType checked); ` +
        `calls/s ${fmt(best(l, 'requestsPerSec'), '')} (2025), ${fmt(best(m, 'requestsPerSec'), '')} (2026)`,
    );
  },
};

export const stdioCall2026: Scenario = {
  name: 'stdio-call-2026',
  title: 'stdio tools/call true p50: 2026-07-28 vs 2025-style, same process',
  target: '≤ 1.05',
  async run(ctx, row) {
    const setup = setupHide({ name: 'stdio-eras' });
    const client = LineClient.start([HIDE_BIN, 'stdio', '--config', setup.configFile], { env: setup.env, cwd: setup.dir });
    ctx.defer(() => client.close());
    let id = 0;
    const call = async (era: Era): Promise<number> => {
      const { body } = framed(era, 'tools/call', TRUE_ARGS, ++id);
      const t0 = performance.now();
      const answer = await client.request(id, body);
      const ms = performance.now() - t0;
      if (!answer.result) throw new Error(`tools/call (${era}) failed: ${JSON.stringify(answer).slice(0, 300)}`);
      assertOkCall(answer.result, `tools/call (${era})`);
      return ms;
    };
    for (const era of ERAS) {
      // Warm-up, and the era check on what comes back.
      const { body } = framed(era, 'tools/call', TRUE_ARGS, ++id);
      assertEra((await client.request(id, body)).result, era, `stdio tools/call (${era})`);
      for (let i = 0; i < 5; i++) await call(era);
    }
    const perRound = ctx.count(75, 10);
    const batch = (era: Era) => async () => {
      const samples: number[] = [];
      for (let i = 0; i < perRound; i++) samples.push(await call(era));
      return samples;
    };
    const [l, m] = await alternate(ctx.smoke ? 1 : 4, batch('legacy'), batch('modern'));
    const [lp, mp] = [median(l.flat()), median(m.flat())];
    const ratio = mp / lp;
    Object.assign(row, { baseline: `${fmt(lp, 'ms')} p50 (2025)`, ours: `${fmt(mp, 'ms')} p50 (2026)`, ratio: fmt(ratio), status: judge(ratio <= 1.05) });
    row.notes.push(
      `one \`dist/hide stdio\`, ${l.flat().length} sequential calls per era in ${l.length} alternating rounds, ` +
        `newline-delimited JSON written directly (the SDK client speaks the handshake era only); resultType checked`,
    );
    await client.close();
  },
};
