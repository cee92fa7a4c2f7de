/**
 * Starting and reading the baselines in bench/baselines/, each in its own
 * process so it competes for the CPU the way `dist/hide` does.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { run, spawnLogged, type Started } from './proc.ts';

const DIR = resolve(import.meta.dir, '../baselines');
const BUN = process.execPath;

/**
 * The bare Elysia app answering `body` on POST /mcp (or, with shape `hooks`,
 * the same answer behind hide's hook shape); resolves once it prints its port.
 */
export async function startElysia(work: string, bodyFile: string, contentType: string, shape: 'bare' | 'hooks' = 'bare'): Promise<Started & { port: number }> {
  const logBase = join(work, `elysia-${shape}`);
  const started = spawnLogged([BUN, join(DIR, 'elysia.ts'), bodyFile, contentType, shape], { logBase, cwd: resolve(import.meta.dir, '../..') });
  const deadline = performance.now() + 15_000;
  for (let i = 0; i < 10_000 && performance.now() < deadline; i++) {
    if (started.proc.exitCode !== null) break;
    const m = /\{"port":(\d+)\}/.exec(existsSync(`${logBase}.out`) ? readFileSync(`${logBase}.out`, 'utf8') : '');
    if (m) return { ...started, port: Number(m[1]) };
    await Bun.sleep(10);
  }
  await started.stop();
  throw new Error(`bare Elysia server did not start:\n${started.logTail()}`);
}

/** Runs the raw spawn loop in a separate bun process. */
export async function spawnLoop(concurrency: number, seconds: number): Promise<{ callsPerSec: number; p50Ms: number; calls: number; cpuMsPerCall: number; childCpuMsPerCall: number }> {
  const out = await run([BUN, join(DIR, 'spawn-loop.ts'), String(concurrency), String(seconds)], { timeoutMs: (seconds + 30) * 1000 });
  return JSON.parse(out.trim().split('\n').pop() as string);
}

/** Compiles the hello-world server into `work` (once; rebuilt when its source changes). */
export async function buildHello(work: string): Promise<string> {
  return buildBaseline(work, 'hello', []);
}

/**
 * Compiles the one-route Elysia server with the flags of hide's own `build`
 * script (package.json), so the two binaries differ only in what they bundle.
 */
export async function buildElysiaHello(work: string): Promise<string> {
  return buildBaseline(work, 'elysia-hello', hideBuildFlags());
}

/** The flags of `bun run build`, minus its entry point and --outfile. */
export function hideBuildFlags(): string[] {
  const pkg = JSON.parse(readFileSync(resolve(import.meta.dir, '../../package.json'), 'utf8')) as { scripts: { build: string } };
  const words = pkg.scripts.build.split(/\s+/);
  const flags: string[] = [];
  for (let i = 0; i < words.length; i++) {
    if (words[i] === '--outfile') i++;
    else if (words[i]!.startsWith('--') && words[i] !== '--compile') flags.push(words[i]!);
  }
  return flags;
}

async function buildBaseline(work: string, name: string, flags: string[]): Promise<string> {
  mkdirSync(work, { recursive: true });
  const src = join(DIR, `${name}.ts`);
  const out = join(work, name);
  // Stale when its source changed, or (for a build with hide's flags) when package.json did.
  const inputs = flags.length > 0 ? [src, resolve(import.meta.dir, '../../package.json')] : [src];
  if (!existsSync(out) || inputs.some((f) => statSync(out).mtimeMs < statSync(f).mtimeMs)) {
    await run([BUN, 'build', src, '--compile', ...flags, '--outfile', out], { cwd: resolve(import.meta.dir, '../..'), timeoutMs: 120_000 });
  }
  return out;
}
