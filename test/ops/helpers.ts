/**
 * Helpers for the operations tests: the real server as a child process
 * (`bun run src/main.ts serve --port 0`, port read from its start-up log),
 * JSON-RPC calls, process counting by a unique command-line marker, and a
 * small Prometheus text-format parser.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { rpc as rpcTo } from '../helpers/server.ts';
import { tempDir as makeTempDir } from '../helpers/temp.ts';

export const ROOT = join(import.meta.dir, '..', '..');
export const MAIN = join(ROOT, 'src', 'main.ts');

export { waitFor } from '../helpers/wait.ts';

export function tempDir(prefix = 'hide-ops-'): string {
  return makeTempDir(prefix);
}

export interface ServerProc {
  proc: ReturnType<typeof Bun.spawn<'ignore', 'ignore', 'pipe'>>;
  url: string;
  port: number;
  dir: string;
  auditFile: string;
  /** Everything the server logged so far. */
  log(): string;
  kill(signal?: NodeJS.Signals | number): void;
  exited: Promise<number>;
  /** Kills (if still running) and removes the temp dir. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts `hide serve` from source in a temp dir; resolves once it logged its address. */
export async function spawnServer(env: Record<string, string> = {}, opts: { dir?: string; argv0?: string[] } = {}): Promise<ServerProc> {
  const dir = opts.dir ?? tempDir();
  const ws = join(dir, 'ws');
  await Bun.write(join(ws, '.keep'), '');
  const auditFile = join(dir, 'audit.jsonl');
  const proc = Bun.spawn([...(opts.argv0 ?? ['bun', 'run', MAIN]), 'serve', '--port', '0'], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      HIDE_WORKSPACE: ws,
      HIDE_AUDIT_LOG_FILE: auditFile,
      HIDE_LOG_FORMAT: 'json',
      HIDE_RATE_LIMIT_ENABLED: 'false',
      ...env,
    },
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
  });
  let text = '';
  let onText = null as (() => void) | null;
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      onText?.();
    }
  })();
  const port = await new Promise<number>((resolve, reject) => {
    const check = () => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    };
    onText = check;
    check();
    void proc.exited.then((code) => reject(new Error(`hide serve exited (${code}) before listening:\n${text}`)));
  });
  onText = null;
  return {
    proc,
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    auditFile,
    log: () => text,
    kill: (signal = 'SIGTERM') => proc.kill(signal),
    exited: proc.exited,
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await proc.exited;
      }
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One JSON-RPC POST to `${url}/mcp` (the shared helper takes the full endpoint). */
export function rpc(url: string, method: string, params?: unknown, headers: Record<string, string> = {}) {
  return rpcTo(`${url}/mcp`, method, params, headers);
}

export function exec(url: string, command: string, args: string[] = [], headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) {
  return rpc(url, 'tools/call', { name: 'shell_execute', arguments: { command, arguments: args, ...extra } }, headers);
}

/** Pids whose command line contains `marker` (pgrep -f), excluding pgrep itself. */
export function pidsMatching(marker: string): number[] {
  const r = Bun.spawnSync(['pgrep', '-f', marker]);
  return r.stdout
    .toString()
    .split('\n')
    .filter((s) => s.trim() !== '')
    .map(Number);
}

/** Kills leftovers of a test by pid (only processes whose command line holds our marker). */
export function killMatching(marker: string): void {
  for (const pid of pidsMatching(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}


export function auditLines(file: string): Record<string, any>[] {
  const text = readFileSync(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

export { freePort } from '../helpers/free-port.ts';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses Prometheus text format 0.0.4 strictly enough to catch a malformed
 * exposition: HELP/TYPE comments, one TYPE per family before its samples,
 * label syntax with escapes, float values. Throws on anything else.
 */
export function parseProm(text: string): { samples: Sample[]; types: Map<string, string> } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|\+Inf|-Inf|NaN))(?: \d+)?$/;
  const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, name, type] = line.split(' ').slice(1);
      if (!name || !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type ?? '')) throw new Error(`bad TYPE line: ${line}`);
      if (types.has(name)) throw new Error(`TYPE declared twice: ${name}`);
      types.set(name, type!);
      continue;
    }
    if (line.startsWith('#') || line === '') continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const name = m[1]!;
    const labels: Record<string, string> = {};
    if (m[3]) {
      LABEL.lastIndex = 0;
      let at = 0;
      while (at < m[3].length) {
        LABEL.lastIndex = at;
        const l = LABEL.exec(m[3]);
        if (!l) throw new Error(`bad labels in: ${line}`);
        labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        at = LABEL.lastIndex;
      }
    }
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(family)) throw new Error(`sample before its TYPE: ${line}`);
    samples.push({ name, labels, value: Number(m[4]!.replace('+Inf', 'Infinity').replace('-Inf', '-Infinity')) });
  }
  return { samples, types };
}

/** The value of one sample whose labels include `labels`; 0 when absent. */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const hit = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hit.reduce((a, s) => a + s.value, 0);
}
