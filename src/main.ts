#!/usr/bin/env bun
/** Entry point: `hide <command> [flags]`, one command per file in src/cli/. */
import { VERSION } from './core/version.ts';

import { LAUNCHER_COMMAND, SUPERVISED_COMMAND } from './sandbox/launcher-argv.ts';

// Commands load on demand: start-up time is measured, and `hide health` or
// the sandbox launcher should not pay for Elysia.

const USAGE = `hide ${VERSION} — Headless IDE MCP: run commands and edit files in a workspace for AI agents, over MCP.

Usage: hide <command> [options]

Commands:
  serve          HTTP server (MCP Streamable HTTP at POST / and /mcp, GET /health)
  stdio          MCP over stdin/stdout
  keys           generate | list API keys in the keys file
  audit          verify the audit log's hash chain | query events
  check-config   validate settings and print the effective config (secrets masked)
  health         probe a running server's /health (exit 0 when healthy)
  version        print the version

Run 'hide <command> --help' for a command's options.`;

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  serve: async (argv) => (await import('./cli/serve.ts')).runServe(argv),
  stdio: async (argv) => (await import('./cli/stdio.ts')).runStdio(argv),
  keys: async (argv) => (await import('./cli/keys.ts')).runKeys(argv),
  audit: async (argv) => (await import('./cli/audit.ts')).runAudit(argv),
  'check-config': async (argv) => (await import('./cli/check-config.ts')).runCheckConfig(argv),
  health: async (argv) => (await import('./cli/health.ts')).runHealth(argv),
  version: async (argv) => {
    // As every other command refuses what it does not take.
    if (argv.length > 0) {
      process.stderr.write(`hide: version takes no arguments; got '${argv[0]!.slice(0, 100)}'\n`);
      return 2;
    }
    process.stdout.write(`${VERSION}\n`);
    return 0;
  },
};

/** The commands that serve clients, and so run commands: under a supervisor where that is needed (src/sandbox/supervisor.ts). */
const SERVING = new Set(['serve', 'stdio']);

async function main(argv: string[], supervised = false): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') return commands.version!(rest);
  if (name === LAUNCHER_COMMAND) {
    // Internal: the sandbox launcher the server starts (src/sandbox/launcher.ts).
    await (await import('./sandbox/launcher.ts')).runLauncher();
    return 0;
  }
  if (name === SUPERVISED_COMMAND) {
    // Internal: the server a supervisor started, `__supervised <supervisor pid> <command> [flags]`.
    const [supervisor, ...inner] = rest;
    const { followSupervisor } = await import('./sandbox/supervisor.ts');
    if (!followSupervisor(Number(supervisor))) {
      process.stderr.write('hide: the supervisor that started this server is gone; not starting\n');
      return 1;
    }
    return main(inner, true);
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`hide: unknown command '${name}'\n\n${USAGE}\n`);
    return 2;
  }
  if (!supervised && SERVING.has(name) && !rest.some((flag) => flag === '--help' || flag === '-h')) {
    const { supervise, wantsSupervisor } = await import('./sandbox/supervisor.ts');
    if (wantsSupervisor()) return supervise(argv);
  }
  const { runCommand } = await import('./cli/common.ts');
  return runCommand(() => command(rest));
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  // Never let the runtime print its own crash report (it quotes bundled source).
  process.stderr.write(`hide: ${err instanceof Error ? err.message : String(err)}\n`);
  if (process.env.HIDE_LOG_LEVEL === 'debug' && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
}
