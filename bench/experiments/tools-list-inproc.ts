/**
 * Experiment behind the tools-list analysis in bench/results.md: where the
 * CPU of one tools/list goes inside the process, per request style, with no
 * socket in the way. Each style runs in its own child: the real app
 * (createHttpApp over createRuntime, auth with a keys file, limits on, audit
 * off, sandbox off) answers N requests through `app.handle`, 32 at a time,
 * under `bun --cpu-prof`; the samples' self time is summed per function and
 * divided by N. Styles alternate over ROUNDS rounds (A B C, then C B A, …)
 * because one child's figure moves by up to ~1 µs between runs. Prints each
 * style's median total and, averaged over the rounds, the functions whose
 * cost differs most from the first style's. The harness's own `new Request` is in
 * the figures (as "Request"). Not part of `bun run bench`.
 *
 * Usage: bun bench/experiments/tools-list-inproc.ts [STYLE,...] [N] [ROUNDS]
 *   STYLE: legacy (the seeds' curl shape), versioned (plus
 *   MCP-Protocol-Version: 2025-11-25, as a 2025-11-25 client sends it), modern
 *   (2026-07-28). Default legacy,versioned,modern, 300000 and 4.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { framed, MCP_HEADERS } from '../lib/hide.ts';

type Style = 'legacy' | 'versioned' | 'modern';
const STYLES: readonly Style[] = ['legacy', 'versioned', 'modern'];

function request(style: Style, key: string): { body: string; headers: Record<string, string> } {
  const { body, headers } = framed(style === 'modern' ? 'modern' : 'legacy', 'tools/list', undefined, 1);
  const version: Record<string, string> = style === 'versioned' ? { 'MCP-Protocol-Version': '2025-11-25' } : {};
  // Content-Length as a socket client sends it: without it the body would be read as a counted stream.
  return { body, headers: { ...MCP_HEADERS, ...headers, ...version, 'X-API-Key': key, Host: '127.0.0.1', 'Content-Length': String(Buffer.byteLength(body)) } };
}

/** The child: answers `n` requests of one style through the real app. */
async function serve(style: Style, n: number, dir: string): Promise<void> {
  const { loadConfig } = await import('../../src/config/load.ts');
  const { createRuntime } = await import('../../src/runtime/runtime.ts');
  const { createHttpApp } = await import('../../src/http/app.ts');
  const key = 'k'.repeat(43);
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify({ clients: [{ client_id: 'bench', enabled: true, api_key: key }] }));
  const env = {
    HIDE_WORKSPACE: dir,
    HIDE_SANDBOX: 'off',
    HIDE_AUTH_ENABLED: 'true',
    HIDE_API_KEYS_FILE: keysFile,
    HIDE_AUDIT_LOG_ENABLED: 'false',
    HIDE_RATE_LIMIT_RPM: '100000000',
    HIDE_RATE_LIMIT_CONCURRENT: '1000',
  };
  const app = createHttpApp(await createRuntime(loadConfig({ cwd: dir, env }).config, { transport: 'http' }));
  const { body, headers } = request(style, key);
  for (let i = 0; i < n; i += 32) {
    const batch: Promise<number>[] = [];
    for (let j = 0; j < 32; j++) batch.push(app.handle(new Request('http://127.0.0.1/mcp', { method: 'POST', body, headers })).then((r) => r.status));
    const statuses = await Promise.all(batch);
    if (statuses.some((s) => s !== 200)) throw new Error(`HTTP ${statuses.find((s) => s !== 200)}`);
  }
  process.exit(0);
}

/** Self time per function (µs per request) from one .cpuprofile. */
function selfTimes(file: string, n: number): Map<string, number> {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const names = new Map(profile.nodes.map((node) => {
    const { functionName, url, lineNumber } = node.callFrame;
    return [node.id, `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber}`];
  }));
  const out = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const name = names.get(id) ?? '?';
    out.set(name, (out.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0) / n);
  });
  return out;
}

async function main(styles: Style[], n: number, rounds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hide-tools-list-inproc-'));
  try {
    const runs = new Map<Style, Map<string, number>[]>(styles.map((s) => [s, []]));
    for (let r = 0; r < rounds; r++) {
      for (const style of r % 2 ? [...styles].reverse() : styles) {
        const out = join(dir, `prof-${style}-${r}`);
        const child = Bun.spawn([process.execPath, '--cpu-prof', `--cpu-prof-dir=${out}`, import.meta.path, 'serve', style, String(n), dir], { stdout: 'inherit', stderr: 'inherit' });
        if ((await child.exited) !== 0) throw new Error(`${style}: child exited ${child.exitCode}`);
        runs.get(style)!.push(selfTimes(join(out, readdirSync(out)[0]!), n));
      }
    }
    const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const profiles = new Map<Style, Map<string, number>>();
    for (const [style, maps] of runs) {
      const mean = new Map<string, number>();
      for (const m of maps) for (const [k, v] of m) mean.set(k, (mean.get(k) ?? 0) + v / maps.length);
      profiles.set(style, mean);
      const totals = maps.map(total).sort((a, b) => a - b);
      console.log(`${style}: median ${totals[totals.length >> 1]!.toFixed(2)} µs per request in-process [${maps.map((m) => total(m).toFixed(2)).join(' ')}]`);
    }
    const [first, ...rest] = styles;
    const base = profiles.get(first!)!;
    for (const style of rest) {
      const m = profiles.get(style)!;
      const diffs = [...new Set([...base.keys(), ...m.keys()])].map((k) => [k, (m.get(k) ?? 0) - (base.get(k) ?? 0)] as const);
      diffs.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
      console.log(`\n${style} against ${first}, largest differences (µs per request):`);
      for (const [k, d] of diffs.slice(0, 12)) console.log(`  ${d >= 0 ? '+' : ''}${d.toFixed(3)}  ${k}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
if (args[0] === 'serve') {
  await serve(args[1] as Style, Number(args[2]), args[3]!);
} else {
  const styles = (args[0] ?? STYLES.join(',')).split(',') as Style[];
  for (const s of styles) if (!STYLES.includes(s)) throw new Error(`unknown style ${s}; one of ${STYLES.join(', ')}`);
  await main(styles, Number(args[1] ?? 300_000), Number(args[2] ?? 4));
}
