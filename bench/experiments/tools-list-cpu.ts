/**
 * Experiment behind the tools-list analysis in bench/results.md: server CPU
 * per tools/list request (from /proc, children excluded) for one or more
 * `hide serve` binaries and request styles, each on its own server, measured
 * in alternating 2-second wrk runs at c=32. Steadier than req/s on a shared
 * machine, and it compares builds of different commits in one run.
 * Not part of `bun run bench`.
 *
 * Usage: bun bench/experiments/tools-list-cpu.ts BIN[:STYLE],... [ROUNDS]
 *   STYLE: legacy (2025-style as the seeds' curl examples send it, default),
 *   versioned (2025-style with MCP-Protocol-Version: 2025-11-25, as a
 *   2025-11-25 client sends every request after its handshake), modern
 *   (2026-07-28), or headers (versioned plus Mcp-Method)
 */
import { join, resolve } from 'node:path';
import { framed, MCP_HEADERS, removeSetups, setupHide } from '../lib/hide.ts';
import { cpuSeconds, freePort, spawnLogged, waitFor200 } from '../lib/proc.ts';
import { wrk, writePostScript } from '../lib/wrk.ts';

const [list, roundsArg] = process.argv.slice(2);
if (!list) throw new Error('usage: tools-list-cpu.ts BIN[:STYLE],... [ROUNDS]');
const rounds = Number(roundsArg ?? 6);
const setup = setupHide({ name: 'tools-list-cpu' });
process.on('exit', removeSetups);

function script(style: string): string {
  const era = style === 'modern' ? 'modern' : 'legacy';
  const { body, headers } = framed(era, 'tools/list', undefined, 1);
  const extra =
    style === 'headers'
      ? { 'MCP-Protocol-Version': '2025-11-25', 'Mcp-Method': 'tools/list' }
      : style === 'versioned'
        ? { 'MCP-Protocol-Version': '2025-11-25' }
        : headers;
  return writePostScript(setup.dir, `tools-list-${style}`, body, { ...MCP_HEADERS, ...extra, 'X-API-Key': setup.apiKey });
}

const sides = [];
for (const spec of list.split(',')) {
  const [bin = '', style = 'legacy'] = spec.split(':');
  const port = freePort();
  const server = spawnLogged([resolve(bin), 'serve', '--host', '127.0.0.1', '--port', String(port), '--config', setup.configFile], {
    cwd: setup.dir,
    env: setup.env,
    logBase: join(setup.dir, `serve-${port}`),
  });
  await waitFor200(`http://127.0.0.1:${port}/health`, server.proc, 15_000);
  const side = { name: `${bin}:${style}`, server, url: `http://127.0.0.1:${port}/mcp`, script: script(style), us: [] as number[] };
  await wrk({ url: side.url, script: side.script, connections: 32, seconds: 1 });
  sides.push(side);
}
for (let r = 0; r < rounds; r++) {
  for (const side of r % 2 ? [...sides].reverse() : sides) {
    const c0 = cpuSeconds(side.server.proc.pid);
    const w = await wrk({ url: side.url, script: side.script, connections: 32, seconds: 2 });
    side.us.push(((cpuSeconds(side.server.proc.pid) - c0) * 1e6) / w.requests);
  }
}
for (const side of sides) {
  const sorted = [...side.us].sort((a, b) => a - b);
  console.log(`${side.name}: median ${sorted[sorted.length >> 1]!.toFixed(2)} µs CPU per request [${side.us.map((x) => x.toFixed(1)).join(' ')}]`);
  await side.server.stop();
}
