#!/usr/bin/env bun
/** Entry point: `hide <command> [flags]`, one command per file in src/cli/. */
import { runAudit } from './cli/audit.ts';
import { runCheckConfig } from './cli/check-config.ts';
import { runCommand } from './cli/common.ts';
import { runHealth } from './cli/health.ts';
import { runKeys } from './cli/keys.ts';
import { runServe } from './cli/serve.ts';
import { runStdio } from './cli/stdio.ts';
import { LAUNCHER_COMMAND, runLauncher } from './sandbox/launcher.ts';
import { VERSION } from './version.ts';

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
  serve: runServe,
  stdio: runStdio,
  keys: runKeys,
  audit: runAudit,
  'check-config': runCheckConfig,
  health: runHealth,
  version: async () => {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') return commands.version!(rest);
  if (name === LAUNCHER_COMMAND) {
    // Internal: the sandbox launcher the server starts (src/sandbox/launcher.ts).
    await runLauncher();
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`hide: unknown command '${name}'\n\n${USAGE}\n`);
    return 2;
  }
  return runCommand(() => command(rest));
}

process.exitCode = await main(process.argv.slice(2));
