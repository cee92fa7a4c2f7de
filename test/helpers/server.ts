/**
 * Starts the real server in-process on an ephemeral loopback port, with its
 * own temporary workspace and audit file, built exactly as `hide serve` builds
 * it (config loading → runtime → Elysia app).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
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
  const app = createHttpApp(rt).listen({ hostname: '127.0.0.1', port: opts.port ?? 0 });
  const url = `http://127.0.0.1:${app.server!.port}`;
  const stop = async () => {
    await app.server?.stop(true);
    await rt.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { url, mcpUrl: `${url}/mcp`, workspace, dir, auditFile, rt, stop, [Symbol.asyncDispose]: stop };
}

let nextId = 1;

/** One JSON-RPC POST; returns status, headers and parsed body (or raw text). */
export async function rpc(
  url: string,
  method: string,
  params?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, ...(params === undefined ? {} : { params }) }),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: res.status, headers: res.headers, body };
}

/** tools/call and return structuredContent plus isError. */
export async function callTool(url: string, name: string, args: Record<string, unknown>, headers: Record<string, string> = {}) {
  const r = await rpc(url, 'tools/call', { name, arguments: args }, headers);
  if (r.status !== 200 || !r.body?.result) throw new Error(`tools/call ${name} failed: ${r.status} ${JSON.stringify(r.body)}`);
  return { ...(r.body.result.structuredContent as Record<string, any>), isError: r.body.result.isError as boolean } as Record<string, any>;
}

