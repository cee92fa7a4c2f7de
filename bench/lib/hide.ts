/**
 * `dist/hide` under the bench: a temporary config directory (keys file,
 * config file, workspace, audit log), the environment that turns the whole
 * security pipeline on, start-up on loopback, and JSON-RPC helpers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, spawnLogged, waitFor200, type Started } from './proc.ts';

/** The binary under test; `HIDE_BENCH_BIN` points the bench at another build. */
export const HIDE_BIN = process.env.HIDE_BENCH_BIN ? resolve(process.env.HIDE_BENCH_BIN) : resolve(import.meta.dir, '../../dist/hide');

export const MCP_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' } as const;

export interface HideSetup {
  dir: string;
  workspace: string;
  configFile: string;
  keysFile: string;
  auditFile: string;
  /** The key of client `bench`. */
  apiKey: string;
  /** Extra clients' keys (client ids `c0`, `c1`, …), when asked for. */
  extraKeys: string[];
  env: Record<string, string>;
}

const dirs: string[] = [];

/** Deletes every config directory `setupHide` made (audit logs can be tens of MB). */
export function removeSetups(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

const newKey = (): string => randomBytes(32).toString('base64url');

/**
 * Writes a fresh config directory. `clients` adds that many extra clients,
 * stored as `api_key_sha256` as `hide keys generate` would.
 */
/**
 * A config dir for one hide instance. Issue-5 rows compare against baselines
 * that run commands unconfined, so they run hide with the sandbox off; the
 * sandbox rows (scenarios/sandbox.ts) measure its cost against that.
 */
export function setupHide(opts: { audit?: boolean; clients?: number; name?: string; sandbox?: 'off' | 'required' } = {}): HideSetup {
  const dir = mkdtempSync(join(tmpdir(), `hide-bench-${opts.name ?? 'x'}-`));
  dirs.push(dir);
  const workspace = join(dir, 'ws');
  mkdirSync(workspace);
  writeFileSync(join(workspace, 'README.md'), 'bench workspace\n');
  const apiKey = newKey();
  const extraKeys = Array.from({ length: opts.clients ?? 0 }, newKey);
  const clients = [
    { client_id: 'bench', description: 'bench', enabled: true, api_key: apiKey },
    ...extraKeys.map((k, i) => ({
      client_id: `c${i}`,
      enabled: true,
      api_key_sha256: createHash('sha256').update(k).digest('hex'),
    })),
  ];
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify({ clients }));
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ log: { level: 'info', format: 'json' } }));
  const auditFile = join(dir, 'audit.jsonl');
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k, val]) => !k.startsWith('HIDE_') && val !== undefined)) as Record<string, string>;
  const env: Record<string, string> = {
    ...inherited,
    HIDE_AUTH_ENABLED: 'true',
    HIDE_API_KEYS_FILE: keysFile,
    HIDE_ALLOWED_CLIENT_IPS: '127.0.0.1/32,::1',
    HIDE_RATE_LIMIT_RPM: '100000000',
    HIDE_RATE_LIMIT_CONCURRENT: '1000',
    HIDE_AUDIT_LOG_FILE: auditFile,
    HIDE_WORKSPACE: workspace,
    HIDE_SANDBOX: opts.sandbox ?? 'off',
  };
  if (opts.audit === false) env.HIDE_AUDIT_LOG_ENABLED = 'false';
  return { dir, workspace, configFile, keysFile, auditFile, apiKey, extraKeys, env };
}

export interface RunningHide extends Started {
  port: number;
  base: string;
  mcpUrl: string;
  pid: number;
  /** performance.now() at spawn and at the first /health 200. */
  spawnedAt: number;
  readyAt: number;
}

/** Starts `dist/hide serve` on a free loopback port (or the one given) and waits for /health. */
export async function startHide(setup: HideSetup, timeoutMs = 15_000, port = freePort()): Promise<RunningHide> {
  const spawnedAt = performance.now();
  const started = spawnLogged([HIDE_BIN, 'serve', '--host', '127.0.0.1', '--port', String(port), '--config', setup.configFile], {
    cwd: setup.dir,
    env: setup.env,
    logBase: join(setup.dir, `serve-${port}`),
  });
  const base = `http://127.0.0.1:${port}`;
  let readyAt: number;
  try {
    readyAt = await waitFor200(`${base}/health`, started.proc, timeoutMs);
  } catch (e) {
    await started.stop();
    throw new Error(`dist/hide serve did not become healthy: ${(e as Error).message}\n${started.logTail()}`);
  }
  return { ...started, port, base, mcpUrl: `${base}/mcp`, pid: started.proc.pid, spawnedAt, readyAt };
}

let rpcId = 0;
/** A JSON-RPC request body. */
export const rpcBody = (method: string, params?: unknown, id: number = ++rpcId): string =>
  JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });

export const callBody = (name: string, args: unknown, id?: number): string => rpcBody('tools/call', { name, arguments: args }, id);

/** Which revision a request speaks: the handshake era (2025-11-25, no framing needed) or 2026-07-28. */
export type Era = 'legacy' | 'modern';
export const MODERN_VERSION = '2026-07-28';

/** The `_meta` a 2026-07-28 client puts in every request. */
export const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
  'io.modelcontextprotocol/clientInfo': { name: 'hide-bench', version: '0.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

/**
 * A request body and the extra HTTP headers for `era`: under 2026-07-28 the
 * params carry `_meta`, and the headers mirror the version, the method and
 * (for tools/call) the tool name.
 */
export function framed(era: Era, method: string, params: Record<string, unknown> | undefined, id: number): { body: string; headers: Record<string, string> } {
  if (era === 'legacy') return { body: rpcBody(method, params, id), headers: {} };
  const headers: Record<string, string> = { 'MCP-Protocol-Version': MODERN_VERSION, 'Mcp-Method': method };
  if (typeof params?.name === 'string') headers['Mcp-Name'] = params.name;
  return { body: rpcBody(method, { ...params, _meta: MODERN_META }, id), headers };
}

/**
 * Throws unless `result` is shaped for `era`: a 2026-07-28 result carries
 * `resultType`, a handshake-era one does not. Run before measuring, so a row
 * never compares two answers of the same era.
 */
export function assertEra(result: any, era: Era, what: string): void {
  const modern = typeof result?.resultType === 'string';
  if (modern !== (era === 'modern')) throw new Error(`${what}: expected a ${era} answer, got ${JSON.stringify(result).slice(0, 200)}`);
}

/**
 * Parses an MCP HTTP answer that may be JSON or a one-event SSE stream.
 */
export function parseMcpAnswer(text: string): { result?: any; error?: any } {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) return JSON.parse(trimmed);
  const data = trimmed
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trim())
    .join('');
  return JSON.parse(data);
}

/** One POST to /mcp; throws unless HTTP 200 with a JSON-RPC result. */
export async function post(
  url: string,
  key: string,
  body: string,
  timeoutMs = 30_000,
  headers: Record<string, string> = {},
): Promise<{ raw: Uint8Array; contentType: string; result: any }> {
  const res = await fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, 'X-API-Key': key, ...headers }, body, signal: AbortSignal.timeout(timeoutMs) });
  const raw = new Uint8Array(await res.arrayBuffer());
  const text = new TextDecoder().decode(raw);
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text.slice(0, 300)}`);
  const msg = parseMcpAnswer(text);
  if (msg.error) throw new Error(`JSON-RPC error: ${JSON.stringify(msg.error).slice(0, 300)}`);
  return { raw, contentType: res.headers.get('content-type') ?? 'application/json', result: msg.result };
}

/** Checks that a tools/call result is a success with exit code 0. */
export function assertOkCall(result: any, what: string): void {
  const sc = result?.structuredContent;
  if (result?.isError || (sc && typeof sc.exitCode === 'number' && sc.exitCode !== 0)) {
    throw new Error(`${what} failed: ${JSON.stringify(result).slice(0, 300)}`);
  }
}
