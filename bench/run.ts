/**
 * `bun run bench`: runs the scenarios against same-run baselines, prints one
 * table and writes it with the machine it ran on to the git-ignored
 * bench/.work/, so a run leaves the tree clean. `--save` makes a full run the
 * committed bench/results.md, keeping the hand-written part below the marker.
 *
 *   bun run bench                 full run (a few minutes) → bench/.work/results.md
 *   bun run bench --save          full run → bench/results.md (commit it)
 *   bun run bench --smoke         about a second per scenario, for CI
 *   bun run bench --only a,b      selected scenarios (repeatable)
 *   bun run bench --list          scenario names
 *   bun run bench --strict        exit 1 when a target is missed
 *   bun run bench --keep          keep the temporary config dirs and server logs
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join, resolve } from 'node:path';
import type { Ctx, Row, Scenario } from './lib/context.ts';
import { HIDE_BIN, removeSetups, setupHide, startHide, type HideSetup, type RunningHide } from './lib/hide.ts';
import { killAll, run } from './lib/proc.ts';
import { markdownTable, textTable } from './lib/table.ts';
import { ensureWrk } from './lib/wrk.ts';
import { callC12026, stdioCall2026, toolsList2026 } from './scenarios/eras.ts';
import { audit, callC1, callC16, toolsList } from './scenarios/http.ts';
import { rssClients, rssOutput } from './scenarios/memory.ts';
import { npmStart } from './scenarios/npm.ts';
import { oauthCheck } from './scenarios/oauth.ts';
import { processIdleRss, processWakeup } from './scenarios/process.ts';
import { sandboxC1, sandboxC16 } from './scenarios/sandbox.ts';
import { startup } from './scenarios/startup.ts';
import { stdioCall, stdioStart } from './scenarios/stdio.ts';

const SCENARIOS: Scenario[] = [
  toolsList,
  toolsList2026,
  callC16,
  callC1,
  callC12026,
  audit,
  oauthCheck,
  startup,
  stdioCall,
  stdioCall2026,
  stdioStart,
  npmStart,
  rssOutput,
  rssClients,
  sandboxC1,
  sandboxC16,
  processWakeup,
  processIdleRss,
];

const ROOT = resolve(import.meta.dir, '..');
const WORK = join(import.meta.dir, '.work');

function parseArgs(argv: string[]) {
  const opts = { smoke: false, strict: false, list: false, keep: false, save: false, only: [] as string[] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--smoke') opts.smoke = true;
    else if (a === '--save') opts.save = true;
    else if (a === '--strict') opts.strict = true;
    else if (a === '--list') opts.list = true;
    else if (a === '--keep') opts.keep = true;
    else if (a === '--only') opts.only.push(...(argv[++i] ?? '').split(','));
    else if (a.startsWith('--only=')) opts.only.push(...a.slice(7).split(','));
    else throw new Error(`unknown argument ${a}`);
  }
  opts.only = opts.only.filter(Boolean);
  const unknown = opts.only.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  // The committed results compare every scenario from one run; refuse before minutes of measuring.
  if (opts.save && (opts.smoke || opts.only.length > 0)) throw new Error('--save keeps a full run only: drop --smoke and --only');
  return opts;
}

function makeCtx(smoke: boolean): Ctx & { cleanup(): Promise<void> } {
  const deferred: (() => Promise<void> | void)[] = [];
  const memo = new Map<string, Promise<unknown>>();
  const once = <T>(key: string, make: () => Promise<T>): Promise<T> => {
    if (!memo.has(key)) memo.set(key, make());
    return memo.get(key) as Promise<T>;
  };
  return {
    smoke,
    work: WORK,
    secs: (full) => (smoke ? 1 : full),
    count: (full, small) => (smoke ? small : full),
    defer: (fn) => void deferred.push(fn),
    once,
    hide: () =>
      once('hide', async (): Promise<{ setup: HideSetup; server: RunningHide }> => {
        const setup = setupHide({ name: 'shared' });
        const server = await startHide(setup);
        deferred.push(() => server.stop());
        return { setup, server };
      }),
    async cleanup() {
      for (const fn of deferred.reverse()) await Promise.resolve(fn()).catch(() => {});
    },
  };
}

const load = () => loadavg().map((n) => n.toFixed(2)).join(' ');

async function machine(loadBefore: string): Promise<string[]> {
  const hideVersion = existsSync(HIDE_BIN) ? (await run([HIDE_BIN, '--version'], { timeoutMs: 10_000 }).catch((e: Error) => `? (${e.message})`)).trim() : 'not built';
  return [
    `- date: ${new Date().toISOString()}`,
    `- nproc: ${navigator.hardwareConcurrency} (${cpus()[0]?.model.trim() ?? 'unknown cpu'})`,
    `- bun: ${Bun.version}`,
    `- kernel: ${release()}`,
    `- hide: ${hideVersion}`,
    `- wrk: ${Bun.which('wrk') ?? 'missing'}`,
    `- load average (1/5/15 min): ${loadBefore} before, ${load()} after — other work on the machine skews single runs`,
  ];
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.list) {
    for (const s of SCENARIOS) console.log(`${s.name.padEnd(15)} ${s.title} (${s.target})`);
    return 0;
  }
  mkdirSync(WORK, { recursive: true });
  const selected = opts.only.length ? SCENARIOS.filter((s) => opts.only.includes(s.name)) : SCENARIOS;
  const ctx = makeCtx(opts.smoke);
  const rows: Row[] = [];
  const started = performance.now();
  const loadBefore = load();
  if (!existsSync(HIDE_BIN) && !process.env.HIDE_BENCH_BIN) {
    // A fresh clone has no binary yet: build the one being measured.
    console.error('building dist/hide (bun run build) …');
    await run(['bun', 'run', 'build'], { cwd: ROOT, timeoutMs: 180_000 }).catch((e: Error) => console.error(`build failed: ${e.message}`));
  }
  if (!existsSync(HIDE_BIN)) console.error(`note: ${HIDE_BIN} is missing (bun run build); our side will show as error`);
  await ensureWrk();
  try {
    for (const s of selected) {
      const row: Row = { scenario: s.name, baseline: '—', ours: '—', ratio: '—', target: s.target, status: 'error', notes: [] };
      rows.push(row);
      const t0 = performance.now();
      process.stderr.write(`· ${s.name}: ${s.title} … `);
      try {
        await s.run(ctx, row);
      } catch (e) {
        row.status = 'error';
        row.notes.push(`error: ${(e as Error).message.split('\n').slice(0, 4).join(' / ')}`);
      }
      process.stderr.write(`${row.status} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
    }
  } finally {
    await ctx.cleanup();
    if (opts.keep) console.error('kept the temporary hide-bench-* directories (--keep)');
    else removeSetups();
  }
  const seconds = (performance.now() - started) / 1000;
  const header = await machine(loadBefore);
  console.log(`\n${textTable(rows)}\n\n${opts.smoke ? 'smoke run' : 'full run'} in ${seconds.toFixed(0)} s on ${navigator.hardwareConcurrency} cores`);
  const full = !opts.smoke && opts.only.length === 0;
  const KEPT_MARK = '<!-- Everything below this line is written by hand; bun run bench keeps it. -->';
  const out = opts.save ? join(import.meta.dir, 'results.md') : join(WORK, full ? 'results.md' : opts.smoke ? 'results-smoke.md' : 'results-partial.md');
  const doc = [
    '# Benchmark results',
    '',
    `\`bun run bench${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}\`, ${opts.smoke ? 'smoke' : 'full'} run, ${seconds.toFixed(0)} s. Ratios compare with baselines measured in the same run; see bench/README.md.`,
    '',
    ...header,
    '',
    markdownTable(rows),
    '',
  ].join('\n');
  // A hand-written analysis below the marker survives a saved run.
  const previous = opts.save && existsSync(out) ? readFileSync(out, 'utf8') : '';
  const kept = previous.includes(KEPT_MARK) ? previous.slice(previous.indexOf(KEPT_MARK)) : '';
  writeFileSync(out, kept ? `${doc}\n${kept}` : doc);
  console.log(`written to ${out.replace(`${ROOT}/`, '')}`);
  if (full && !opts.save) console.log('bench/results.md is unchanged; `bun run bench --save` makes a full run the committed result');
  const broken = rows.some((r) => r.status === 'error');
  const missed = rows.some((r) => r.status === 'fail');
  return broken || (opts.strict && missed) ? 1 : 0;
}

// Bound the whole run, and never leave a child behind.
const LIMIT_S = process.argv.includes('--smoke') ? 240 : 600;
const watchdog = setTimeout(() => {
  console.error(`bench: gave up after ${LIMIT_S} s`);
  killAll();
  removeSetups();
  process.exit(1);
}, LIMIT_S * 1000);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAll();
    removeSetups();
    process.exit(130);
  });
}
try {
  process.exitCode = await main();
} catch (e) {
  console.error(`bench: ${(e as Error).message}`);
  process.exitCode = 2;
} finally {
  clearTimeout(watchdog);
  killAll();
}
