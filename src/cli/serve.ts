/** `hide serve`: the HTTP server. */
import { createHttpApp } from '../http/app.ts';
import { logger } from '../log.ts';
import { createRuntime } from '../runtime.ts';
import { VERSION } from '../version.ts';
import { loadForCommand, parseFlags } from './common.ts';

export const SERVE_USAGE = `Usage: hide serve [--host H] [--port P] [--config FILE] [--workspace DIR]

Serves MCP over Streamable HTTP at POST / and POST /mcp, and GET /health.
Default 127.0.0.1:5000. Settings: flags > environment (HIDE_*) > .env > --config file > defaults.`;

export async function runServe(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { host: { type: 'string' }, port: { type: 'string' }, config: { type: 'string' }, workspace: { type: 'string' } }, SERVE_USAGE);
  if (flags.help) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return 0;
  }
  const { config } = loadForCommand(flags);
  const rt = await createRuntime(config, { transport: 'http' });
  const app = createHttpApp(rt);
  const log = logger.withTag('serve');
  let server: ReturnType<typeof Bun.serve>;
  try {
    app.listen({ hostname: config.host, port: config.port, maxRequestBodySize: config.maxBodyBytes + 1024 });
    server = app.server!;
  } catch (err) {
    await rt.close();
    process.stderr.write(`hide: cannot listen on ${config.host}:${config.port}: ${(err as Error).message}\n`);
    return 1;
  }
  log.info(
    `hide ${VERSION} listening on http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${server.port} ` +
      `(workspace ${rt.confiner.workspace}, auth ${rt.keyStore ? 'on' : 'off'}, audit ${config.audit.enabled ? config.audit.file : 'off'})`,
  );
  if (!rt.keyStore) log.warn('API key authentication is off: any local process that can reach this port can run commands');

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) {
        await rt.close();
        process.exit(130);
      }
      stopping = true;
      log.info(`${signal} received, shutting down`);
      await server.stop(true);
      await rt.close();
      resolve();
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGHUP', () => {
      if (rt.keyStore) {
        const r = rt.keyStore.reload();
        if (!r.ok) log.error(`SIGHUP: keys file reload failed, keeping the last good keys: ${r.error}`);
        else log.info(`SIGHUP: keys reloaded (${r.clients} keys)`);
      }
    });
  });
  return 0;
}
