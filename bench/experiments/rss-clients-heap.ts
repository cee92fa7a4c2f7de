/**
 * Experiment behind the rss-clients analysis: what the server keeps after
 * 100 000 check_file_exists calls from 10 000 keyed clients. The real server
 * is built in this process as `hide serve` builds it (loadForCommand,
 * createRuntime, createHttpApp, listen on loopback), with the bench row's
 * setup (keys file of api_key_sha256 clients, allowlist, limits, audit file,
 * sandbox off); a child process drives it with fetch at c=32 as the row does,
 * so the heap and RSS measured here are the server's alone.
 *
 * At each checkpoint it records RSS as the row sees it (1 s quiet, no forced
 * collection), then forces a full GC and records JSC heap statistics, the
 * allocator's figures and RSS again. Object types that grow after GC are
 * retained state; a flat heap under a rising RSS is allocator high-water.
 * Not part of `bun run bench`.
 *
 * Measured on 2026-12-01 (100 000 calls, 10 000 clients): after GC the heap
 * grows 11.97 → 14.83 MB and the only object types that grow are Object and
 * Array by 9 006 / 9 001, the memory limiter's window for each client first
 * seen after the first 1 000 calls (swept 60 s after a client's last call);
 * with all calls from one client they stay flat and the heap grows 1.15 MB
 * (that client's 100 000 window stamps). RSS after GC still rose 11-21 MB,
 * with no JS object behind it: native memory. Knock-outs in the call path
 * found most of it in the message core's Map of calls in flight, through which
 * each call's key passed once (set, then deleted): 30 000 calls left the
 * allocator's current +15 MB after GC, against +9 MB without the Map (such
 * churn levels off at a high-water mark in isolation). The core now keeps its
 * calls in a flat list (mcp/inflight.ts).
 *
 * Usage: bun bench/experiments/rss-clients-heap.ts [TOTAL] [CLIENTS] [CALLERS]
 *   CALLERS: how many of the clients' keys the calls use (all by default);
 *   1 tells per-client state from per-call state.
 */
import { heapStats, memoryUsage as allocatorUsage } from 'bun:jsc';
import { join } from 'node:path';
import { loadForCommand } from '../../src/cli/common.ts';
import { createHttpApp } from '../../src/http/app.ts';
import { createRuntime } from '../../src/runtime/runtime.ts';
import { callBody, MCP_HEADERS, removeSetups, setupHide } from '../lib/hide.ts';

const mb = (bytes: number) => (bytes / 1e6).toFixed(2);

if (process.env.RSS_EXPERIMENT_DRIVE) {
  // Child: calls from..to with 32 workers, call i as client i % keys.
  const [url, keysFile, from, to] = process.env.RSS_EXPERIMENT_DRIVE.split('|') as [string, string, string, string];
  const keys = (await Bun.file(keysFile).json()) as string[];
  let next = Number(from);
  const worker = async () => {
    while (next < Number(to)) {
      const i = next++;
      const res = await fetch(url, {
        method: 'POST',
        headers: { ...MCP_HEADERS, 'X-API-Key': keys[i % keys.length]! },
        body: callBody('check_file_exists', { fileName: 'README.md' }, i),
      });
      const text = await res.text();
      if (res.status !== 200 || text.startsWith(`{"jsonrpc":"2.0","id":${i},"error"`)) throw new Error(`call ${i}: HTTP ${res.status} ${text.slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  process.exit(0);
}

const total = Number(process.argv[2] ?? 100_000);
const clients = Number(process.argv[3] ?? 10_000);
const callers = Number(process.argv[4] ?? clients);
const first = 1_000;
const setup = setupHide({ name: 'rss-clients-heap', clients });
process.on('exit', removeSetups);
const plainKeys = join(setup.dir, 'plain-keys.json');
await Bun.write(plainKeys, JSON.stringify(setup.extraKeys.slice(0, callers)));

// The server reads its settings from the environment, as under `hide serve`.
for (const [k, v] of Object.entries(setup.env)) process.env[k] = v;
const { config, files } = loadForCommand({ host: '127.0.0.1', port: '0', config: setup.configFile });
const rt = await createRuntime(config, { transport: 'http', secretFiles: files });
const app = createHttpApp(rt);
app.listen({ hostname: '127.0.0.1', port: 0, maxRequestBodySize: Number.MAX_SAFE_INTEGER });
rt.ops.lifecycle.markReady();
const mcpUrl = `http://127.0.0.1:${app.server!.port}/mcp`;

async function drive(from: number, to: number): Promise<void> {
  const child = Bun.spawn([process.execPath, import.meta.path], {
    env: { ...process.env, RSS_EXPERIMENT_DRIVE: [mcpUrl, plainKeys, from, to].join('|') },
    stdout: 'inherit',
    stderr: 'inherit',
  });
  if ((await child.exited) !== 0) throw new Error(`driver for ${from}..${to} failed`);
}

const vmRss = async () => Number(/^VmRSS:\s+(\d+)/m.exec(await Bun.file('/proc/self/status').text())![1]) * 1024;

interface Snapshot {
  calls: number;
  rssQuiet: number;
  rssGc: number;
  heap: number;
  heapCapacity: number;
  extra: number;
  objects: number;
  allocCurrent: number;
  allocCommit: number;
  types: Record<string, number>;
}

async function snapshot(calls: number): Promise<Snapshot> {
  await Bun.sleep(1000);
  const rssQuiet = await vmRss();
  Bun.gc(true);
  Bun.gc(true);
  const h = heapStats();
  const a = allocatorUsage();
  return {
    calls,
    rssQuiet,
    rssGc: await vmRss(),
    heap: h.heapSize,
    heapCapacity: h.heapCapacity,
    extra: h.extraMemorySize,
    objects: h.objectCount,
    allocCurrent: a.current,
    allocCommit: a.currentCommit,
    types: { ...h.objectTypeCounts },
  };
}

const snaps: Snapshot[] = [];
await drive(0, first);
snaps.push(await snapshot(first));
let reached = first;
for (const stop of [total / 10, total / 2, total]) {
  await drive(reached, stop);
  reached = stop;
  snaps.push(await snapshot(reached));
}
console.log(`${total} calls from ${callers} of ${clients} clients; figures in MB; after GC unless "quiet"`);
for (const s of snaps) {
  console.log(
    `after ${s.calls}: rss quiet ${mb(s.rssQuiet)}, rss ${mb(s.rssGc)}, heap ${mb(s.heap)} (capacity ${mb(s.heapCapacity)}, extra ${mb(s.extra)}), ` +
      `objects ${s.objects}, allocator current ${mb(s.allocCurrent)} commit ${mb(s.allocCommit)}`,
  );
}
const [a, z] = [snaps[0]!, snaps.at(-1)!];
const changed = Object.keys({ ...a.types, ...z.types })
  .map((t) => [t, a.types[t] ?? 0, z.types[t] ?? 0] as const)
  .filter(([, before, after]) => before !== after)
  .sort((x, y) => Math.abs(y[2] - y[1]) - Math.abs(x[2] - x[1]));
console.log(`object types that changed, after ${a.calls} → after ${z.calls}:`);
for (const [t, before, after] of changed.slice(0, 20)) console.log(`  ${t}: ${before} → ${after} (${after > before ? '+' : ''}${after - before})`);
await app.server!.stop(true);
await rt.close();
process.exit(0);
