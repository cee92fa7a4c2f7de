/**
 * Experiment behind the call-c16 analysis in bench/results.md: CPU per call in
 * the spawning process (children excluded) for ways of capturing a command's
 * output, 16 at a time, running `true`. Not part of `bun run bench`.
 *
 * Usage: bun bench/experiments/capture.ts [variant ...]
 */
export {};

const CALLS = 4000;
const CONCURRENCY = 16;
const TRUE = Bun.which('true') ?? '/usr/bin/true';
const piped = { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', detached: true } as const;

interface ChunkReader {
  readMany(): Promise<{ done: boolean; value: Uint8Array[] }>;
  releaseLock(): void;
}

/** The reader hide uses (src/exec/spawn.ts), without the cap. */
async function readAll(stream: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stream.getReader() as unknown as ChunkReader;
  let size = 0;
  for (;;) {
    const { done, value } = await reader.readMany();
    for (const chunk of value) size += chunk.byteLength;
    if (done) break;
  }
  reader.releaseLock();
  return size;
}

const variants: Record<string, () => Promise<unknown>> = {
  'one pipe, unread (Bun default; the raw loop)': async () => {
    await Bun.spawn([TRUE]).exited;
  },
  'two pipes, unread': async () => {
    await Bun.spawn([TRUE], piped).exited;
  },
  'two pipes, readMany (hide)': async () => {
    const p = Bun.spawn([TRUE], piped);
    await Promise.all([p.exited, readAll(p.stdout), readAll(p.stderr)]);
  },
  'two pipes, stream.bytes()': async () => {
    const p = Bun.spawn([TRUE], piped);
    await Promise.all([p.exited, p.stdout.bytes(), p.stderr.bytes()]);
  },
  'two pipes, read after exit (unbounded: Bun buffers an unread pipe)': async () => {
    const p = Bun.spawn([TRUE], piped);
    await p.exited;
    await Promise.all([p.stdout.bytes(), p.stderr.bytes()]);
  },
};

async function cpuPerCall(once: () => Promise<unknown>): Promise<number> {
  let started = 0;
  const c0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (started++ < CALLS) await once();
    }),
  );
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / CALLS;
}

const names = Object.keys(variants).filter((n) => process.argv.length <= 2 || process.argv.slice(2).some((a) => n.includes(a)));
const samples = new Map<string, number[]>();
// Round 0 warms up; later rounds alternate the order so drift hits every variant.
for (let round = 0; round < 4; round++) {
  for (const name of round % 2 ? [...names].reverse() : names) {
    const us = await cpuPerCall(variants[name]!);
    if (round > 0) samples.set(name, [...(samples.get(name) ?? []), us]);
  }
}
for (const [name, us] of samples) {
  us.sort((a, b) => a - b);
  console.log(`${name.padEnd(68)} median ${us[us.length >> 1]!.toFixed(0).padStart(4)} µs CPU per call (${us.map((u) => u.toFixed(0)).join(', ')})`);
}
