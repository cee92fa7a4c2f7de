/**
 * Per-call cost of the sandbox: p50 of `true` through the launcher (with and
 * without resource limits) against a plain Bun.spawn with the same options,
 * plus throughput at concurrency 16. Run: bun test/sandbox/overhead.bench.ts
 */
import { makeFixture, makeLauncher, request } from './helpers.ts';

const N = Number(process.env.N ?? 1000);
const LIMITS = { cpuSeconds: 60, memoryBytes: 2 ** 31, openFiles: 1024, fileSizeBytes: 2 ** 30, processes: 4096 };

async function plain(cwd: string): Promise<void> {
  const p = Bun.spawn(['/usr/bin/true'], { cwd, env: { PATH: '/usr/bin' }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', detached: true });
  await Promise.all([p.stdout.text(), p.stderr.text(), p.exited]);
}

function pct(samples: number[], q: number): string {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(3);
}

async function measure(name: string, once: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 50; i++) await once();
  const t: number[] = [];
  for (let i = 0; i < N; i++) {
    const s = performance.now();
    await once();
    t.push(performance.now() - s);
  }
  const c = 16;
  const total = N * 2;
  let next = 0;
  const s = performance.now();
  await Promise.all(Array.from({ length: c }, async () => { while (next++ < total) await once(); }));
  const rps = (total / (performance.now() - s)) * 1000;
  console.log(`${name.padEnd(28)} p50 ${pct(t, 0.5)} ms  p90 ${pct(t, 0.9)} ms  c16 ${rps.toFixed(0)} calls/s`);
}

using fx = makeFixture();
const sandbox = makeLauncher(fx.workspace);
await sandbox.start();
const req = request(['/usr/bin/true'], fx.workspace);
const reqLimits = request(['/usr/bin/true'], fx.workspace, { limits: LIMITS });
for (let round = 0; round < 2; round++) {
  await measure('plain Bun.spawn', () => plain(fx.workspace));
  await measure('sandbox launcher', () => sandbox.run(req));
  await measure('sandbox launcher + limits', () => sandbox.run(reqLimits));
}
await sandbox.close();
