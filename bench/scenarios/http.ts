/**
 * HTTP throughput and latency through the whole pipeline, against the bare
 * Elysia route and the raw spawn loop: tools/list, tools/call at 16 and at 1,
 * and audit on versus off.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnLoop, startElysia } from '../lib/baselines.ts';
import { judge, type Ctx, type Scenario } from '../lib/context.ts';
import { assertOkCall, callBody, MCP_HEADERS, post, rpcBody, setupHide, startHide } from '../lib/hide.ts';
import { childCpuSeconds, cpuSeconds } from '../lib/proc.ts';
import { fmt, signed } from '../lib/stats.ts';
import { wrk, writePostScript, type WrkResult } from '../lib/wrk.ts';

export const TRUE_CALL = callBody('shell_execute', { command: 'true' }, 1);
const TOOLS_LIST = rpcBody('tools/list', undefined, 1);

/**
 * Runs of each measurement, alternating so drift hits both sides, in A B B A
 * order so neither side always runs second (an A/A check of the audit row
 * with a fixed order showed the second side ~5% slower).
 */
export async function alternate<A, B>(rounds: number, a: () => Promise<A>, b: () => Promise<B>): Promise<[A[], B[]]> {
  const as: A[] = [];
  const bs: B[] = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      as.push(await a());
      bs.push(await b());
    } else {
      bs.push(await b());
      as.push(await a());
    }
  }
  return [as, bs];
}

/**
 * A wrk run against one server that also adds up CPU time while it ran, for
 * "CPU per request" notes beside the rate: the server's own (children
 * excluded), the commands it ran and reaped, and wrk's (a child of the bench).
 */
export function metered(pid: number, shoot: () => Promise<WrkResult>) {
  let serverSecs = 0;
  let commandSecs = 0;
  let wrkSecs = 0;
  let requests = 0;
  const per = (secs: number) => (secs * 1e6) / Math.max(1, requests);
  return {
    run: async () => {
      const [s0, c0, w0] = [cpuSeconds(pid), childCpuSeconds(pid), childCpuSeconds(process.pid)];
      const r = await shoot();
      serverSecs += cpuSeconds(pid) - s0;
      commandSecs += childCpuSeconds(pid) - c0;
      wrkSecs += childCpuSeconds(process.pid) - w0;
      requests += r.requests;
      return r;
    },
    usPerRequest: () => per(serverSecs),
    commandUsPerRequest: () => per(commandSecs),
    wrkUsPerRequest: () => per(wrkSecs),
  };
}

export const maxRps = (rs: WrkResult[]) => Math.max(...rs.map((r) => r.requestsPerSec));

export async function callScript(ctx: Ctx, name: string, key: string, body = TRUE_CALL): Promise<string> {
  return writePostScript(ctx.work, name, body, { ...MCP_HEADERS, 'X-API-Key': key });
}

export const toolsList: Scenario = {
  name: 'tools-list',
  title: 'tools/list req/s (wrk c=32) vs bare Elysia',
  target: '≥ 0.50',
  async run(ctx, row) {
    // The baseline answers with hide's exact bytes, so hide must answer first.
    const { setup, server } = await ctx.hide();
    const first = await post(server.mcpUrl, setup.apiKey, TOOLS_LIST);
    const again = await post(server.mcpUrl, setup.apiKey, TOOLS_LIST);
    if (Buffer.compare(first.raw, again.raw) !== 0) row.notes.push('tools/list bytes differ between two calls; the baseline serves the first');
    const bodyFile = join(ctx.work, 'tools-list.json');
    writeFileSync(bodyFile, first.raw);
    const elysia = await startElysia(ctx.work, bodyFile, first.contentType);
    ctx.defer(() => elysia.stop());
    const script = await callScript(ctx, 'tools-list', setup.apiKey, TOOLS_LIST);
    const shoot = (url: string) => () => wrk({ url, script, connections: 32, seconds: ctx.secs(3) });
    const base = `http://127.0.0.1:${elysia.port}/mcp`;
    await wrk({ url: base, script, connections: 32, seconds: 1 });
    await wrk({ url: server.mcpUrl, script, connections: 32, seconds: 1 });
    const ours = metered(server.pid, shoot(server.mcpUrl));
    const [b, o] = await alternate(ctx.smoke ? 1 : 2, shoot(base), ours.run);
    const cpuUs = ours.usPerRequest();
    const [br, or] = [maxRps(b), maxRps(o)];
    Object.assign(row, { baseline: fmt(br, 'req/s'), ours: fmt(or, 'req/s'), ratio: fmt(or / br), status: judge(or / br >= 0.5) });
    row.notes.push(`response ${first.raw.length} bytes, ${first.contentType}; hide used ${fmt(cpuUs, 'µs')} CPU per request; best of ${o.length} alternating wrk runs each`);
    // Reference: the same bytes behind hide's hook shape with no policy in it.
    const shaped = await startElysia(ctx.work, bodyFile, first.contentType, 'hooks');
    ctx.defer(() => shaped.stop());
    const shapedUrl = `http://127.0.0.1:${shaped.port}/mcp`;
    await wrk({ url: shapedUrl, script, connections: 32, seconds: 1 });
    const bareCpu = metered(elysia.proc.pid, shoot(base));
    const shapedCpu = metered(shaped.proc.pid, shoot(shapedUrl));
    const [b2, s2] = await alternate(ctx.smoke ? 1 : 2, bareCpu.run, shapedCpu.run);
    row.notes.push(
      `reference: the same bytes behind hide's hook shape with no checks in it (five onRequest hooks, @elysiajs/bearer, resolve, a beforeHandle reading and parsing the body, ` +
        `afterHandle, error mapping) reached ${fmt(maxRps(s2) / maxRps(b2))} of the bare route (${fmt(shapedCpu.usPerRequest(), 'µs')} CPU per request against ${fmt(bareCpu.usPerRequest(), 'µs')})`,
    );
    await shaped.stop();
    await elysia.stop();
  },
};

export const callC16: Scenario = {
  name: 'call-c16',
  title: 'tools/call shell_execute true, c=16, calls/s vs raw Bun.spawn',
  target: '≥ 0.85',
  async run(ctx, row) {
    const { setup, server } = await ctx.hide();
    assertOkCall((await post(server.mcpUrl, setup.apiKey, TRUE_CALL)).result, 'shell_execute true');
    const script = await callScript(ctx, 'call-true', setup.apiKey);
    await wrk({ url: server.mcpUrl, script, connections: 16, seconds: 1 });
    const hide = metered(server.pid, () => wrk({ url: server.mcpUrl, script, connections: 16, seconds: ctx.secs(3) }));
    const [bases, ours] = await alternate(ctx.smoke ? 1 : 2, () => spawnLoop(16, ctx.secs(3)), hide.run);
    const base = bases.reduce((a, b) => (b.callsPerSec > a.callsPerSec ? b : a));
    const best = ours.reduce((a, b) => (b.requestsPerSec > a.requestsPerSec ? b : a));
    const cpuMsPerCall = hide.usPerRequest() / 1000;
    const ratio = best.requestsPerSec / base.callsPerSec;
    Object.assign(row, { baseline: fmt(base.callsPerSec, 'calls/s'), ours: fmt(best.requestsPerSec, 'calls/s'), ratio: fmt(ratio), status: judge(ratio >= 0.85) });
    row.notes.push(
      `best of ${ours.length} alternating runs each; p50 at c=16: raw ${fmt(base.p50Ms, 'ms')}, ours ${fmt(best.p50Ms, 'ms')}; ` +
        `CPU per call in the spawning process (children excluded): raw ${fmt(base.cpuMsPerCall, 'ms')}, hide ${fmt(cpuMsPerCall, 'ms')}; ` +
        `wrk shares the ${navigator.hardwareConcurrency} cores with the server, the raw loop has no client`,
    );
    // Both sides keep every core busy, so calls/s follows the CPU each call
    // costs in all processes together; this budget says where that CPU goes.
    const [cmd, wrkMs] = [hide.commandUsPerRequest() / 1000, hide.wrkUsPerRequest() / 1000];
    const rawTotal = base.cpuMsPerCall + base.childCpuMsPerCall;
    const hideTotal = cpuMsPerCall + cmd + wrkMs;
    row.notes.push(
      `CPU budget per call: raw = loop ${fmt(base.cpuMsPerCall, 'ms')} + \`true\` ${fmt(base.childCpuMsPerCall, 'ms')} = ${fmt(rawTotal, 'ms')}; ` +
        `hide = server ${fmt(cpuMsPerCall, 'ms')} + \`true\` ${fmt(cmd, 'ms')} + wrk ${fmt(wrkMs, 'ms')} = ${fmt(hideTotal, 'ms')}; ` +
        `CPU-bound prediction raw/hide ${fmt(rawTotal / hideTotal)} (measured ${fmt(ratio)})`,
    );
  },
};

export const callC1: Scenario = {
  name: 'call-c1',
  title: 'tools/call shell_execute true, one client: p50 minus raw spawn p50',
  target: '≤ +0.5 ms',
  async run(ctx, row) {
    const { setup, server } = await ctx.hide();
    const script = await callScript(ctx, 'call-true', setup.apiKey);
    await wrk({ url: server.mcpUrl, script, connections: 1, threads: 1, seconds: 1 });
    const [bases, ours] = await alternate(
      ctx.smoke ? 1 : 2,
      () => spawnLoop(1, ctx.secs(3)),
      () => wrk({ url: server.mcpUrl, script, connections: 1, threads: 1, seconds: ctx.secs(3) }),
    );
    const base = bases.reduce((a, b) => (b.p50Ms < a.p50Ms ? b : a));
    const best = ours.reduce((a, b) => (b.p50Ms < a.p50Ms ? b : a));
    const delta = best.p50Ms - base.p50Ms;
    Object.assign(row, {
      baseline: `${fmt(base.p50Ms, 'ms')} p50`,
      ours: `${fmt(best.p50Ms, 'ms')} p50`,
      ratio: signed(delta, 'ms'),
      status: judge(delta <= 0.5),
    });
    row.notes.push(`lowest p50 of ${ours.length} alternating runs each (wrk -c1 for ours); one client: raw ${fmt(base.callsPerSec, 'calls/s')}, ours ${fmt(best.requestsPerSec, 'calls/s')}`);
  },
};

export const audit: Scenario = {
  name: 'audit',
  title: 'tools/call c=16 calls/s, audit on vs audit off',
  target: '≥ 0.95',
  async run(ctx, row) {
    const { setup, server: on } = await ctx.hide();
    const offSetup = setupHide({ audit: false, name: 'audit-off' });
    const off = await startHide(offSetup);
    ctx.defer(() => off.stop());
    const onScript = await callScript(ctx, 'call-true', setup.apiKey);
    const offScript = await callScript(ctx, 'call-true-audit-off', offSetup.apiKey);
    assertOkCall((await post(off.mcpUrl, offSetup.apiKey, TRUE_CALL)).result, 'shell_execute true (audit off)');
    const auditBefore = await Bun.file(setup.auditFile).size;
    // Both servers warmed alike: the same 1 s of load each.
    await wrk({ url: off.mcpUrl, script: offScript, connections: 16, seconds: 1 });
    await wrk({ url: on.mcpUrl, script: onScript, connections: 16, seconds: 1 });
    // Server CPU per call beside the throughput: steadier than calls/s on a
    // shared machine, and it shows what the audit line itself costs.
    const shoot = (server: typeof on, script: string) => metered(server.pid, () => wrk({ url: server.mcpUrl, script, connections: 16, seconds: ctx.secs(2) }));
    const [offShots, onShots] = [shoot(off, offScript), shoot(on, onScript)];
    const [offRuns, onRuns] = await alternate(ctx.smoke ? 1 : 6, offShots.run, onShots.run);
    const [offR, onR] = [maxRps(offRuns), maxRps(onRuns)];
    const ratio = onR / offR;
    Object.assign(row, { baseline: `${fmt(offR, 'calls/s')} (off)`, ours: `${fmt(onR, 'calls/s')} (on)`, ratio: fmt(ratio), status: judge(ratio >= 0.95) });
    const grew = (await Bun.file(setup.auditFile).size) - auditBefore;
    const calls = onRuns.reduce((a, r) => a + r.requests, 0);
    row.notes.push(`audit file grew ${fmt(grew / 1e6, 'MB')} over ${calls} audited calls (${fmt(grew / Math.max(1, calls), 'B')}/call); best of ${onRuns.length} alternating runs each`);
    row.notes.push(`server CPU per call (children excluded): audit off ${fmt(offShots.usPerRequest(), 'µs')}, on ${fmt(onShots.usPerRequest(), 'µs')}`);
    if (grew <= 0) row.notes.push('audit file did not grow: audit may not be on');
    await off.stop();
  },
};
