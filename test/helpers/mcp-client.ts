/**
 * The SDK's Client connected to the real server over HTTP (an in-process
 * server on a loopback port) or stdio (`hide stdio` from source as a child),
 * with a `call` that returns structuredContent plus isError.
 */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startServer, tempDir } from './server.ts';

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts');

export interface Connected {
  client: Client;
  workspace: string;
  dir: string;
  call(name: string, args: Record<string, unknown>): Promise<Record<string, any>>;
  close(): Promise<void>;
}

function wrap(client: Client): Connected['call'] {
  return async (name, args) => {
    const r = await client.callTool({ name, arguments: args });
    return { ...(r.structuredContent as Record<string, any>), isError: r.isError === true };
  };
}

export async function connectHttp(env: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Connected & { url: string }> {
  const server = await startServer(env);
  const client = new Client({ name: 'test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.mcpUrl), { requestInit: { headers } }));
  return {
    client,
    url: server.mcpUrl,
    workspace: server.workspace,
    dir: server.dir,
    call: wrap(client),
    async close() {
      await client.close();
      await server.stop();
    },
  };
}

export async function connectStdio(env: Record<string, string> = {}): Promise<Connected> {
  const dir = tempDir();
  const workspace = join(dir, 'ws');
  await Bun.write(join(workspace, '.keep'), '');
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [MAIN, 'stdio', '--workspace', workspace],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HIDE_LOG_LEVEL: 'error', HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'), HIDE_RATE_LIMIT_ENABLED: 'false', ...env },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'test', version: '1' });
  await client.connect(transport);
  return {
    client,
    workspace,
    dir,
    call: wrap(client),
    async close() {
      await client.close();
    },
  };
}
