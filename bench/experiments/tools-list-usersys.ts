/**
 * Experiment: user and system CPU per tools/list request, split, for dist/hide
 * (or BIN) and the bench's bare Elysia baseline serving hide's bytes, after a
 * long warm-up. Callgrind sees only user-space instructions; this says how
 * much of the gap is the kernel's.
 *
 * Usage: bun bench/experiments/tools-list-usersys.ts [BIN] [ROUNDS] [WARM_S]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startElysia } from '../lib/baselines.ts';
import { framed, MCP_HEADERS, removeSetups, setupHide } from '../lib/hide.ts';
import { freePort, spawnLogged, waitFor200 } from '../lib/proc.ts';
import { wrk, writePostScript } from '../lib/wrk.ts';

const [bin = 'dist/hide', roundsArg = '4', warmArg = '8'] = process.argv.slice(2);
const setup = setupHide({ name: 'usersys' });
process.on('exit', removeSetups);
const { body, headers } = framed('legacy', 'tools/list', undefined, 1);
const allHeaders = { ...MCP_HEADERS, ...headers, 'X-API-Key': setup.apiKey };
const script = writePostScript(setup.dir, 'tl', body, allHeaders);
const port = freePort();
const hide = spawnLogged([resolve(bin), 'serve', '--host', '127.0.0.1', '--port', String(port), '--config', setup.configFile], { cwd: setup.dir, env: setup.env, logBase: join(setup.dir, 'serve') });
await waitFor200(`http://127.0.0.1:${port}/health`, hide.proc, 15_000);
const hideUrl = `http://127.0.0.1:${port}/mcp`;
const bytes = new Uint8Array(await (await fetch(hideUrl, { method: 'POST', headers: allHeaders, body })).arrayBuffer());
const bodyFile = join(setup.dir, 'listing.json');
writeFileSync(bodyFile, bytes);
const bare = await startElysia(setup.dir, bodyFile, 'application/json', 'bare');
const ref = await startElysia(setup.dir, bodyFile, 'application/json', 'hooks');
const f = (pid: number) => { const s = readFileSync(`/proc/${pid}/stat`, 'utf8'); const x = s.slice(s.lastIndexOf(')') + 2).split(' '); return [Number(x[11]) / 100, Number(x[12]) / 100, Number(x[7])] as const; };
const sides = [
  { name: 'hide', pid: hide.proc.pid, url: hideUrl, u: [] as number[], s: [] as number[], r: [] as number[], m: [] as number[] },
  { name: 'bare', pid: bare.proc.pid, url: `http://127.0.0.1:${bare.port}/mcp`, u: [] as number[], s: [] as number[], r: [] as number[], m: [] as number[] },
  { name: 'hooks', pid: ref.proc.pid, url: `http://127.0.0.1:${ref.port}/mcp`, u: [] as number[], s: [] as number[], r: [] as number[], m: [] as number[] },
];
for (const side of sides) await wrk({ url: side.url, script, connections: 32, seconds: Number(warmArg) });
for (let round = 0; round < Number(roundsArg); round++) {
  for (const side of round % 2 ? [...sides].reverse() : sides) {
    const [u0, s0, m0] = f(side.pid);
    const w = await wrk({ url: side.url, script, connections: 32, seconds: 3 });
    const [u1, s1, m1] = f(side.pid);
    side.m.push((m1 - m0) / w.requests);
    side.u.push(((u1 - u0) * 1e6) / w.requests);
    side.s.push(((s1 - s0) * 1e6) / w.requests);
    side.r.push(w.requestsPerSec);
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
for (const side of sides) console.log(`${side.name}: user ${med(side.u).toFixed(1)} µs, sys ${med(side.s).toFixed(1)} µs per request, ${med(side.m).toFixed(2)} minor faults; ${med(side.r).toFixed(0)} req/s (best ${Math.max(...side.r).toFixed(0)})`);
await hide.stop();
await bare.stop();
await ref.stop();
