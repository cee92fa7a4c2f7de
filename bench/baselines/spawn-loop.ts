/**
 * Baseline: a raw `Bun.spawn(['true'])` loop with N workers, run in its own
 * bun process. Prints `{"callsPerSec","p50Ms","calls","cpuMsPerCall","childCpuMsPerCall"}`
 * as JSON: CPU of this process (children excluded) and of the `true` children.
 *
 * Usage: bun bench/baselines/spawn-loop.ts CONCURRENCY SECONDS
 */
import { childCpuSeconds } from '../lib/proc.ts';
import { percentile } from '../lib/stats.ts';

const concurrency = Number(process.argv[2] ?? 16);
const seconds = Number(process.argv[3] ?? 3);
const MAX_CALLS = 2_000_000;


async function once(): Promise<number> {
  const t0 = performance.now();
  const proc = Bun.spawn(['true']);
  await proc.exited;
  return performance.now() - t0;
}

// Warm up briefly so the first spawns' page faults don't count.
for (let i = 0; i < 20; i++) await once();

const latencies: number[] = [];
const cpu0 = process.cpuUsage();
const child0 = childCpuSeconds(process.pid);
const start = performance.now();
const end = start + seconds * 1000;
async function worker(): Promise<void> {
  while (performance.now() < end && latencies.length < MAX_CALLS) latencies.push(await once());
}
await Promise.all(Array.from({ length: concurrency }, worker));
const elapsed = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpu0);
const childCpuMsPerCall = ((childCpuSeconds(process.pid) - child0) * 1000) / latencies.length;
const cpuMsPerCall = (cpu.user + cpu.system) / 1000 / latencies.length;
console.log(JSON.stringify({ callsPerSec: latencies.length / elapsed, p50Ms: percentile(latencies, 50), calls: latencies.length, cpuMsPerCall, childCpuMsPerCall }));
