/**
 * Builds the long-lived services from a validated Config — confinement, exec,
 * tools, keys, IP filter, limiter, audit — once, for whichever transport runs.
 * Start-up refusals (DESIGN.md) are raised here as StartupError (exit 2).
 */
import { isIP } from 'node:net';
import type { Config } from './config/schema.ts';
import { CommandRunner } from './exec/runner.ts';
import type { Spawner } from './exec/spawner.ts';
import { logger, setLogRedactor } from './log.ts';
import { McpDispatcher } from './mcp/dispatcher.ts';
import { Lifecycle } from './ops/lifecycle.ts';
import { MeteredAudit, MeteredLimiter } from './ops/metered.ts';
import { Metrics } from './ops/metrics.ts';
import { AuditWriter, NullAudit } from './security/audit.ts';
import type { AuditSink } from './security/audit-event.ts';
import { IpFilter, isLoopback } from './security/ip.ts';
import { KeyStore } from './security/keys.ts';
import type { Limiter } from './security/limiter.ts';
import { MemoryLimiter } from './security/memory-limiter.ts';
import { OriginPolicy } from './security/origin.ts';
import { layerNames } from './sandbox/layers.ts';
import { type SandboxStatus, SandboxUnavailableError, setupSandbox } from './sandbox/setup.ts';
import { SecurityPipeline } from './security/pipeline.ts';
import { RedisLimiter } from './security/redis-limiter.ts';
import { Redactor } from './security/redact.ts';
import { availableToolsTool } from './tools/available-tools.ts';
import { checkFileExistsTool } from './tools/check-file.ts';
import { fileTools } from './tools/files/index.ts';
import { ToolRegistry } from './tools/registry.ts';
import { shellTools } from './tools/shell.ts';
import type { ToolDefinition } from './tools/types.ts';
import { Confiner } from './workspace/confine.ts';

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

export interface Runtime {
  config: Config;
  confiner: Confiner;
  runner: CommandRunner;
  registry: ToolRegistry;
  dispatcher: McpDispatcher;
  security: SecurityPipeline;
  keyStore: KeyStore | null;
  audit: AuditSink;
  limiter: Limiter;
  /** Operations: phase and readiness, metrics, audit reopen (SIGHUP). */
  ops: {
    lifecycle: Lifecycle;
    metrics: Metrics;
    reopenAudit(): void;
    /** Kills every running command (shutdown). */
    killChildren(): void;
  };
  sandbox: SandboxStatus;
  healthExtra(): Record<string, unknown>;
  close(): Promise<void>;
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  return isIP(host.replace(/^\[|\]$/g, '')) !== 0 && isLoopback(host.replace(/^\[|\]$/g, ''));
}

export function buildTools(config: Config, confiner: Confiner, runner: CommandRunner, spawner: Spawner): ToolDefinition[] {
  return [
    ...shellTools(runner, config.exec.maxTimeoutSeconds),
    availableToolsTool(runner, confiner.workspace),
    checkFileExistsTool(confiner),
    // ripgrep is looked up on the PATH commands get, once: the server's PATH decides which search engine runs.
    ...fileTools(confiner, { rgPath: Bun.which('rg', { PATH: runner.searchPath }) ?? null, spawner }),
  ];
}

export interface RuntimeOptions {
  transport: 'http' | 'stdio';
  /** Files the configuration was read from (.env, config file): commands must not be able to read them. */
  secretFiles?: readonly string[];
}

export async function createRuntime(config: Config, opts: RuntimeOptions): Promise<Runtime> {
  const log = logger.withTag('start');
  if (opts.transport === 'http' && !isLoopbackHost(config.host) && !config.auth.enabled) {
    if (!config.allowUnauthenticated) {
      throw new StartupError(
        `refusing to listen on non-loopback host ${config.host} with authentication off: anyone who can reach it could run commands. ` +
          'Enable keys (HIDE_AUTH_ENABLED=true with HIDE_API_KEY or HIDE_API_KEYS_FILE), bind to 127.0.0.1, ' +
          'or set HIDE_ALLOW_UNAUTHENTICATED=true to accept the risk.',
      );
    }
    log.warn(`listening on ${config.host} WITHOUT authentication (HIDE_ALLOW_UNAUTHENTICATED=true): anyone who can reach this port can run commands`);
  }

  if (opts.transport === 'stdio' && config.audit.enabled && config.audit.file === '-') {
    throw new StartupError('HIDE_AUDIT_LOG_FILE=- (stdout) cannot be used with `hide stdio`: stdout carries MCP messages; give a file path');
  }

  let confiner: Confiner;
  try {
    confiner = new Confiner(config.workspace, config.allowedPaths);
  } catch (err) {
    throw new StartupError(`workspace ${config.workspace} is not usable: ${(err as Error).message}`);
  }

  let keyStore: KeyStore | null = null;
  if (config.auth.enabled && opts.transport === 'http') {
    try {
      keyStore = new KeyStore({
        apiKey: config.auth.apiKey ?? null,
        file: config.auth.keysFile ?? null,
        onReload: (r) => {
          if (r.ok) {
            // A plaintext key added by the reload must be masked by value too.
            redactor.setSecrets(secretsOf(keyStore));
            logger.withTag('keys').info(`keys file reloaded: ${r.clients} keys`);
            audit.write({ event_type: 'keys_reloaded', correlation_id: null, client_id: null, client_ip: null, api_key_hash: null, user: null, tool_name: null, arguments: null, result: { keys: r.clients }, error: null });
          } else logger.withTag('keys').error(`keys file reload failed, keeping the last good keys: ${r.error}`);
        },
      });
    } catch (err) {
      throw new StartupError(`authentication is enabled but the keys cannot be loaded: ${(err as Error).message}`);
    }
    if (!keyStore.hasAnyKey()) {
      throw new StartupError(
        'authentication is enabled but no usable key is configured: set HIDE_API_KEY (or Authentication__ApiKey__Key) ' +
          'or HIDE_API_KEYS_FILE with at least one enabled client (create one with `hide keys generate --client-id NAME`)',
      );
    }
  }

  const secretsOf = (store: KeyStore | null) => [...(store?.knownSecrets() ?? []), ...(config.auth.apiKey ? [config.auth.apiKey] : [])];
  // The store also lets the redactor mask keys the keys file holds only as digests.
  const redactor = new Redactor(secretsOf(keyStore), { keyStore });
  setLogRedactor((s) => redactor.redactText(s));

  const metrics = new Metrics();
  const lifecycle = new Lifecycle();
  let writer: AuditWriter | NullAudit;
  try {
    writer = config.audit.enabled
      ? new AuditWriter({
          file: config.audit.file,
          redactor,
          onError: (err) => logger.withTag('audit').error(`audit log write failed: ${err.message}`),
          chain: true,
          maxBytes: config.audit.maxBytes,
          keep: config.audit.keep,
        })
      : new NullAudit();
  } catch (err) {
    throw new StartupError(`audit log ${config.audit.file} cannot be opened: ${(err as Error).message}`);
  }
  // Every tool call, denial and refusal is audited, so metrics count them on the way through.
  const audit: AuditSink = new MeteredAudit(writer, metrics);

  let ipFilter: IpFilter;
  try {
    ipFilter = new IpFilter({ allow: config.allowedClientIps, trustedProxies: config.trustedProxies });
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
  let store: RedisLimiter | null = null;
  if (config.rateLimit.store === 'redis' && config.rateLimit.enabled) {
    if (!config.rateLimit.redisUrl) throw new StartupError('HIDE_RATE_LIMIT_STORE=redis needs HIDE_REDIS_URL (e.g. redis://redis:6379)');
    store = new RedisLimiter({ ...config.rateLimit, url: config.rateLimit.redisUrl }, logger.withTag('limits'));
    // Not fatal when down: /ready says so (deny) and the limiter keeps reconnecting.
    await store.ready();
    if (config.rateLimit.onStoreError === 'deny') {
      const s = store;
      lifecycle.addCheck(() => (s.available ? null : 'rate-limit store unavailable'));
    }
  }
  const limiter = new MeteredLimiter(store ?? new MemoryLimiter(config.rateLimit), metrics);
  let spawner: Spawner | null = null;
  metrics.collect({ name: 'hide_child_processes', type: 'gauge', help: 'Command process groups alive.', value: () => spawner?.running ?? 0 });
  metrics.collect({ name: 'hide_audit_lines_written_total', type: 'counter', help: 'Audit lines handed to the OS.', value: () => writer.linesWritten });
  metrics.collect({
    name: 'hide_audit_lines_dropped_total',
    type: 'counter',
    help: 'Audit lines lost to write errors.',
    value: () => (writer instanceof AuditWriter ? writer.linesDropped : 0),
  });
  metrics.collect({ name: 'hide_ready', type: 'gauge', help: '1 when /ready answers 200.', value: () => (lifecycle.readiness().ready ? 1 : 0) });
  if (store) {
    const s = store;
    metrics.collect({ name: 'hide_rate_limit_store_up', type: 'gauge', help: '1 when the Redis limit store answers.', value: () => (s.available ? 1 : 0) });
  }
  const security = new SecurityPipeline({
    authEnabled: keyStore !== null,
    keyStore,
    ipFilter,
    origins: new OriginPolicy(config.allowedOrigins, isLoopbackHost(config.host)),
    limiter,
    audit,
  });

  let sandbox: Awaited<ReturnType<typeof setupSandbox>>;
  try {
    sandbox = await setupSandbox(config, confiner.roots, opts.secretFiles ?? []);
  } catch (err) {
    if (err instanceof SandboxUnavailableError) throw new StartupError(err.message);
    throw err;
  }
  spawner = sandbox.spawner;
  const runner = new CommandRunner(
    {
      defaultTimeoutSeconds: config.exec.defaultTimeoutSeconds,
      maxTimeoutSeconds: config.exec.maxTimeoutSeconds,
      maxOutputBytes: config.exec.maxOutputBytes,
      allowed: config.exec.allowedCommands,
      denied: config.exec.deniedCommands,
      envPassthrough: config.exec.envPassthrough,
    },
    confiner,
    sandbox.spawner,
  );
  const registry = new ToolRegistry(buildTools(config, confiner, runner, sandbox.spawner), config.readOnly);
  const dispatcher = new McpDispatcher(registry, security);
  keyStore?.watch();

  return {
    config,
    confiner,
    runner,
    registry,
    dispatcher,
    security,
    keyStore,
    audit,
    limiter,
    ops: {
      lifecycle,
      metrics,
      reopenAudit: () => {
        if (writer instanceof AuditWriter) writer.reopen();
      },
      killChildren: () => sandbox.spawner.killAll(),
    },
    sandbox: sandbox.status,
    healthExtra: () => ({ sandbox: sandbox.status.active ? 'on' : 'off', landlockAbi: sandbox.status.abi, sandboxLayers: sandbox.status.active && sandbox.status.layers ? layerNames(sandbox.status.layers) : [] }),
    async close() {
      await sandbox.spawner.close();
      keyStore?.close();
      await limiter.close();
      await audit.flush();
      await audit.close();
    },
  };
}
