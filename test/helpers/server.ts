/**
 * Starts the real server in-process on an ephemeral loopback port, with its
 * own temporary workspace and audit file, built exactly as `hide serve` builds
 * it (config loading → runtime → Elysia app).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { VERSION } from '../../src/core/version.ts';
import { createHttpApp } from '../../src/http/app.ts';
import { configureLogger } from '../../src/core/log.ts';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.ts';
import { tempDir } from './temp.ts';

export { tempDir } from './temp.ts';
export { waitFor } from './wait.ts';

export interface TestServer {
  url: string;
  mcpUrl: string;
  workspace: string;
  dir: string;
  auditFile: string;
  rt: Runtime;
  /** Requests the listening server has taken and not yet answered. */
  pendingRequests(): number;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}


export async function startServer(env: Record<string, string> = {}, opts: { cwd?: string; port?: number } = {}): Promise<TestServer> {
  const dir = tempDir();
  const workspace = join(dir, 'ws');
  await Bun.write(join(workspace, '.keep'), '');
  const auditFile = join(dir, 'audit.jsonl');
  const { config } = loadConfig({
    cwd: opts.cwd ?? dir,
    env: { PATH: process.env.PATH, HIDE_WORKSPACE: workspace, HIDE_AUDIT_LOG_FILE: auditFile, HIDE_RATE_LIMIT_ENABLED: 'false', HIDE_LOG_LEVEL: 'silent', ...env },
  });
  configureLogger({ level: config.log.level, format: 'json' });
  const rt = await createRuntime(config, { transport: 'http' });
  let app: ReturnType<ReturnType<typeof createHttpApp>['listen']>;
  try {
    app = createHttpApp(rt).listen({ hostname: '127.0.0.1', port: opts.port ?? 0 });
  } catch (err) {
    // A port asked for and taken meanwhile (EADDRINUSE): nothing of this server may linger for the caller's retry.
    await rt.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const url = `http://127.0.0.1:${app.server!.port}`;
  const stop = async () => {
    await app.server?.stop(true);
    await rt.close();
    rmSync(dir, { recursive: true, force: true });
  };
  const pendingRequests = () => app.server?.pendingRequests ?? 0;
  return { url, mcpUrl: `${url}/mcp`, workspace, dir, auditFile, rt, pendingRequests, stop, [Symbol.asyncDispose]: stop };
}

let nextId = 1;

/** How a request is framed: the handshake era (2025-11-25 and before) or 2026-07-28. */
export type TestEra = 'legacy' | 'modern';
export const ERAS: readonly TestEra[] = ['legacy', 'modern'];
export const MODERN = '2026-07-28';

/** The `_meta` a 2026-07-28 client puts in every request. */
export const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientInfo': { name: 'hide-tests', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

/** Params and headers of a request as a 2026-07-28 client sends it over HTTP. */
export function asModern(method: string, params: unknown, headers: Record<string, string> = {}) {
  const p = (params ?? {}) as Record<string, unknown>;
  const name: Record<string, string> = typeof p.name === 'string' ? { 'mcp-name': p.name } : {};
  return {
    params: { ...p, _meta: { ...MODERN_META, ...(p._meta as object | undefined) } },
    headers: { 'mcp-protocol-version': MODERN, 'mcp-method': method, ...name, ...headers },
  };
}

const isPlainObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);

/**
 * A raw request body and its headers as a client of `era` would send them, for
 * tests that write their own bodies. A message object gains what 2026-07-28
 * adds (the `_meta` in object-shaped params, MCP-Protocol-Version, and
 * Mcp-Method / Mcp-Name mirrored from the body, as `asModern`); anything that
 * is not a message (text that does not parse, an array, a scalar) is sent as
 * it is, with the MCP-Protocol-Version header such a client always sends. The
 * handshake era sends the message as it is. Headers given win over the framing's.
 *
 * @example
 * const { body, headers } = frame(era, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'content-type': 'application/json' });
 */
export function frame(era: TestEra, message: unknown, headers: Record<string, string> = {}): { body: string; headers: Record<string, string> } {
  const text = (m: unknown) => (typeof m === 'string' ? m : JSON.stringify(m));
  if (era === 'legacy') return { body: text(message), headers: { ...headers } };
  if (!isPlainObject(message)) {
    const body = Array.isArray(message) ? JSON.stringify(message.map((m) => JSON.parse(frame(era, m).body))) : text(message);
    return { body, headers: { 'mcp-protocol-version': MODERN, ...headers } };
  }
  const method = typeof message.method === 'string' ? message.method : null;
  const framed = asModern(method ?? '', isPlainObject(message.params) ? message.params : {});
  const { 'mcp-method': _method, ...routing } = framed.headers;
  const params = message.params === undefined || isPlainObject(message.params) ? framed.params : message.params;
  return {
    body: JSON.stringify({ ...message, params }),
    headers: { ...(method === null ? routing : framed.headers), ...headers },
  };
}

const SERVER_INFO = { name: 'hide', title: 'Headless IDE MCP', version: VERSION };

/** A result as `era` answers it: 2026-07-28 adds `resultType` and the server's identity in `_meta`. */
export function eraResult(era: TestEra, result: Record<string, unknown>): Record<string, unknown> {
  return era === 'legacy' ? result : { resultType: 'complete', _meta: { 'io.modelcontextprotocol/serverInfo': SERVER_INFO }, ...result };
}

/**
 * One JSON-RPC POST; returns status, headers, parsed body (or raw text) and
 * the id it sent. `era: 'modern'` frames it as 2026-07-28.
 */
export async function rpc(
  url: string,
  method: string,
  params?: unknown,
  headers: Record<string, string> = {},
  era: TestEra = 'legacy',
): Promise<{ status: number; headers: Headers; body: any; id: number }> {
  const id = nextId++;
  const request = frame(era, { jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }, headers);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...request.headers },
    body: request.body,
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: res.status, headers: res.headers, body, id };
}

/** tools/call and return structuredContent plus isError. */
export async function callTool(url: string, name: string, args: Record<string, unknown>, headers: Record<string, string> = {}, era: TestEra = 'legacy') {
  const r = await rpc(url, 'tools/call', { name, arguments: args }, headers, era);
  if (r.status !== 200 || !r.body?.result) throw new Error(`tools/call ${name} failed: ${r.status} ${JSON.stringify(r.body)}`);
  return { ...(r.body.result.structuredContent as Record<string, any>), isError: r.body.result.isError === true } as Record<string, any>;
}


/**
 * The JSON-RPC response to a tools/call whose arguments the tool's schema
 * refused: a tool result with `isError: true`, so the model can fix its call.
 */
export function inputErrorResponse(id: unknown, message: string, era: TestEra = 'legacy') {
  return {
    jsonrpc: '2.0',
    id,
    result: eraResult(era, { content: [{ type: 'text', text: JSON.stringify({ error: message }) }], structuredContent: { error: message }, isError: true }),
  };
}

/** The message of a tools/call answer that is an input error (a tool result with isError), or null. */
export function inputErrorOf(body: { result?: { isError?: boolean; structuredContent?: { error?: unknown } } }): string | null {
  const error = body.result?.isError === true ? body.result.structuredContent?.error : undefined;
  return typeof error === 'string' ? error : null;
}

/** The tool calls a server counts in flight, read from its /metrics (`url` is its base URL). */
export async function toolCallsInFlight(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^hide_tool_calls_in_flight (\d+)$/m.exec(text)?.[1] ?? 0);
}
