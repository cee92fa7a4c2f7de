/**
 * shell_get_available_tools: which common developer CLIs this server can run,
 * with their versions. Probing spawns each tool, so the answer is cached for a
 * minute: it is asked often and changes rarely.
 */
import * as v from 'valibot';
import type { CommandRunner } from '../exec/runner.ts';
import { defineTool, type ToolDefinition, toolArguments, toolOutput } from './types.ts';

const CANDIDATES: ReadonlyArray<{ name: string; description: string; versionArgs: string[] }> = [
  { name: 'git', description: 'Version control', versionArgs: ['--version'] },
  { name: 'rg', description: 'ripgrep: fast recursive search', versionArgs: ['--version'] },
  { name: 'grep', description: 'Pattern search', versionArgs: ['--version'] },
  { name: 'jq', description: 'JSON processor', versionArgs: ['--version'] },
  { name: 'sh', description: 'POSIX shell', versionArgs: ['-c', 'echo available'] },
  { name: 'bash', description: 'Bash shell', versionArgs: ['--version'] },
  { name: 'node', description: 'Node.js runtime', versionArgs: ['--version'] },
  { name: 'npm', description: 'Node.js package manager', versionArgs: ['--version'] },
  { name: 'bun', description: 'Bun runtime and package manager', versionArgs: ['--version'] },
  { name: 'python3', description: 'Python 3', versionArgs: ['--version'] },
  { name: 'dotnet', description: '.NET SDK', versionArgs: ['--version'] },
  { name: 'go', description: 'Go toolchain', versionArgs: ['version'] },
  { name: 'cargo', description: 'Rust package manager', versionArgs: ['--version'] },
  { name: 'make', description: 'Build tool', versionArgs: ['--version'] },
  { name: 'gcc', description: 'C compiler', versionArgs: ['--version'] },
  { name: 'curl', description: 'HTTP client', versionArgs: ['--version'] },
  { name: 'tree', description: 'Directory tree listing', versionArgs: ['--version'] },
];

const ProbedTool = v.object({
  name: v.string(),
  description: v.string(),
  available: v.pipe(v.boolean(), v.description('Found on PATH and allowed to run here.')),
  version: v.pipe(v.nullable(v.string()), v.description('First line of its version output; null when not found.')),
});

export const availableToolsOutput = toolOutput({
  tools: v.array(ProbedTool),
  workspacePath: v.pipe(v.string(), v.description('Absolute path of the workspace commands run in.')),
});

const CACHE_MS = 60_000;
/**
 * Probes run for no client (their answer is cached for all): an owner no
 * client id can equal, so no client's commands share their sandbox.
 */
const PROBE_OWNER = '\u0000version-probe';

export function availableToolsTool(runner: CommandRunner, workspacePath: string): ToolDefinition {
  let cached: { at: number; value: Promise<Array<v.InferOutput<typeof ProbedTool>>> } | undefined;

  async function probe(): Promise<Array<v.InferOutput<typeof ProbedTool>>> {
    return Promise.all(
      CANDIDATES.map(async (c) => {
        const found = runner.programOutside(c.name);
        if (!found) return { name: c.name, description: c.description, available: false, version: null };
        // Outside the workspace: a read-only client asks for this, and a toolchain file or a HOME config there
        // (rust-toolchain.toml, ~/.rustup, go.env, global.json) could otherwise pick a program for it to run.
        const r = await runner.run({ owner: PROBE_OWNER, command: c.name, arguments: c.versionArgs, timeoutSeconds: 5, outsideWorkspace: true });
        const firstLine = (r.stdout || r.stderr).split('\n').find((l) => l.trim() !== '')?.trim() ?? null;
        // A denied tool exists but cannot be used through this server.
        return { name: c.name, description: c.description, available: r.spawnError === null, version: firstLine };
      }),
    );
  }

  return defineTool({
    name: 'shell_get_available_tools',
    title: 'List available CLI tools',
    description:
      'List common developer command-line tools (git, rg, jq, node, python3, dotnet, ...) with whether each can be run ' +
      'here and its version, plus the workspace path. Call this first to learn what shell_execute can use.',
    inputSchema: toolArguments({}),
    outputSchema: availableToolsOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    readOnly: true,
    async handler() {
      if (!cached || performance.now() - cached.at > CACHE_MS) {
        const entry = { at: performance.now(), value: probe() };
        cached = entry;
        // A probe refused (no sandbox launcher free) refuses its callers; the next call probes again.
        entry.value.catch(() => {
          if (cached === entry) cached = undefined;
        });
      }
      const tools = await cached.value;
      return { structured: { tools, workspacePath, error: null }, isError: false, auditResult: { count: tools.length } };
    },
  });
}
