/**
 * Real MCP clients against the compiled binary, over Streamable HTTP
 * (`dist/hide serve`) and over stdio (`dist/hide stdio`): each lists the tools
 * and runs `shell_execute echo hi`.
 *
 * - the TypeScript SDK v1 Client (the 2025 initialize handshake);
 * - the SDK v2 client package in its default legacy mode, and pinned to
 *   protocol 2026-07-28 (no handshake: server/discover, then per-request _meta);
 * - the MCP Inspector CLI with `--protocol-era legacy` and `--protocol-era modern`
 *   (it needs Node >= 22.19: test/helpers/node.ts finds one).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as StdioV1 } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport as HttpV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpV2, type VersionNegotiationMode } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioV2 } from '@modelcontextprotocol/client/stdio';
import { ROOT, ensureBinary, startBinary } from '../helpers/binary.ts';
import { node22 } from '../helpers/node.ts';
import { tempDir } from '../helpers/server.ts';

const INSPECTOR = join(ROOT, 'node_modules', '@modelcontextprotocol', 'inspector', 'clients', 'launcher', 'build', 'index.js');
/** Safety kill for a spawned client that hangs; not a timing assertion. */
const CLIENT_KILL_MS = 60_000;

type Transport = 'http' | 'stdio';
type Era = 'legacy' | 'modern';

/** What a client saw: the tool names, the echo call's result, and the protocol version when the client tells it. */
interface Seen {
  tools: string[];
  call: { structuredContent?: Record<string, unknown>; isError?: boolean };
  protocolVersion?: string;
}

let dir: string;
let workspace: string;
let bin: string;
let server: Awaited<ReturnType<typeof startBinary>>;
let mcpUrl: string;

const ECHO = { name: 'shell_execute', arguments: { command: 'echo', arguments: ['hi'] } };
const stdioEnv = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HIDE_AUDIT_LOG_FILE: join(dir, 'audit-stdio.jsonl'), HIDE_LOG_LEVEL: 'error' });

beforeAll(async () => {
  dir = tempDir('hide-clients-');
  workspace = join(dir, 'ws');
  await Bun.write(join(workspace, 'README.txt'), 'clients\n');
  bin = await ensureBinary();
  server = await startBinary({ cwd: workspace, env: { HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'), HIDE_RATE_LIMIT_ENABLED: 'false' } });
  mcpUrl = `${server.url}/mcp`;
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await Bun.$`rm -rf ${dir}`.quiet().nothrow();
});

async function sdkV1(transport: Transport): Promise<Seen> {
  const client = new ClientV1({ name: 'hide-test-sdk-v1', version: '1.0.0' });
  const t =
    transport === 'http'
      ? new HttpV1(new URL(mcpUrl))
      : new StdioV1({ command: bin, args: ['stdio'], cwd: workspace, env: stdioEnv(), stderr: 'ignore' });
  await client.connect(t);
  try {
    const { tools } = await client.listTools();
    const call = (await client.callTool(ECHO)) as Seen['call'];
    return { tools: tools.map((x) => x.name), call };
  } finally {
    await client.close();
  }
}

function sdkV2(mode: VersionNegotiationMode) {
  return async (transport: Transport): Promise<Seen> => {
    const client = new ClientV2({ name: 'hide-test-sdk-v2', version: '1.0.0' }, { versionNegotiation: { mode } });
    const t =
      transport === 'http'
        ? new HttpV2(new URL(mcpUrl))
        : new StdioV2({ command: bin, args: ['stdio'], cwd: workspace, env: stdioEnv(), stderr: 'ignore' });
    await client.connect(t);
    try {
      const { tools } = await client.listTools();
      const call = (await client.callTool(ECHO)) as Seen['call'];
      return { tools: tools.map((x) => x.name), call, protocolVersion: client.getNegotiatedProtocolVersion() };
    } finally {
      await client.close();
    }
  };
}

/** One Inspector CLI run (it makes one request per run); returns its JSON output. */
async function inspectorRun(era: Era, transport: Transport, method: string[]): Promise<Record<string, unknown>> {
  // The mode flag comes first. The URL goes before the options (a variadic --tool-arg would take it as
  // one more key=value); the stdio command goes last, after "--".
  const stdio = ['--cwd', workspace, ...Object.entries(stdioEnv()).flatMap(([k, v]) => ['-e', `${k}=${v}`]), '--', bin, 'stdio'];
  const ordered =
    transport === 'http' ? ['--cli', mcpUrl, '--protocol-era', era, ...method] : ['--cli', '--protocol-era', era, ...method, ...stdio];
  const proc = Bun.spawn([await node22(), INSPECTOR, ...ordered], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, MCP_CATALOG_PATH: join(dir, 'inspector-catalog.json') },
    stdout: 'pipe',
    stderr: 'pipe',
    timeout: CLIENT_KILL_MS,
  });
  const [out, err, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
  let parsed: Record<string, unknown> | undefined;
  try {
    parsed = JSON.parse(out) as Record<string, unknown>;
  } catch {
    /* reported below */
  }
  if (code !== 0 || !parsed || 'error' in parsed) throw new Error(`inspector ${ordered.join(' ')} exited ${code}: ${out}\n${err}`);
  return parsed;
}

function inspector(era: Era) {
  return async (transport: Transport): Promise<Seen> => {
    const list = (await inspectorRun(era, transport, ['--method', 'tools/list'])) as { tools: { name: string }[] };
    const call = await inspectorRun(era, transport, [
      '--method',
      'tools/call',
      '--tool-name',
      'shell_execute',
      '--tool-arg',
      'command=echo',
      'arguments=["hi"]',
    ]);
    return { tools: list.tools.map((x) => x.name), call: call as Seen['call'] };
  };
}

const CLIENTS: { name: string; era: Era; run: (t: Transport) => Promise<Seen> }[] = [
  { name: 'SDK v1 Client (initialize handshake)', era: 'legacy', run: sdkV1 },
  { name: 'SDK v2 client, legacy mode', era: 'legacy', run: sdkV2('legacy') },
  { name: 'SDK v2 client pinned to 2026-07-28', era: 'modern', run: sdkV2({ pin: '2026-07-28' }) },
  { name: 'Inspector CLI --protocol-era legacy', era: 'legacy', run: inspector('legacy') },
  { name: 'Inspector CLI --protocol-era modern', era: 'modern', run: inspector('modern') },
];

for (const transport of ['http', 'stdio'] as const) {
  describe(`real clients over ${transport === 'http' ? 'Streamable HTTP (dist/hide serve)' : 'stdio (dist/hide stdio)'}`, () => {
    for (const c of CLIENTS) {
      test(`${c.name}: lists the tools and runs shell_execute echo hi`, async () => {
        const seen = await c.run(transport);
        expect(seen.tools).toContain('shell_execute');
        expect(seen.call.isError).toBe(false);
        expect(seen.call.structuredContent).toMatchObject({ stdout: 'hi\n', stderr: '', exitCode: 0, timedOut: false });
        if (seen.protocolVersion !== undefined) expect(seen.protocolVersion).toBe(c.era === 'modern' ? '2026-07-28' : '2025-11-25');
      }, 90_000);
    }
  });
}
