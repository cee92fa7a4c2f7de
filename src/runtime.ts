/**
 * Builds the long-lived services from a validated Config — confinement, exec,
 * tools, keys, IP filter, limiter, audit — once, for whichever transport runs.
 * Start-up refusals (DESIGN.md) are raised here as StartupError (exit 2).
 */
import { isIP } from 'node:net';
import type { Config } from './config/schema.ts';
import { CommandRunner } from './exec/runner.ts';
import { killAllGroups } from './exec/spawn.ts';
import { logger, setLogRedactor } from './log.ts';
import { McpDispatcher } from './mcp/dispatcher.ts';
import { AuditWriter, NullAudit } from './security/audit.ts';
import type { AuditSink } from './security/audit-event.ts';
import { IpFilter, isLoopback } from './security/ip.ts';
import { KeyStore } from './security/keys.ts';
import type { Limiter } from './security/limiter.ts';
import { MemoryLimiter } from './security/memory-limiter.ts';
import { OriginPolicy } from './security/origin.ts';
import { SecurityPipeline } from './security/pipeline.ts';
import { Redactor } from './security/redact.ts';
import { availableToolsTool } from './tools/available-tools.ts';
import { checkFileExistsTool } from './tools/check-file.ts';
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
  healthExtra(): Record<string, unknown>;
  close(): Promise<void>;
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  return isIP(host.replace(/^\[|\]$/g, '')) !== 0 && isLoopback(host.replace(/^\[|\]$/g, ''));
}

export function buildTools(config: Config, confiner: Confiner, runner: CommandRunner): ToolDefinition[] {
  return [
    ...shellTools(runner, config.exec.maxTimeoutSeconds),
    availableToolsTool(runner, confiner.workspace),
    checkFileExistsTool(confiner),
  ];
}

export async function createRuntime(config: Config, opts: { transport: 'http' | 'stdio' }): Promise<Runtime> {
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
  const redactor = new Redactor(secretsOf(keyStore));
  setLogRedactor((s) => redactor.redactText(s));

  let audit: AuditSink;
  try {
    audit = config.audit.enabled
      ? new AuditWriter({
          file: config.audit.file,
          redactor,
          onError: (err) => logger.withTag('audit').error(`audit log write failed: ${err.message}`),
        })
      : new NullAudit();
  } catch (err) {
    throw new StartupError(`audit log ${config.audit.file} cannot be opened: ${(err as Error).message}`);
  }

  let ipFilter: IpFilter;
  try {
    ipFilter = new IpFilter({ allow: config.allowedClientIps, trustedProxies: config.trustedProxies });
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
  const limiter = new MemoryLimiter(config.rateLimit);
  const security = new SecurityPipeline({
    authEnabled: keyStore !== null,
    keyStore,
    ipFilter,
    origins: new OriginPolicy(config.allowedOrigins, isLoopbackHost(config.host)),
    limiter,
    audit,
  });

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
  );
  const registry = new ToolRegistry(buildTools(config, confiner, runner), config.readOnly);
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
    healthExtra: () => ({ sandbox: 'off' }),
    async close() {
      killAllGroups();
      keyStore?.close();
      await limiter.close();
      await audit.flush();
      await audit.close();
    },
  };
}
