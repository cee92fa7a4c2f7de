/**
 * `bun run conformance`: runs the official MCP conformance suite against the
 * compiled `dist/hide serve`, once per spec revision's requirement set, and
 * judges each scenario with scripts/conformance/applicability.ts.
 *
 *   bun run conformance [--requirements 2025-11-25,2026-07-28] [--rebuild] [--verbose]
 *
 * The server runs on a free loopback port in a fresh temporary workspace with
 * quiet defaults (auth off, rate limits off, audit to a temp file). The suite
 * needs Node >= 22: the `node` on PATH when it is new enough, else
 * `npx -y node@22` (override with HIDE_CONFORMANCE_NODE="cmd args").
 * Exits 1 when an applicable scenario fails or does not run.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { judge, type Check, type ScenarioResult } from './conformance/applicability.ts';

const ROOT = join(import.meta.dir, '..');
const BINARY = join(ROOT, 'dist', 'hide');
const SUITE = join(ROOT, 'node_modules', '@modelcontextprotocol', 'conformance');
const REVISIONS = ['2025-11-25', '2026-07-28'];
/** Bound on one requirement set's run (the suite's own per-scenario timeout is 30 s). */
const SET_TIMEOUT_MS = 6 * 60_000;

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

async function run(cmd: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}) {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdout: 'pipe', stderr: 'pipe' });
  const timer = opts.timeoutMs ? setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs) : undefined;
  const [out, err, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
  clearTimeout(timer);
  return { out, err, code };
}

/** The command that runs a Node >= 22 script. */
async function nodeCommand(): Promise<string[]> {
  const override = process.env.HIDE_CONFORMANCE_NODE;
  if (override) return override.split(' ').filter(Boolean);
  if (Bun.which('node')) {
    const { out } = await run(['node', '-v']);
    if (Number(/^v(\d+)/.exec(out.trim())?.[1] ?? 0) >= 22) return ['node'];
  }
  return ['npx', '-y', 'node@22'];
}

function freePort(): number {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  const { port } = listener;
  listener.stop(true);
  return port;
}

async function startServer(dir: string) {
  const workspace = join(dir, 'ws');
  await Bun.write(join(workspace, 'README.txt'), 'conformance workspace\n');
  const port = freePort();
  const logFile = join(dir, 'serve.log');
  const proc = Bun.spawn([BINARY, 'serve', '--port', String(port)], {
    cwd: workspace,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      HIDE_WORKSPACE: workspace,
      HIDE_AUTH_ENABLED: 'false',
      HIDE_RATE_LIMIT_ENABLED: 'false',
      HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'),
      HIDE_LOG_FORMAT: 'json',
      HIDE_LOG_LEVEL: 'warn',
    },
    stdout: Bun.file(logFile),
    stderr: Bun.file(logFile),
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`hide serve exited (${proc.exitCode}): ${await Bun.file(logFile).text()}`);
    const up = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (up) return { proc, url, logFile };
    await Bun.sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error(`hide serve did not answer ${url}/health`);
}

/** Scenario names a requirement set runs on the server leg (scored and not scored). */
async function scenariosOf(revision: string): Promise<{ scored: string[]; notScored: Map<string, string> }> {
  const doc = Bun.YAML.parse(await Bun.file(join(SUITE, 'requirements', `${revision}.yaml`)).text()) as {
    server?: string[];
    not_scored?: { scenario: string; leg: string; reason: string }[];
  };
  const notScored = new Map((doc.not_scored ?? []).filter((e) => e.leg === 'server').map((e) => [e.scenario, e.reason]));
  return { scored: doc.server ?? [], notScored };
}

/** checks.json of each scenario in a results folder (`server-<scenario>-<timestamp>/`). */
function readResults(dir: string): Map<string, Check[]> {
  const results = new Map<string, Check[]>();
  if (!existsSync(dir)) return results;
  for (const entry of readdirSync(dir)) {
    const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/.exec(entry);
    const file = join(dir, entry, 'checks.json');
    if (m?.[1] && existsSync(file)) results.set(m[1], JSON.parse(readFileSync(file, 'utf8')) as Check[]);
  }
  return results;
}

/** The suite's own one-line summary per scenario ("✗ name: 0 passed, 1 failed"), for scenarios that wrote no checks.json. */
function summaries(stdout: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const m of stdout.matchAll(/^[✓✗] (\S+): (\d+ passed, \d+ failed)$/gmu)) if (m[1] && m[2]) map.set(m[1], m[2]);
  return map;
}

const indent = (text: string) => text.replaceAll('\n', '\n          ');

function report(revision: string, results: ScenarioResult[], notScored: Map<string, string>, verbose: boolean) {
  const width = Math.max(...results.map((r) => r.scenario.length));
  console.log(`\n== requirements ${revision}`);
  for (const r of results) {
    const tag = { pass: 'PASS', fail: 'FAIL', 'n/a': 'N/A ' }[r.verdict];
    const scored = notScored.has(r.scenario) ? ` [not scored by the suite: ${notScored.get(r.scenario)}]` : '';
    console.log(`${tag}  ${r.scenario.padEnd(width)}  ${r.why}${scored}`);
    for (const f of r.failures) console.log(`        - ${indent(f)}`);
    if (r.verdict === 'n/a' || verbose) for (const n of r.notes) console.log(`        · checker: ${indent(n)}`);
    else for (const n of r.notes.filter((n) => n.startsWith('n/a '))) console.log(`        · ${indent(n)}`);
  }
}

async function main() {
  const revisions = (option('--requirements') ?? REVISIONS.join(',')).split(',').filter(Boolean);
  if (!existsSync(join(SUITE, 'dist', 'index.js'))) throw new Error('the conformance suite is not installed: run bun install');
  if (!existsSync(BINARY) || flag('--rebuild')) {
    const b = await run(['bun', 'run', 'build']);
    if (b.code !== 0) throw new Error(`bun run build failed:\n${b.out}\n${b.err}`);
  }
  const version = ((await Bun.file(join(SUITE, 'package.json')).json()) as { version: string }).version;
  const node = await nodeCommand();
  const dir = mkdtempSync(join(tmpdir(), 'hide-conformance-'));
  const server = await startServer(dir);
  // A CI timeout ends this script with a signal: take the server down with it.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      server.proc.kill('SIGKILL');
      process.exit(130);
    });
  }
  console.log(`conformance ${version} (${node.join(' ')}) against dist/hide serve at ${server.url}/mcp`);
  let pass = 0;
  let fail = 0;
  let na = 0;
  try {
    for (const revision of revisions) {
      const { scored, notScored } = await scenariosOf(revision);
      const out = join(dir, `results-${revision}`);
      const cli = [...node, join(SUITE, 'dist', 'index.js'), 'server', '--url', `${server.url}/mcp`, '--requirements', revision, '-o', out];
      const r = await run(cli, { cwd: dir, timeoutMs: SET_TIMEOUT_MS });
      if (flag('--verbose')) console.log(r.out, r.err);
      const checks = readResults(out);
      const names = [...new Set([...scored, ...notScored.keys(), ...checks.keys()])];
      if (checks.size === 0) console.log(`the suite produced no results (exit ${r.code}):\n${r.err.slice(-2000)}`);
      const summary = summaries(r.out);
      const results = names.map((name) => judge(name, checks.get(name), summary.get(name)));
      report(revision, results, notScored, flag('--verbose'));
      for (const res of results) {
        if (res.verdict === 'pass') pass++;
        else if (res.verdict === 'fail') fail++;
        else na++;
      }
    }
  } finally {
    server.proc.kill('SIGTERM');
    await server.proc.exited;
    if (flag('--keep')) console.log(`results kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\nconformance: ${pass} passed, ${fail} failed, ${na} not applicable`);
  process.exit(fail > 0 ? 1 : 0);
}

main().catch((e: unknown) => {
  console.error(`conformance: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
});
