/**
 * Where the 2026-07-28 tools/list request's extra server CPU goes: four
 * requests on one `dist/hide serve`, each a step from the 2025-style request
 * towards the 2026-07-28 one, measured in alternating wrk runs (c=32) and
 * compared by median server CPU per request with the plain 2025-style one.
 *
 *   plain     2025-style: no headers of MCP's, no `_meta`
 *   +headers  the same with MCP-Protocol-Version 2025-11-25 and Mcp-Method
 *   +meta     the same with the 2026-07-28 `_meta` fields, naming 2025-11-25
 *             (a larger request, answered in the handshake era)
 *   2026-07-28 the 2026-07-28 request: the answer gains `resultType`, the
 *             server info and the cache hints
 *
 * Not part of `bun run bench`.
 * Usage: bun bench/experiments/era-cost-parts.ts [REPEATS] [ROUNDS] [SECONDS]
 */
import { framed, MCP_HEADERS, MODERN_META, removeSetups, rpcBody, setupHide, startHide } from '../lib/hide.ts';
import { cpuSeconds } from '../lib/proc.ts';
import { median } from '../lib/stats.ts';
import { wrk, writePostScript } from '../lib/wrk.ts';

const repeats = Number(process.argv[2] ?? 3);
const rounds = Number(process.argv[3] ?? 6);
const seconds = Number(process.argv[4] ?? 1);
const setup = setupHide({ name: 'era-cost-parts' });
process.on('exit', removeSetups);

const OLD = '2025-11-25';
const oldHeaders = { 'MCP-Protocol-Version': OLD, 'Mcp-Method': 'tools/list' };
const oldMeta = { ...MODERN_META, 'io.modelcontextprotocol/protocolVersion': OLD };
const requests: Record<string, { body: string; headers: Record<string, string> }> = {
  plain: framed('legacy', 'tools/list', undefined, 1),
  '+headers': { body: rpcBody('tools/list', undefined, 1), headers: oldHeaders },
  '+meta': { body: rpcBody('tools/list', { _meta: oldMeta }, 1), headers: oldHeaders },
  '2026-07-28': framed('modern', 'tools/list', undefined, 1),
};

const server = await startHide(setup);
const url = server.mcpUrl;

const scripts: Record<string, string> = {};
for (const [name, { body, headers }] of Object.entries(requests)) {
  const answer = await fetch(url, { method: 'POST', body, headers: { ...MCP_HEADERS, ...headers, 'X-API-Key': setup.apiKey } });
  const text = await answer.text();
  if (answer.status !== 200 || !text.includes('"tools"')) throw new Error(`${name}: ${answer.status} ${text.slice(0, 200)}`);
  if (text.includes('"resultType"') !== (name === '2026-07-28')) throw new Error(`${name}: answered in the wrong era`);
  scripts[name] = writePostScript(setup.dir, `parts-${name.replace('+', '')}`, body, { ...MCP_HEADERS, ...headers, 'X-API-Key': setup.apiKey });
  await wrk({ url, script: scripts[name]!, connections: 32, seconds: 2 });
}

async function cpuPerRequest(script: string): Promise<number> {
  const c0 = cpuSeconds(server.pid);
  const w = await wrk({ url, script, connections: 32, seconds });
  return ((cpuSeconds(server.pid) - c0) * 1e6) / w.requests;
}

const names = Object.keys(scripts);
const perRepeat: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
for (let r = 0; r < repeats; r++) {
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < rounds; i++) {
    // Each round in a rotated order, so no request always follows the same one.
    const order = names.map((_, k) => names[(k + i) % names.length]!);
    for (const n of order) samples[n]!.push(await cpuPerRequest(scripts[n]!));
  }
  const base = median(samples.plain!);
  const line = names.map((n) => `${n} ${median(samples[n]!).toFixed(1)} µs (${(median(samples[n]!) / base).toFixed(3)})`);
  console.log(`repeat ${r + 1}: ${line.join('  ')}`);
  for (const n of names) perRepeat[n]!.push(median(samples[n]!) / base);
}
console.log(`median over repeats, relative to plain: ${names.map((n) => `${n} ${median(perRepeat[n]!).toFixed(3)}`).join('  ')}`);
server.proc.kill();
process.exit(0);
