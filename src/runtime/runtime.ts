/**
 * Builds the long-lived services from a validated Config, once, for whichever
 * transport runs: a short list of named steps (policy checks, auth, audit,
 * limiter, exec and tools), each registering the cleanup of what it opened,
 * so a start that fails half-way closes everything it had opened. Start-up
 * refusals (DESIGN.md) are raised as StartupError (exit 2).
 */
import { networkInterfaces } from 'node:os';
import { secretValues } from '../config/load.ts';
import { readOnlyInWritableWarnings, writableExecutableWarning, writableKeysFileProblem, writableLaunchProblem } from '../config/writable-roots.ts';
import { replaceableRootWarnings } from '../config/replaceable-roots.ts';
import { currentLaunch } from './launch.ts';
import { NotRegularFileError } from '../util/open-regular-file.ts';
import type { Config } from '../config/schema.ts';
import { ProcessTable } from '../exec/process-table.ts';
import { CommandRunner } from '../exec/runner.ts';
import type { Spawner } from '../exec/spawner.ts';
import { logger, setLogRedactor } from '../core/log.ts';
import { McpCore } from '../mcp/core.ts';
import { McpDispatcher } from '../mcp/dispatcher.ts';
import { Lifecycle } from '../ops/lifecycle.ts';
import { MeteredAudit, MeteredLimiter } from '../ops/metered.ts';
import { Metrics } from '../ops/metrics.ts';
import { rotatedNames } from '../audit/rotation.ts';
import { NullAudit } from '../audit/null-audit.ts';
import { AuditWriter } from '../audit/writer.ts';
import { ArgumentsDigest } from '../audit/arguments-digest.ts';
import type { AuditSink } from '../audit/event.ts';
import { IpFilter, isLoopback } from '../security/ip.ts';
import { KeyStore } from '../security/keys.ts';
import { networkOnExposures } from '../security/network-exposure.ts';
import { cleartextWarnings } from '../security/oauth/discovery.ts';
import type { OAuthGuard } from '../security/oauth/guard.ts';
import type { Limiter } from '../security/limiter.ts';
import { MemoryLimiter } from '../security/memory-limiter.ts';
import { HostPolicy } from '../security/host.ts';
import { OriginPolicy } from '../security/origin.ts';
import { layerNames } from '../sandbox/layers.ts';
import { SandboxUnavailableError, serverSecretFiles, setupSandbox } from '../sandbox/setup.ts';
import { SecurityPipeline } from '../security/pipeline.ts';
import type { RedisLimiter } from '../security/redis-limiter.ts';
import { Redactor } from '../audit/redact.ts';
import { RefusalThrottle } from '../audit/refusal-throttle.ts';
import { availableToolsTool } from '../tools/available-tools.ts';
import { checkFileExistsTool } from '../tools/check-file.ts';
import { fileTools } from '../tools/files/index.ts';
import type { ContentDigest } from '../tools/files/common.ts';
import { ToolRegistry } from '../tools/registry.ts';
import { processTools } from '../tools/process.ts';
import { shellTools } from '../tools/shell.ts';
import type { ToolDefinition } from '../tools/types.ts';
import { StartupError } from '../core/startup-error.ts';
import { Confiner } from '../workspace/confine.ts';
import { startFileWorkers } from './file-workers.ts';
import { revokedCallReason, unreachableReason } from './unreachable-processes.ts';

export { StartupError } from '../core/startup-error.ts';

export interface Runtime {
  config: Config;
  confiner: Confiner;
  /** The MCP message core both transports adapt (parsing, eras, dispatch, cancellation). */
  core: McpCore;
  security: SecurityPipeline;
  keyStore: KeyStore | null;
  audit: AuditSink;
  /** Operations: phase and readiness, metrics, audit reopen (SIGHUP). */
  ops: {
    lifecycle: Lifecycle;
    metrics: Metrics;
    reopenAudit(): void;
    /** Kills every running command (shutdown). */
    killChildren(): void;
    /** Writes an `interrupted` audit line for every tool call still running, and a `process_exit` line for every long-running process (exit); returns how many. */
    recordUnfinishedCalls(): number;
  };
  healthExtra(): Record<string, unknown>;
  close(): Promise<void>;
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  // An address literal only, as written (isLoopback alone would trim spaces). Not node:net's isIP: loading that
  // module costs milliseconds (a start that writes nothing to stderr, as stdio's, never needs it), and ipaddr.js
  // is loaded already.
  const literal = host.replace(/^\[|\]$/g, '');
  return literal === literal.trim() && isLoopback(literal);
}

/** The keyed digest of written content for the audit log, under the arguments key; none without one. */
function contentDigestOf(config: Config): ContentDigest {
  const key = config.audit.argumentsKey;
  if (key === undefined) return null;
  const digest = new ArgumentsDigest(key);
  return (data) => digest.ofBytes(data);
}

export function buildTools(config: Config, confiner: Confiner, runner: CommandRunner, spawner: Spawner, processes: ProcessTable): ToolDefinition[] {
  return [
    ...shellTools(runner, config.exec.maxTimeoutSeconds),
    ...processTools(processes, { maxTimeoutSeconds: config.process.maxTimeoutSeconds, idleTimeoutSeconds: config.process.idleTimeoutSeconds }),
    availableToolsTool(runner, confiner.workspace),
    checkFileExistsTool(confiner),
    // ripgrep is looked up once, on the PATH commands get less what a client can write (search_files is a read
    // tool): the server's PATH decides which search engine runs, never a project's node_modules/.bin or a link
    // into the workspace.
    ...fileTools(confiner, { rgPath: runner.programOutside('rg'), spawner, contentDigest: contentDigestOf(config) }),
  ];
}

export interface RuntimeOptions {
  transport: 'http' | 'stdio';
  /** Files the configuration was read from (.env, config file): commands must not be able to read them. */
  secretFiles?: readonly string[];
  /** The keys file is `.mcp_keys.json` found in the working directory, not one the operator named. */
  keysFileByDefault?: boolean;
}

/** What a failed start must close, in reverse order of opening. */
class Cleanups {
  private readonly steps: Array<() => unknown> = [];
  add(step: () => unknown): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    for (const step of this.steps.reverse()) {
      try {
        await step();
      } catch {
        // Closing what a failed start opened: the start's own error is the one to report.
      }
    }
  }
}

/** The server's own files, rotations to come included: no file tool serves them. */
function ownFiles(config: Config, secretFiles: readonly string[]): string[] {
  const files = serverSecretFiles(config, secretFiles);
  if (config.audit.enabled && config.audit.file !== '-') {
    for (const name of rotatedNames(config.audit.file, config.audit.keep)) files.push(name, `${name}.head`);
  }
  return files;
}

/** Refusals that need nothing opened: unauthenticated non-loopback binds, an unusable workspace. */
function checkPolicy(config: Config, opts: RuntimeOptions): Confiner {
  if (opts.transport === 'http' && !isLoopbackHost(config.host) && !config.auth.enabled && config.auth.mode === 'apikey') {
    if (!config.allowUnauthenticated) {
      throw new StartupError(
        `refusing to listen on non-loopback host ${config.host} with authentication off: anyone who can reach it could run commands. ` +
          'Enable keys (HIDE_AUTH_ENABLED=true with HIDE_API_KEY or HIDE_API_KEYS_FILE), bind to 127.0.0.1, ' +
          'or set HIDE_ALLOW_UNAUTHENTICATED=true to accept the risk.',
      );
    }
    logger.withTag('start').warn(`listening on ${config.host} WITHOUT authentication (HIDE_ALLOW_UNAUTHENTICATED=true): anyone who can reach this port can run commands`);
  }
  let confiner: Confiner;
  try {
    confiner = new Confiner(config.workspace, config.allowedPaths, ownFiles(config, opts.secretFiles ?? []));
  } catch (err) {
    throw new StartupError(`workspace ${config.workspace} is not usable: ${(err as Error).message}`);
  }
  const launch = currentLaunch();
  const launchedFrom = writableLaunchProblem(launch, confiner.workspace, config.allowedPaths);
  if (launchedFrom !== null) throw new StartupError(launchedFrom);
  const replaceable = writableExecutableWarning(launch, confiner.workspace, config.allowedPaths);
  if (replaceable !== null) logger.withTag('start').warn(replaceable);
  for (const line of replaceableRootWarnings(config)) logger.withTag('start').warn(line);
  for (const line of readOnlyInWritableWarnings(config)) logger.withTag('start').warn(line);
  // Granted where each leads now: after a restart that is wherever a link put on the way since leads.
  for (const { what, path, real } of confiner.throughLinks) logger.withTag('start').info(`the ${what} ${path} is reached through a link: granted where it leads now, ${real}`);
  // Allowed, but the file tools run in the server itself: say what it hands over.
  if (confiner.roots.includes('/')) {
    logger.withTag('start').warn('the workspace or HIDE_ALLOWED_PATHS is / : the file tools and commands can read and write the whole host (only the server\'s own files stay out of reach)');
  }
  return confiner;
}

/** What a keys-file reload did: the keys it loaded, or why it failed (the last good keys stay). */
type ReloadOutcome = { keys: number } | { error: string };

interface Auth {
  keyStore: KeyStore | null;
  redactor: Redactor;
  /** Set once the audit sink exists: reloads are audited. */
  onReloadAudited(write: (outcome: ReloadOutcome) => void): void;
}

/** Keys (HTTP with auth on) and the redactor that masks them everywhere. */
function openAuth(config: Config, opts: RuntimeOptions, cleanups: Cleanups): Auth {
  let auditReload: (outcome: ReloadOutcome) => void = () => {};
  let keyStore: KeyStore | null = null;
  // Every secret setting (the API key, the metrics token, the introspection secret, the Redis password) and the keys file's plaintext keys.
  const settingSecrets = secretValues(config);
  const secretsOf = () => [...(keyStore?.knownSecrets() ?? []), ...settingSecrets];
  // `oauth` takes tokens only; `both` needs keys as much as `apikey` with auth on.
  const keysNeeded = config.auth.mode === 'both' || (config.auth.mode === 'apikey' && config.auth.enabled);
  if (keysNeeded && opts.transport === 'http') {
    // Before a word of it is read: a keys file found where a cloned repository could have brought it is not ours to trust.
    const planted = opts.keysFileByDefault && config.auth.keysFile !== undefined ? writableKeysFileProblem(config.auth.keysFile, config.workspace, config.allowedPaths) : null;
    if (planted !== null) throw new StartupError(planted);
    try {
      keyStore = new KeyStore({
        apiKey: config.auth.apiKey ?? null,
        file: config.auth.keysFile ?? null,
        onShortKey: (line) => logger.withTag('keys').warn(line),
        onReload: (r) => {
          if (r.ok) {
            // A plaintext key added by the reload must be masked by value too.
            redactor.setSecrets(secretsOf());
            logger.withTag('keys').info(`keys file reloaded: ${r.clients} keys`);
            // A start with no enabled key is refused; a reload to none is taken (disabling everyone may be the point), but said.
            if (keyStore?.hasAnyKey() === false) logger.withTag('keys').warn('the keys file now enables no key: every MCP request is refused until one is enabled');
            // A file made writable to others since the start is said at its next reload, as short keys are.
            for (const line of keyStore?.warnings() ?? []) logger.withTag('keys').warn(line);
            auditReload({ keys: r.clients });
          } else {
            const error = `keys file reload failed, keeping the last good keys: ${r.error}`;
            logger.withTag('keys').error(error);
            // Recorded too: an edit that revoked a key and failed (a duplicate id, the file deleted) revoked nothing.
            auditReload({ error });
          }
        },
      });
    } catch (err) {
      throw new StartupError(`authentication is enabled but the keys cannot be loaded: ${(err as Error).message}`);
    }
    const store = keyStore;
    cleanups.add(() => store.close());
    for (const line of store.warnings()) logger.withTag('keys').warn(line);
    if (!keyStore.hasAnyKey()) {
      throw new StartupError(
        'authentication is enabled but no usable key is configured: set HIDE_API_KEY (or Authentication__ApiKey__Key) ' +
          'or HIDE_API_KEYS_FILE with at least one enabled client (create one with `hide keys generate --client-id NAME`)',
      );
    }
  }
  // The store also lets the redactor mask keys the keys file holds only as digests.
  const redactor = new Redactor(secretsOf(), { keyStore });
  setLogRedactor((s) => redactor.redactText(s));
  return {
    keyStore,
    redactor,
    onReloadAudited: (write) => {
      auditReload = write;
    },
  };
}

/** How often a failing audit log is tried again under HIDE_AUDIT_ON_ERROR=refuse (the refusals' Retry-After is 1 s). */
const AUDIT_RETRY_MS = 1000;

/** The audit writer (or none), refusal lines bounded, metered so metrics count every event. */
function openAudit(config: Config, transport: RuntimeOptions['transport'], redactor: Redactor, metrics: Metrics, cleanups: Cleanups): { writer: AuditWriter | NullAudit; audit: AuditSink } {
  let writer: AuditWriter | NullAudit;
  try {
    writer = config.audit.enabled
      ? new AuditWriter({
          file: config.audit.file,
          // stdio's stdout carries MCP messages: there "-" is the other standard stream, where a container's log collector reads too.
          standardStream: transport === 'stdio' ? 'stderr' : 'stdout',
          redactor,
          argumentsDigest: config.audit.argumentsKey === undefined ? null : new ArgumentsDigest(config.audit.argumentsKey),
          onError: (err) => logger.withTag('audit').error(`audit log: ${err.message}; lines are dropped until it can be written again`),
          onWarning: (err) => logger.withTag('audit').error(`audit log: ${err.message}`),
          onRecover: (dropped) => logger.withTag('audit').warn(`audit log writable again; ${dropped} line(s) were lost meanwhile (hide_audit_lines_dropped_total)`),
          chain: true,
          maxBytes: config.audit.maxBytes,
          keep: config.audit.keep,
          // Refusing calls leaves no lines to find out with: the writer tries the disk itself.
          retryMs: config.audit.onError === 'refuse' ? AUDIT_RETRY_MS : 0,
        })
      : new NullAudit();
  } catch (err) {
    // The default sits under the user's home: a service user whose HOME is not its own (setpriv, sudo -u) meets this first.
    // A rotated file read at start may be the one at fault: that error names it.
    const cause = err instanceof NotRegularFileError ? err.message : `${config.audit.file} cannot be opened: ${(err as Error).message}`;
    throw new StartupError(
      `audit log ${cause}; ` +
        'set HIDE_AUDIT_LOG_FILE to a file this user can write (or HIDE_AUDIT_LOG_ENABLED=false)',
    );
  }
  // Metered outside the throttle: /metrics counts every refusal, the audit log and stderr keep a bounded share of them.
  const security = logger.withTag('security');
  const audit: AuditSink = new MeteredAudit(
    new RefusalThrottle(writer, { perSource: config.audit.refusalsPerAddress, total: config.audit.refusalsPerMinute, warn: (line) => security.warn(line) }),
    metrics,
  );
  cleanups.add(async () => {
    await audit.flush();
    await audit.close();
  });
  metrics.collect({ name: 'hide_audit_lines_written_total', type: 'counter', help: 'Audit lines handed to the OS.', value: () => writer.linesWritten });
  metrics.collect({
    name: 'hide_audit_lines_dropped_total',
    type: 'counter',
    help: 'Audit lines lost to write errors.',
    value: () => (writer instanceof AuditWriter ? writer.linesDropped : 0),
  });
  return { writer, audit };
}

/**
 * The OAuth resource server (HTTP with HIDE_AUTH_MODE oauth or both): keys
 * are fetched in the background, and /ready is 503 while no issuer has any.
 */
async function openOAuth(config: Config, opts: RuntimeOptions, tools: ToolDefinition[], lifecycle: Lifecycle): Promise<OAuthGuard | null> {
  if (config.auth.mode === 'apikey' || opts.transport !== 'http') return null;
  // Loaded here, not at the top: only this mode needs the JWT library, and loading it is part of every start's time.
  const { OAuthGuard } = await import('../security/oauth/guard.ts');
  const o = config.oauth;
  const i = o.introspection;
  let guard: OAuthGuard;
  try {
    guard = new OAuthGuard({
      resource: o.resource!,
      audience: o.audience,
      issuers: o.issuers,
      scopes: o.scopes,
      algorithms: o.algorithms,
      clockLeewaySeconds: o.clockLeewaySeconds,
      jwksCooldownSeconds: o.jwksCooldownSeconds,
      jwksMaxAgeSeconds: o.jwksMaxAgeSeconds,
      introspection: i?.url && i.clientId && i.clientSecret ? { url: i.url, clientId: i.clientId, clientSecret: i.clientSecret, perAddressPerMinute: i.perAddress } : undefined,
      ...(i?.issuer === undefined ? {} : { introspectionIssuer: i.issuer }),
      tools,
      alongsideApiKeys: config.auth.mode === 'both',
    });
  } catch (err) {
    throw new StartupError(`OAuth settings are not usable: ${(err as Error).message}`);
  }
  for (const line of cleartextWarnings(o.issuers, i?.url)) logger.withTag('oauth').warn(line);
  lifecycle.addCheck(() => guard.problem());
  guard.start();
  return guard;
}

/** The rate and concurrency limiter: in memory, or Redis (whose health /ready reports). */
async function openLimiter(config: Config, metrics: Metrics, lifecycle: Lifecycle, cleanups: Cleanups): Promise<Limiter> {
  let store: RedisLimiter | null = null;
  if (config.rateLimit.store === 'redis' && config.rateLimit.enabled) {
    if (!config.rateLimit.redisUrl) throw new StartupError('HIDE_RATE_LIMIT_STORE=redis needs HIDE_REDIS_URL (e.g. redis://redis:6379)');
    // Loaded here, not at the top: a memory store needs no Redis client.
    const { RedisLimiter } = await import('../security/redis-limiter.ts');
    const redis = new RedisLimiter({ ...config.rateLimit, url: config.rateLimit.redisUrl }, logger.withTag('limits'));
    store = redis;
    cleanups.add(() => redis.close());
    // Not fatal when down: /ready says so (deny) and the limiter keeps reconnecting.
    await redis.ready();
    if (config.rateLimit.onStoreError === 'deny') lifecycle.addCheck(() => (redis.available ? null : 'rate-limit store unavailable'));
    metrics.collect({ name: 'hide_rate_limit_store_up', type: 'gauge', help: '1 when the Redis limit store answers.', value: () => (redis.available ? 1 : 0) });
  }
  const limiter = new MeteredLimiter(store ?? new MemoryLimiter(config.rateLimit), metrics);
  if (!store) cleanups.add(() => limiter.close());
  return limiter;
}

/** The spawner (sandboxed or not), the command runner, the long-lived process table and the tools over them. */
async function openExec(config: Config, confiner: Confiner, opts: RuntimeOptions, metrics: Metrics, audit: AuditSink, cleanups: Cleanups) {
  let sandbox: Awaited<ReturnType<typeof setupSandbox>>;
  try {
    sandbox = await setupSandbox(config, confiner.roots, opts.secretFiles ?? []);
  } catch (err) {
    if (err instanceof SandboxUnavailableError) throw new StartupError(err.message);
    throw err;
  }
  const { spawner, status } = sandbox;
  cleanups.add(() => spawner.close());
  metrics.collect({ name: 'hide_child_processes', type: 'gauge', help: 'Command process groups alive.', value: () => spawner.running });
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
    spawner,
  );
  const processes = new ProcessTable(config.process, runner, audit);
  // Runs before the spawner closes (cleanups run in reverse) and before the audit log is flushed: every end is recorded.
  cleanups.add(() => processes.close());
  metrics.collect({ name: 'hide_processes_running', type: 'gauge', help: 'Long-running processes (process_start) running now.', value: () => processes.running });
  metrics.collect({ name: 'hide_process_buffer_bytes', type: 'gauge', help: 'Output bytes held in the rings of long-running processes.', value: () => processes.bufferBytes });
  metrics.collect({ name: 'hide_process_output_dropped_bytes_total', type: 'counter', help: 'Output bytes of long-running processes dropped from full rings.', value: () => processes.droppedTotal });
  const tools = buildTools(config, confiner, runner, spawner, processes);
  const registry = new ToolRegistry(tools, config.readOnly);
  return { spawner, status, registry, processes, toolNames: new Set(tools.map((t) => t.name)) };
}

export async function createRuntime(config: Config, opts: RuntimeOptions): Promise<Runtime> {
  const cleanups = new Cleanups();
  try {
    // Before any command can run, so no command can keep them from starting.
    await startFileWorkers();
    const confiner = checkPolicy(config, opts);
    const metrics = new Metrics();
    const lifecycle = new Lifecycle();
    metrics.collect({ name: 'hide_ready', type: 'gauge', help: '1 when /ready answers 200.', value: () => (lifecycle.readiness().ready ? 1 : 0) });
    const auth = openAuth(config, opts, cleanups);
    const { writer, audit } = openAudit(config, opts.transport, auth.redactor, metrics, cleanups);
    const auditFailing = config.audit.onError === 'refuse' && writer instanceof AuditWriter ? () => writer.failing : undefined;
    if (auditFailing) lifecycle.addCheck(() => (auditFailing() ? 'audit log not writable' : null));
    // Every tool this build has (read-only mode included), once exec is open: a client listing another name gets nothing by it.
    let toolNames: ReadonlySet<string> | null = null;
    const warnUnknownTools = () => {
      if (toolNames === null) return;
      for (const line of auth.keyStore?.unknownTools(toolNames) ?? []) logger.withTag('keys').warn(line);
    };
    let processes: ProcessTable | null = null;
    let core: McpCore | null = null;
    auth.onReloadAudited((outcome) => {
      const [result, error] = 'keys' in outcome ? [{ keys: outcome.keys }, null] : [null, outcome.error];
      audit.write({ event_type: 'keys_reloaded', correlation_id: null, client_id: null, client_ip: null, api_key_hash: null, user: null, tool_name: null, arguments: null, result, error });
      warnUnknownTools();
      // Processes started with a key whose client the reload disabled, removed or took process_read and process_kill from.
      const store = auth.keyStore;
      if (store !== null) processes?.endUnreachable((caller) => unreachableReason(store, caller));
      // Calls still running with a key the reload disabled or removed, or that may no longer call their tool.
      if (store !== null) core?.endRevoked((clientId, apiKeyHash, tool) => revokedCallReason(store, clientId, apiKeyHash, tool));
    });
    let ipFilter: IpFilter;
    let hosts: HostPolicy;
    try {
      ipFilter = new IpFilter({ allow: config.allowedClientIps, trustedProxies: config.trustedProxies });
      hosts = new HostPolicy(config.allowedHosts, isLoopbackHost(config.host));
    } catch (err) {
      throw new StartupError((err as Error).message);
    }
    if (ipFilter.trustsEveryPeer) {
      logger
        .withTag('start')
        .warn('HIDE_TRUSTED_PROXIES holds a /0 range: every client counts as a proxy and can name any address in X-Forwarded-For, so the IP allowlist, per-address limits and audited addresses stop meaning anything; list your proxies instead');
    }
    // What a network-on command reaches unguarded: said once at start, with what to set.
    const localAddresses = () => ['127.0.0.1', '::1', ...Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address))];
    for (const line of networkOnExposures(config, { transport: opts.transport, localAddresses })) logger.withTag('sandbox').warn(line);
    const limiter = await openLimiter(config, metrics, lifecycle, cleanups);
    const exec = await openExec(config, confiner, opts, metrics, audit, cleanups);
    toolNames = exec.toolNames;
    processes = exec.processes;
    // A long poll (process_read with waitMs) answers when the drain begins rather than holding it for the grace.
    lifecycle.onDraining(() => exec.processes.endWaits());
    warnUnknownTools();
    const oauth = await openOAuth(config, opts, exec.registry.definitions(), lifecycle);
    // An opaque token is no shape the redactor knows: the ones introspection accepted are masked by value, as keys are.
    if (oauth?.introspects) auth.redactor.alsoMask((candidate) => oauth.knowsToken(candidate));
    const security = new SecurityPipeline({
      authEnabled: auth.keyStore !== null || oauth !== null,
      keyStore: auth.keyStore,
      ipFilter,
      origins: new OriginPolicy(config.allowedOrigins, isLoopbackHost(config.host)),
      hosts,
      limiter,
      audit,
      oauth,
      auditFailing,
    });
    // With authentication on, callers may see different tool lists: shared caches must keep them apart.
    const dispatcher = new McpDispatcher(exec.registry, security, {
      listCacheScope: auth.keyStore !== null || oauth !== null ? 'private' : 'public',
    });
    auth.keyStore?.watch();

    return {
      config,
      confiner,
      core: (core = new McpCore(dispatcher)),
      security,
      keyStore: auth.keyStore,
      audit,
      ops: {
        lifecycle,
        metrics,
        reopenAudit: () => {
          if (writer instanceof AuditWriter) writer.reopen();
        },
        killChildren: () => {
          exec.processes.killAll();
          exec.spawner.killAll();
        },
        // And the processes a second signal kills without waiting for their ends.
        recordUnfinishedCalls: () => dispatcher.recordUnfinished() + exec.processes.recordUnfinished(),
      },
      healthExtra: () => ({
        sandbox: exec.status.active ? 'on' : 'off',
        landlockAbi: exec.status.abi,
        sandboxLayers: exec.status.active && exec.status.layers ? layerNames(exec.status.layers) : [],
      }),
      close: () => {
        // Calls the drain could not wait for still get their line before the audit closes.
        dispatcher.recordUnfinished();
        return cleanups.run();
      },
    };
  } catch (err) {
    await cleanups.run();
    throw err;
  }
}
