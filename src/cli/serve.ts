/**
 * `hide serve`: the HTTP server, its optional metrics listener, and the
 * signals — SIGTERM/SIGINT drain and stop (src/ops/shutdown.ts), SIGHUP
 * reloads the keys file and reopens the audit log (external logrotate).
 */
import { createHttpApp } from '../http/app.ts';
import { metricsHandler, metricsListenerFetch } from '../http/routes/metrics.ts';
import { logger } from '../core/log.ts';
import { Shutdown } from '../ops/shutdown.ts';
import { createRuntime, isLoopbackHost } from '../runtime/runtime.ts';
import { VERSION } from '../core/version.ts';
import { loadForCommand, parseFlags } from './common.ts';

export const SERVE_USAGE = `Usage: hide serve [--host H] [--port P] [--config FILE] [--workspace DIR]

Serves MCP over Streamable HTTP at POST / and POST /mcp, GET /health, GET /ready
and GET /metrics (on HIDE_METRICS_PORT when set).
Default 127.0.0.1:5000. Settings: flags > environment (HIDE_*) > .env > --config file > defaults.
SIGTERM/SIGINT: drain for HIDE_SHUTDOWN_GRACE_SECONDS, then stop; a second signal stops at once.
SIGHUP: reload the keys file and reopen the audit log.`;

export async function runServe(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { host: { type: 'string' }, port: { type: 'string' }, config: { type: 'string' }, workspace: { type: 'string' } }, SERVE_USAGE);
  if (flags.help) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return 0;
  }
  const { config, files, sources } = loadForCommand(flags);
  const rt = await createRuntime(config, { transport: 'http', secretFiles: files, keysFileByDefault: sources['auth.keysFile'] === 'default' });
  const app = createHttpApp(rt);
  const log = logger.withTag('serve');
  const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
  let server: ReturnType<typeof Bun.serve>;
  let metricsServer: ReturnType<typeof Bun.serve> | null = null;
  try {
    // The body limit is ours (http/plugins/body-limit.ts): a declared length is refused before the body is read, a
    // chunked body as it is counted, both with the JSON-RPC 413. The runtime's own limit would answer first, a bare 413
    // with no body, or fail a chunked read half-way; a body no route reads is discarded as it arrives, never held.
    app.listen({ hostname: config.host, port: config.port, maxRequestBodySize: Number.MAX_SAFE_INTEGER });
    server = app.server!;
    if (config.metrics.port !== undefined) {
      const handle = metricsHandler(rt.ops.metrics, config.metrics.token);
      // Bound to loopback, a page whose name was rebound here could read it; bound elsewhere, scrapers address it by
      // its IP (Prometheus's Host for a pod or a static target), which a configured host list would refuse.
      const fetch = isLoopbackHost(config.host) ? metricsListenerFetch(handle, rt.security) : handle;
      metricsServer = Bun.serve({ hostname: config.host, port: config.metrics.port, reusePort: false, fetch });
    }
  } catch (err) {
    await app.server?.stop(true);
    await rt.close();
    process.stderr.write(`hide: cannot listen on ${config.host}:${config.port}: ${(err as Error).message}\n`);
    return 1;
  }
  const shutdown = new Shutdown({
    lifecycle: rt.ops.lifecycle,
    graceMs: config.shutdownGraceSeconds * 1000,
    pending: () => server.pendingRequests,
    killChildren: () => rt.ops.killChildren(),
    stopServers: async (force) => {
      await Promise.all([server.stop(force), metricsServer?.stop(force)]);
    },
    close: () => rt.close(),
    flushAudit: () => {
      rt.ops.recordUnfinishedCalls();
      rt.audit.flush();
    },
    log,
    exit: (code) => process.exit(code),
  });

  // Caught before the line that says the server listens: whoever waits for that line may signal at once.
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => void shutdown.signal(signal).then(resolve);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    process.on('SIGHUP', () => {
      rt.ops.reopenAudit();
      // The key store reports the outcome (log line, audit event, redactor update).
      rt.keyStore?.reload();
    });
  });
  rt.ops.lifecycle.markReady();
  const authLabel = config.auth.mode === 'oauth' ? 'oauth' : config.auth.mode === 'both' ? 'api keys + oauth' : rt.keyStore ? 'api keys' : 'off';
  log.info(
    `hide ${VERSION} listening on http://${hostForUrl}:${server.port} ` +
      `(workspace ${rt.confiner.workspace}, auth ${authLabel}, audit ${config.audit.enabled ? config.audit.file : 'off'}, ` +
      `limits ${config.rateLimit.enabled ? config.rateLimit.store : 'off'})`,
  );
  if (metricsServer) log.info(`metrics on http://${hostForUrl}:${metricsServer.port}/metrics`);
  // Off is the default on loopback, and the line above says so; a bind
  // beyond loopback without auth is refused or warned about at start-up.

  await stopped;
  // Something left holding the event loop (a socket, a timer) must not keep a stopped server alive.
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
