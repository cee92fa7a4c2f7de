/**
 * MCP over stdio, for `hide stdio` and the npm peers: install the peers into
 * bench/.work (pinned, scripts off), then time start-to-first-`tools/list` and
 * `tools/call` round trips with the SDK's own Client and StdioClientTransport.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './proc.ts';
import { median } from './stats.ts';

export interface StdioTarget {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  /** Picks the tool and arguments that run `true`, from the server's tools/list. */
  pickCall(tools: { name: string; inputSchema: unknown }[]): { name: string; arguments: Record<string, unknown> };
}

interface Peer {
  pkg: string;
  version: string;
  entry: string;
}

export const PEERS: Record<string, Peer> = {
  'mcp-server-commands': { pkg: 'mcp-server-commands', version: '0.5.0', entry: 'build/index.js' },
  'desktop-commander': { pkg: '@wonderwhy-er/desktop-commander', version: '0.2.52', entry: 'dist/index.js' },
};

/**
 * Installs a peer into `workDir` unless that exact version is there; returns
 * the path of its entry script. `--ignore-scripts`: desktop-commander's
 * dependencies would otherwise download a browser, which the bench never uses.
 */
export async function installPeer(workDir: string, peer: Peer): Promise<string> {
  const dir = join(workDir, 'node_modules', peer.pkg);
  const installed = async () => {
    const f = Bun.file(join(dir, 'package.json'));
    return (await f.exists()) && ((await f.json()) as { version?: string }).version === peer.version;
  };
  if (!(await installed())) {
    const npm = Bun.which('npm');
    if (!npm) throw new Error('npm is not installed');
    await run([npm, 'install', '--prefix', workDir, '--save-exact', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', `${peer.pkg}@${peer.version}`], {
      timeoutMs: 240_000,
    });
    if (!(await installed())) throw new Error(`npm install ${peer.pkg}@${peer.version} left no package`);
  }
  const entry = join(dir, peer.entry);
  if (!existsSync(entry)) throw new Error(`${entry} missing`);
  return entry;
}

const hasTool = (tools: { name: string }[], name: string) => tools.some((t) => t.name === name);

/** The stdio target for a peer; it runs under `node`. */
export async function peerTarget(workDir: string, name: keyof typeof PEERS & string): Promise<StdioTarget> {
  const peer = PEERS[name];
  if (!peer) throw new Error(`unknown peer ${name}`);
  const node = Bun.which('node');
  if (!node) throw new Error('node is not installed');
  const entry = await installPeer(workDir, peer);
  const env = { ...(process.env as Record<string, string>) };
  if (name === 'desktop-commander') {
    // Keep it on loopback and out of the real home: its own telemetry switch,
    // feature flags pointed at a closed loopback port, config in a temp home.
    const home = join(workDir, 'dc-home');
    mkdirSync(join(home, '.claude-server-commander'), { recursive: true });
    writeFileSync(join(home, '.claude-server-commander', 'config.json'), JSON.stringify({ telemetryEnabled: false }));
    Object.assign(env, { HOME: home, DESKTOP_COMMANDER_DISABLE_TELEMETRY: '1', DC_FLAG_URL: 'http://127.0.0.1:9/flags.json' });
  }
  return {
    name,
    command: node,
    args: [entry],
    env,
    pickCall(tools) {
      if (hasTool(tools, 'run_command')) return { name: 'run_command', arguments: { command: 'true' } };
      if (hasTool(tools, 'run_process')) return { name: 'run_process', arguments: { command_line: 'true', mode: 'shell' } };
      if (hasTool(tools, 'execute_command')) return { name: 'execute_command', arguments: { command: 'true', timeout_ms: 10_000 } };
      if (hasTool(tools, 'start_process')) return { name: 'start_process', arguments: { command: 'true', timeout_ms: 10_000 } };
      throw new Error(`no command tool among ${tools.map((t) => t.name).join(', ')}`);
    },
  };
}

async function connect(t: StdioTarget): Promise<Client> {
  const client = new Client({ name: 'hide-bench', version: '0.0.0' });
  const transport = new StdioClientTransport({ command: t.command, args: t.args, env: t.env, cwd: t.cwd, stderr: 'ignore' });
  await withTimeout(client.connect(transport), 20_000, `${t.name}: connect`);
  return client;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Median time from spawning the server to its first tools/list answer. */
export async function stdioStartup(t: StdioTarget, starts: number, budgetMs: number): Promise<{ medianMs: number; n: number }> {
  const samples: number[] = [];
  const deadline = performance.now() + budgetMs;
  for (let i = 0; i < starts && (i === 0 || performance.now() < deadline); i++) {
    const t0 = performance.now();
    const client = await connect(t);
    try {
      const list = await withTimeout(client.listTools(), 20_000, `${t.name}: tools/list`);
      samples.push(performance.now() - t0);
      if (list.tools.length === 0) throw new Error(`${t.name}: empty tools/list`);
    } finally {
      await client.close();
    }
  }
  return { medianMs: median(samples), n: samples.length };
}

/** p50 of sequential `true` calls on one long-lived connection. */
export async function stdioCalls(t: StdioTarget, calls: number, budgetMs: number): Promise<{ p50Ms: number; n: number; tool: string }> {
  const client = await connect(t);
  try {
    const { tools } = await withTimeout(client.listTools(), 20_000, `${t.name}: tools/list`);
    const call = t.pickCall(tools);
    const once = async () => {
      const t0 = performance.now();
      const r = await withTimeout(client.callTool(call), 20_000, `${t.name}: ${call.name}`);
      const ms = performance.now() - t0;
      if (r.isError) throw new Error(`${t.name}: ${call.name} failed: ${JSON.stringify(r).slice(0, 300)}`);
      return ms;
    };
    for (let i = 0; i < 3; i++) await once();
    const samples: number[] = [];
    const deadline = performance.now() + budgetMs;
    for (let i = 0; i < calls && (i < 5 || performance.now() < deadline); i++) samples.push(await once());
    return { p50Ms: median(samples), n: samples.length, tool: call.name };
  } finally {
    await client.close();
  }
}
