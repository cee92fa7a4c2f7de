/**
 * What the Landlock sandbox costs (issue 8): the same `tools/call true`
 * against two hide instances, one with HIDE_SANDBOX=required and one with it
 * off — p50 at one client and calls/s at 16, alternating runs.
 */
import { judge, type Scenario } from '../lib/context.ts';
import { assertOkCall, post, setupHide, startHide } from '../lib/hide.ts';
import { fmt, signed } from '../lib/stats.ts';
import { wrk } from '../lib/wrk.ts';
import { alternate, callScript, TRUE_CALL } from './http.ts';

async function pair(ctx: Parameters<Scenario['run']>[0]) {
  const offSetup = setupHide({ name: 'sandbox-off' });
  const onSetup = setupHide({ name: 'sandbox-on', sandbox: 'required' });
  const off = await startHide(offSetup);
  ctx.defer(() => off.stop());
  const on = await startHide(onSetup);
  ctx.defer(() => on.stop());
  assertOkCall((await post(on.mcpUrl, onSetup.apiKey, TRUE_CALL)).result, 'sandboxed shell_execute true');
  const offScript = await callScript(ctx, 'sandbox-off-true', offSetup.apiKey);
  const onScript = await callScript(ctx, 'sandbox-on-true', onSetup.apiKey);
  return { off, on, offScript, onScript };
}

export const sandboxC1: Scenario = {
  name: 'sandbox-c1',
  title: 'sandboxed tools/call true, one client: p50 minus unsandboxed p50',
  target: '≤ +1 ms',
  async run(ctx, row) {
    const { off, on, offScript, onScript } = await pair(ctx);
    const shoot = (url: string, script: string) => () => wrk({ url, script, connections: 1, threads: 1, seconds: ctx.secs(3) });
    await shoot(on.mcpUrl, onScript)();
    const [offs, ons] = await alternate(ctx.smoke ? 1 : 2, shoot(off.mcpUrl, offScript), shoot(on.mcpUrl, onScript));
    const base = Math.min(...offs.map((r) => r.p50Ms));
    const ours = Math.min(...ons.map((r) => r.p50Ms));
    const delta = ours - base;
    Object.assign(row, {
      baseline: `${fmt(base, 'ms')} p50 (off)`,
      ours: `${fmt(ours, 'ms')} p50 (on)`,
      ratio: signed(delta, 'ms'),
      status: judge(delta <= 1),
    });
  },
};

export const sandboxC16: Scenario = {
  name: 'sandbox-c16',
  title: 'sandboxed tools/call true, c=16, calls/s vs unsandboxed',
  target: '≥ 0.80',
  async run(ctx, row) {
    const { off, on, offScript, onScript } = await pair(ctx);
    const shoot = (url: string, script: string) => () => wrk({ url, script, connections: 16, seconds: ctx.secs(3) });
    await shoot(on.mcpUrl, onScript)();
    const [offs, ons] = await alternate(ctx.smoke ? 1 : 2, shoot(off.mcpUrl, offScript), shoot(on.mcpUrl, onScript));
    const base = Math.max(...offs.map((r) => r.requestsPerSec));
    const ours = Math.max(...ons.map((r) => r.requestsPerSec));
    const ratio = ours / base;
    Object.assign(row, { baseline: `${fmt(base, 'calls/s')} (off)`, ours: `${fmt(ours, 'calls/s')} (on)`, ratio: fmt(ratio), status: judge(ratio >= 0.8) });
    row.notes.push('each client\'s commands run through its own long-lived launcher process, confined once (Landlock, seccomp); as root each command is the init of its own PID namespace');
  },
};
