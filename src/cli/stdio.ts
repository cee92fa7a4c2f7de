/** `hide stdio`: MCP over stdin/stdout; logs on stderr only. */
import { logger } from '../core/log.ts';
import { serveStdio } from '../mcp/stdio.ts';
import { createRuntime } from '../runtime/runtime.ts';
import { loadForCommand, parseFlags } from './common.ts';

export const STDIO_USAGE = `Usage: hide stdio [--config FILE] [--workspace DIR]

Serves the same MCP tools over stdin/stdout (newline-delimited JSON-RPC), for
clients that launch the server as a subprocess. stdout carries only MCP messages.`;

export async function runStdio(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { config: { type: 'string' }, workspace: { type: 'string' } }, STDIO_USAGE);
  if (flags.help) {
    process.stdout.write(`${STDIO_USAGE}\n`);
    return 0;
  }
  const { config, files } = loadForCommand(flags);
  const rt = await createRuntime(config, { transport: 'stdio', secretFiles: files });
  logger.withTag('stdio').debug(`serving MCP on stdio (workspace ${rt.confiner.workspace})`);
  const out = Bun.stdout.writer();
  const onSignal = async () => {
    await rt.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void onSignal());
  process.on('SIGINT', () => void onSignal());
  await serveStdio(rt.core, {
    input: Bun.stdin.stream(),
    write: (line) => {
      out.write(`${line}\n`);
      out.flush();
    },
    maxMessageBytes: config.maxBodyBytes,
  });
  await out.flush();
  await rt.close();
  return 0;
}
