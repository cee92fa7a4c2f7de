/**
 * wrk, the load generator: installed from Debian when missing, driven with a
 * Lua script that sets the POST body and headers, and its report parsed into
 * numbers.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './proc.ts';

/** Path of wrk, installing the Debian package when it is not on PATH. */
export async function ensureWrk(): Promise<string> {
  const found = Bun.which('wrk');
  if (found) return found;
  const apt = Bun.which('apt-get');
  if (!apt) throw new Error('wrk is not installed and apt-get is not available');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run([apt, 'update'], { env, timeoutMs: 180_000 });
  await run([apt, 'install', '-y', 'wrk'], { env, timeoutMs: 180_000 });
  const after = Bun.which('wrk');
  if (!after) throw new Error('apt-get install wrk did not put wrk on PATH');
  return after;
}

/** Writes a wrk Lua script that POSTs `body` with `headers` on every request. */
export function writePostScript(dir: string, name: string, body: string, headers: Record<string, string>): string {
  const lua = (s: string) => JSON.stringify(s); // JSON string escapes are valid Lua escapes for ASCII
  const lines = ['wrk.method = "POST"', `wrk.body = ${lua(body)}`];
  for (const [k, val] of Object.entries(headers)) lines.push(`wrk.headers[${lua(k)}] = ${lua(val)}`);
  const path = join(dir, `${name}.lua`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

export interface WrkResult {
  requestsPerSec: number;
  p50Ms: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** Parses wrk's text report (run with --latency). */
export function parseWrk(text: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const p50 = /^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(text);
  const total = /(\d+) requests in/.exec(text);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  if (!rps || !total) throw new Error(`cannot parse wrk output:\n${text}`);
  return {
    requestsPerSec: Number(rps[1]),
    p50Ms: p50 ? Number(p50[1]) * (UNIT_MS[p50[2] as string] ?? Number.NaN) : Number.NaN,
    requests: Number(total[1]),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  };
}

/**
 * One wrk run against `url`. Refuses a result with non-2xx answers or socket
 * errors, since those would count refusals as throughput.
 */
export async function wrk(opts: { url: string; script: string; connections: number; seconds: number; threads?: number }): Promise<WrkResult> {
  const exe = await ensureWrk();
  const threads = Math.max(1, Math.min(opts.threads ?? 2, opts.connections));
  const secs = Math.max(1, Math.round(opts.seconds));
  const out = await run(
    [exe, `-t${threads}`, `-c${opts.connections}`, `-d${secs}s`, '--timeout', '10s', '--latency', '-s', opts.script, opts.url],
    { timeoutMs: (secs + 20) * 1000 },
  );
  const r = parseWrk(out);
  if (r.non2xx > 0 || r.socketErrors > 0) {
    throw new Error(`wrk saw ${r.non2xx} non-2xx answers and ${r.socketErrors} socket errors out of ${r.requests} requests`);
  }
  if (r.requests === 0) throw new Error('wrk completed no requests');
  return r;
}
