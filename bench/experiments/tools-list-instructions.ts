/**
 * Experiment behind the tools-list analysis in bench/results.md: instructions
 * the server executes per tools/list request, counted by valgrind's callgrind
 * (all threads), which unlike CPU time hardly moves with other load on the
 * machine. The server runs under callgrind, takes 4000 requests to warm up,
 * has its counters zeroed, answers N more (16 at a time, fetch), and dumps.
 * Two runs started side by side agree within ~1%; runs made at different
 * times drift by up to ~5% (collector timing), so compare runs made together.
 * About 4 minutes for N = 8000. Not part of `bun run bench`.
 *
 * Usage: bun bench/experiments/tools-list-instructions.ts BIN [legacy|modern] [N]
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { framed, MCP_HEADERS, removeSetups, setupHide } from '../lib/hide.ts';
import { freePort, run, spawnLogged, waitFor200 } from '../lib/proc.ts';

const [bin, era = 'legacy', count = '8000'] = process.argv.slice(2);
if (!bin || (era !== 'legacy' && era !== 'modern')) throw new Error('usage: tools-list-instructions.ts BIN [legacy|modern] [N]');
const n = Number(count);
const setup = setupHide({ name: 'instructions' });
process.on('exit', removeSetups);
const out = join(setup.dir, 'callgrind');
mkdirSync(out);
const port = freePort();
const server = spawnLogged(
  ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${out}/cg.%p`, resolve(bin), 'serve', '--host', '127.0.0.1', '--port', String(port), '--config', setup.configFile],
  { cwd: setup.dir, env: setup.env, logBase: join(setup.dir, 'serve') },
);
try {
  await waitFor200(`http://127.0.0.1:${port}/health`, server.proc, 120_000);
  const { body, headers } = framed(era, 'tools/list', undefined, 1);
  const init = { method: 'POST', headers: { ...MCP_HEADERS, ...headers, 'X-API-Key': setup.apiKey }, body };
  const shoot = async (requests: number) => {
    let next = 0;
    const client = async () => {
      while (next++ < requests) {
        const res = await fetch(`http://127.0.0.1:${port}/mcp`, init);
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        await res.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: 16 }, client));
  };
  await shoot(4000);
  await run(['callgrind_control', '--zero', String(server.proc.pid)], { timeoutMs: 60_000 });
  await shoot(n);
  await run(['callgrind_control', '--dump', String(server.proc.pid)], { timeoutMs: 60_000 });
} finally {
  await server.stop();
}
// The dump taken after zeroing is the numbered part file (cg.PID.1); its summary is the total.
const dumps = readdirSync(out).filter((f) => /\.\d+$/.test(f));
const totals = dumps.map((f) => Number(/^summary: (\d+)/m.exec(readFileSync(join(out, f), 'utf8'))?.[1] ?? 0));
console.log(`${bin} ${era}: ${(Math.max(0, ...totals) / n).toFixed(0)} instructions per request (${n} requests)`);
