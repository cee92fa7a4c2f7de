/**
 * Experiment behind the tools-list analysis in bench/results.md: instructions
 * the server executes per tools/list request, counted by valgrind's callgrind
 * (all threads), which unlike CPU time hardly moves with other load on the
 * machine. The server runs under callgrind, takes 4000 requests to warm up,
 * has its counters zeroed, answers N more (16 at a time, fetch), and dumps.
 * Two runs started side by side agree within ~1%; runs made at different
 * times drift by up to ~5% (collector timing), so compare runs made together.
 * Per-request counts keep falling as N grows (134–141k at 4000, 114k at 20000,
 * 88k at 60000 for dist/hide): JIT compilation, counted with every thread, is
 * paid off over the requests; compare steady states with N = 60000 (about 3
 * minutes). Not part of `bun run bench`.
 *
 * Usage: bun bench/experiments/tools-list-instructions.ts BIN [legacy|modern] [N]
 *   BIN `elysia:bare` or `elysia:hooks` counts the bench's baseline (or its
 *   hook-shape reference) answering dist/hide's listing bytes instead.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
const { body, headers } = framed(era, 'tools/list', undefined, 1);
const init = { method: 'POST', headers: { ...MCP_HEADERS, ...headers, 'X-API-Key': setup.apiKey }, body };
const baseline = bin.startsWith('elysia:') ? bin.slice('elysia:'.length) : null;

/** dist/hide's answer, for the baseline to serve. */
async function listingFile(): Promise<string> {
  const hide = spawnLogged([resolve(import.meta.dir, '../../dist/hide'), 'serve', '--host', '127.0.0.1', '--port', String(port), '--config', setup.configFile], {
    cwd: setup.dir,
    env: setup.env,
    logBase: join(setup.dir, 'listing'),
  });
  try {
    await waitFor200(`http://127.0.0.1:${port}/health`, hide.proc, 15_000);
    const file = join(setup.dir, 'listing.json');
    writeFileSync(file, new Uint8Array(await (await fetch(`http://127.0.0.1:${port}/mcp`, init)).arrayBuffer()));
    return file;
  } finally {
    await hide.stop();
  }
}

const valgrind = ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${out}/cg.%p`];
const logBase = join(setup.dir, 'serve');
const server = baseline
  ? spawnLogged([...valgrind, process.execPath, resolve(import.meta.dir, '../baselines/elysia.ts'), await listingFile(), 'application/json', baseline], { cwd: setup.dir, logBase })
  : spawnLogged([...valgrind, resolve(bin), 'serve', '--host', '127.0.0.1', '--port', String(port), '--config', setup.configFile], { cwd: setup.dir, env: setup.env, logBase });

/** The baseline prints its port once listening. */
async function baselinePort(): Promise<number> {
  const deadline = performance.now() + 120_000;
  while (performance.now() < deadline) {
    const m = /\{"port":(\d+)\}/.exec(existsSync(`${logBase}.out`) ? readFileSync(`${logBase}.out`, 'utf8') : '');
    if (m) return Number(m[1]);
    await Bun.sleep(100);
  }
  throw new Error(`the baseline did not start:\n${server.logTail()}`);
}
try {
  const url = baseline ? `http://127.0.0.1:${await baselinePort()}/mcp` : `http://127.0.0.1:${port}/mcp`;
  if (!baseline) await waitFor200(`http://127.0.0.1:${port}/health`, server.proc, 120_000);
  const shoot = async (requests: number) => {
    let next = 0;
    const client = async () => {
      while (next++ < requests) {
        const res = await fetch(url, init);
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
