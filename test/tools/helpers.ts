/**
 * Helpers for the file-tool tests: a temp tree with a workspace and an
 * "outside" directory beside it, the real server built in-process exactly as
 * `hide serve` builds it (config → runtime → Elysia app on port 0), the
 * server as a child process, and JSON-RPC calls.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { createHttpApp } from '../../src/http/app.ts';
import { configureLogger } from '../../src/core/log.ts';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.ts';
import { rpc as rpcTo, tempDir } from '../helpers/server.ts';

export interface Tree {
  dir: string;
  ws: string;
  outside: string;
  audit: string;
  [Symbol.dispose](): void;
}

/** A fresh temp directory holding `ws/` (the workspace), `outside/` and the audit file path. */
export function tree(): Tree {
  const dir = tempDir('hide-files-');
  const ws = join(dir, 'ws');
  const outside = join(dir, 'outside');
  mkdirSync(ws);
  mkdirSync(outside);
  return { dir, ws, outside, audit: join(dir, 'audit.jsonl'), [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Server {
  url: string;
  rt: Runtime;
  call(name: string, args: Record<string, unknown>, headers?: Record<string, string>): Promise<ToolResult>;
  rpc(method: string, params?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export type ToolResult = Record<string, any> & { isError: boolean };

/** One JSON-RPC POST to `${url}/mcp` (the shared helper takes the full endpoint). */
export function rpcAt(url: string, method: string, params?: unknown, headers: Record<string, string> = {}) {
  return rpcTo(`${url}/mcp`, method, params, headers);
}

export async function callAt(url: string, name: string, args: Record<string, unknown>, headers: Record<string, string> = {}): Promise<ToolResult> {
  const r = await rpcAt(url, 'tools/call', { name, arguments: args }, headers);
  if (r.status !== 200 || !r.body?.result) throw new Error(`tools/call ${name}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
  return { ...(r.body.result.structuredContent as Record<string, any>), isError: r.body.result.isError as boolean };
}

/** The real server, in-process, on 127.0.0.1 and a free port, for workspace `t.ws`. */
export async function startServer(t: Tree, env: Record<string, string> = {}): Promise<Server> {
  const { config } = loadConfig({
    cwd: t.dir,
    env: {
      PATH: process.env.PATH,
      HIDE_WORKSPACE: t.ws,
      HIDE_AUDIT_LOG_FILE: t.audit,
      HIDE_RATE_LIMIT_ENABLED: 'false',
      HIDE_SANDBOX: 'off',
      HIDE_LOG_LEVEL: 'silent',
      ...env,
    },
  });
  configureLogger({ level: config.log.level, format: 'json' });
  const rt = await createRuntime(config, { transport: 'http' });
  const app = createHttpApp(rt).listen({ hostname: '127.0.0.1', port: 0, maxRequestBodySize: config.maxBodyBytes + 1024 });
  const url = `http://127.0.0.1:${app.server!.port}`;
  const stop = async () => {
    await app.server?.stop(true);
    await rt.close();
  };
  return {
    url,
    rt,
    call: (name, args, headers) => callAt(url, name, args, headers),
    rpc: (method, params, headers) => rpcAt(url, method, params, headers),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts');

export interface ServerProcess {
  url: string;
  proc: ReturnType<typeof Bun.spawn>;
  logs(): string;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * `bun run src/main.ts serve` as a child with exactly `env` (plus log
 * settings): the child's PATH is the server's PATH, which is what decides
 * whether ripgrep is found.
 */
export async function startServerProcess(t: Tree, env: Record<string, string>): Promise<ServerProcess> {
  const proc = Bun.spawn([process.execPath, 'run', MAIN, 'serve', '--port', '0'], {
    cwd: t.dir,
    env: {
      HIDE_WORKSPACE: t.ws,
      HIDE_AUDIT_LOG_FILE: t.audit,
      HIDE_RATE_LIMIT_ENABLED: 'false',
      HIDE_SANDBOX: 'off',
      HIDE_LOG_FORMAT: 'json',
      HIDE_LOG_LEVEL: 'info',
      ...env,
    },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  let text = '';
  let url: string | null = null;
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      url ??= /listening on (http:\/\/[^\s"\\]+)/.exec(text)?.[1] ?? null;
    }
  };
  const pumps = Promise.all([pump(proc.stdout as ReadableStream<Uint8Array>), pump(proc.stderr as ReadableStream<Uint8Array>)]);
  await waitFor(() => url !== null || proc.exitCode !== null, 20_000, 'the server to listen');
  if (url === null) throw new Error(`server exited (${proc.exitCode}): ${text}`);
  return {
    url,
    proc,
    logs: () => text,
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await proc.exited;
      await pumps;
    },
  };
}

import { waitFor } from '../helpers/wait.ts';

export { waitFor };

/** Audit lines as objects. */
export async function auditLines(file: string): Promise<any[]> {
  const f = Bun.file(file);
  if (!(await f.exists())) return [];
  return (await f.text())
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
}
