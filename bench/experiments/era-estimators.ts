/**
 * How precise the tools-list-2026 row can be: repeats the row's own
 * measurement (A B B A alternating wrk runs at c=32 on one server) for an A/A
 * pair (2025-style against itself) and for the real A/B pair (2025 against
 * 2026-07-28), and reports three estimators per repetition: the row's ratio
 * of each side's best req/s, the median of the per-round req/s ratios, and
 * the ratio of median server CPU per request. An estimator whose A/A spread
 * is wider than the row's 5 % tolerance cannot judge the row.
 * Not part of `bun run bench`.
 *
 * Usage: bun bench/experiments/era-estimators.ts [REPEATS] [ROUNDS] [SECONDS]
 */
import { framed, MCP_HEADERS, removeSetups, setupHide, startHide } from '../lib/hide.ts';
import { cpuSeconds } from '../lib/proc.ts';
import { median } from '../lib/stats.ts';
import { wrk, writePostScript } from '../lib/wrk.ts';
import { alternate } from '../scenarios/http.ts';

const repeats = Number(process.argv[2] ?? 5);
const rounds = Number(process.argv[3] ?? 4);
const seconds = Number(process.argv[4] ?? 2);
const setup = setupHide({ name: 'era-estimators' });
process.on('exit', removeSetups);

const script = (era: 'legacy' | 'modern', tag: string) => {
  const { body, headers } = framed(era, 'tools/list', undefined, 1);
  return writePostScript(setup.dir, `tools-list-${tag}`, body, { ...MCP_HEADERS, ...headers, 'X-API-Key': setup.apiKey });
};
const server = await startHide(setup);
const url = server.mcpUrl;
const scripts = { a: script('legacy', 'a'), a2: script('legacy', 'a2'), m: script('modern', 'm') };
for (const s of Object.values(scripts)) await wrk({ url, script: s, connections: 32, seconds: 1 });

async function shot(s: string) {
  const c0 = cpuSeconds(server.pid);
  const w = await wrk({ url, script: s, connections: 32, seconds });
  return { rps: w.requestsPerSec, us: ((cpuSeconds(server.pid) - c0) * 1e6) / w.requests };
}

async function pair(a: string, b: string) {
  const [as, bs] = await alternate(rounds, () => shot(a), () => shot(b));
  const best = Math.max(...bs.map((x) => x.rps)) / Math.max(...as.map((x) => x.rps));
  const paired = median(as.map((x, i) => bs[i]!.rps / x.rps));
  const cpu = median(as.map((x) => x.us)) / median(bs.map((x) => x.us));
  return { best, paired, cpu };
}

const out: Record<string, { best: number; paired: number; cpu: number }[]> = { 'A/A': [], 'A/B': [] };
for (let r = 0; r < repeats; r++) {
  out['A/A']!.push(await pair(scripts.a, scripts.a2));
  out['A/B']!.push(await pair(scripts.a, scripts.m));
}
const f = (x: number) => x.toFixed(3);
for (const [k, v] of Object.entries(out)) {
  for (const est of ['best', 'paired', 'cpu'] as const) {
    const xs = v.map((x) => x[est]).sort((p, q) => p - q);
    console.log(`${k} ${est.padEnd(6)} min ${f(xs[0]!)} median ${f(median(xs))} max ${f(xs.at(-1)!)}  [${xs.map(f).join(' ')}]`);
  }
}
server.proc.kill();
process.exit(0);
