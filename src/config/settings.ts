/**
 * The table of every setting: its path in the config object, its canonical
 * environment name, the seeds' alias names (env and JSON-file paths) and its
 * kind. Loading (load.ts) and validation (schema.ts) are both driven by it, so
 * a new setting is one row here plus one field in the schema.
 */

export type SettingKind = 'string' | 'int' | 'bool' | 'list' | 'optional-string';

export interface SettingSpec {
  /** Dotted path in the Config object and in the canonical JSON config file. */
  path: string;
  env: string;
  envAliases?: readonly string[];
  /** Extra dotted JSON-file paths accepted (the seed's appsettings sections). */
  jsonAliases?: readonly string[];
  kind: SettingKind;
  /** Masked by check-config. */
  secret?: boolean;
}

export const SETTINGS: readonly SettingSpec[] = [
  { path: 'host', env: 'HIDE_HOST', kind: 'string', jsonAliases: ['server.host'] },
  { path: 'port', env: 'HIDE_PORT', kind: 'int', jsonAliases: ['server.port'] },
  {
    path: 'workspace',
    env: 'HIDE_WORKSPACE',
    envAliases: ['CODE_BASE_PATH'],
    kind: 'string',
    jsonAliases: ['CodeBasePath'],
  },
  {
    path: 'allowedPaths',
    env: 'HIDE_ALLOWED_PATHS',
    kind: 'list',
    jsonAliases: ['CommandExecution.AllowedPaths'],
  },
  {
    path: 'auth.enabled',
    env: 'HIDE_AUTH_ENABLED',
    envAliases: ['Authentication__ApiKey__Enabled', 'SECURITY_AUTH_ENABLED'],
    kind: 'bool',
    jsonAliases: ['Authentication.ApiKey.Enabled'],
  },
  {
    path: 'auth.apiKey',
    env: 'HIDE_API_KEY',
    envAliases: ['Authentication__ApiKey__Key'],
    kind: 'optional-string',
    jsonAliases: ['Authentication.ApiKey.Key'],
    secret: true,
  },
  {
    path: 'auth.keysFile',
    env: 'HIDE_API_KEYS_FILE',
    envAliases: ['SECURITY_API_KEYS_FILE'],
    kind: 'optional-string',
  },
  {
    path: 'auth.header',
    env: 'HIDE_API_KEY_HEADER',
    envAliases: ['SECURITY_API_KEY_HEADER'],
    kind: 'string',
  },
  {
    path: 'allowedClientIps',
    env: 'HIDE_ALLOWED_CLIENT_IPS',
    envAliases: ['SECURITY_ALLOWED_CLIENT_IPS'],
    kind: 'list',
  },
  { path: 'trustedProxies', env: 'HIDE_TRUSTED_PROXIES', kind: 'list' },
  {
    path: 'rateLimit.enabled',
    env: 'HIDE_RATE_LIMIT_ENABLED',
    envAliases: ['SECURITY_RATE_LIMIT_ENABLED'],
    kind: 'bool',
  },
  { path: 'rateLimit.rpm', env: 'HIDE_RATE_LIMIT_RPM', envAliases: ['SECURITY_RATE_LIMIT_RPM'], kind: 'int' },
  {
    path: 'rateLimit.concurrent',
    env: 'HIDE_RATE_LIMIT_CONCURRENT',
    envAliases: ['SECURITY_RATE_LIMIT_CONCURRENT'],
    kind: 'int',
  },
  {
    path: 'audit.enabled',
    env: 'HIDE_AUDIT_LOG_ENABLED',
    envAliases: ['SECURITY_AUDIT_LOG_ENABLED'],
    kind: 'bool',
    jsonAliases: ['CommandExecution.EnableAuditLogging'],
  },
  {
    path: 'audit.file',
    env: 'HIDE_AUDIT_LOG_FILE',
    envAliases: ['SECURITY_AUDIT_LOG_FILE'],
    kind: 'string',
  },
  { path: 'allowedOrigins', env: 'HIDE_ALLOWED_ORIGINS', kind: 'list' },
  { path: 'maxBodyBytes', env: 'HIDE_MAX_BODY_BYTES', kind: 'int' },
  { path: 'allowUnauthenticated', env: 'HIDE_ALLOW_UNAUTHENTICATED', kind: 'bool' },
  { path: 'readOnly', env: 'HIDE_READ_ONLY', kind: 'bool' },
  { path: 'sandbox.mode', env: 'HIDE_SANDBOX', kind: 'string' },
  { path: 'sandbox.network', env: 'HIDE_SANDBOX_NETWORK', kind: 'string' },
  { path: 'sandbox.readOnlyPaths', env: 'HIDE_SANDBOX_READ_ONLY_PATHS', kind: 'list' },
  { path: 'sandbox.cpuSeconds', env: 'HIDE_SANDBOX_CPU_SECONDS', kind: 'int' },
  { path: 'sandbox.memoryBytes', env: 'HIDE_SANDBOX_MEMORY_BYTES', kind: 'int' },
  { path: 'sandbox.openFiles', env: 'HIDE_SANDBOX_OPEN_FILES', kind: 'int' },
  { path: 'sandbox.fileSizeBytes', env: 'HIDE_SANDBOX_FILE_SIZE_BYTES', kind: 'int' },
  { path: 'sandbox.processes', env: 'HIDE_SANDBOX_PROCESSES', kind: 'int' },
  { path: 'log.level', env: 'HIDE_LOG_LEVEL', kind: 'string' },
  { path: 'log.format', env: 'HIDE_LOG_FORMAT', kind: 'string' },
  {
    path: 'exec.defaultTimeoutSeconds',
    env: 'HIDE_EXEC_DEFAULT_TIMEOUT_SECONDS',
    envAliases: ['CommandExecution__DefaultTimeoutSeconds'],
    kind: 'int',
    jsonAliases: ['CommandExecution.DefaultTimeoutSeconds'],
  },
  {
    path: 'exec.maxTimeoutSeconds',
    env: 'HIDE_EXEC_MAX_TIMEOUT_SECONDS',
    envAliases: ['CommandExecution__MaxTimeoutSeconds'],
    kind: 'int',
    jsonAliases: ['CommandExecution.MaxTimeoutSeconds'],
  },
  {
    path: 'exec.maxOutputBytes',
    env: 'HIDE_EXEC_MAX_OUTPUT_BYTES',
    envAliases: ['CommandExecution__MaxOutputBytes'],
    kind: 'int',
    jsonAliases: ['CommandExecution.MaxOutputBytes'],
  },
  {
    path: 'exec.allowedCommands',
    env: 'HIDE_EXEC_ALLOWED_COMMANDS',
    envAliases: ['CommandExecution__AllowedCommands'],
    kind: 'list',
    jsonAliases: ['CommandExecution.AllowedCommands'],
  },
  {
    path: 'exec.deniedCommands',
    env: 'HIDE_EXEC_DENIED_COMMANDS',
    envAliases: ['CommandExecution__DeniedCommands'],
    kind: 'list',
    jsonAliases: ['CommandExecution.DeniedCommands'],
  },
  { path: 'exec.envPassthrough', env: 'HIDE_EXEC_ENV_PASSTHROUGH', kind: 'list' },
  // Operations (issue 7): shared limits, readiness/metrics, shutdown, audit rotation.
  { path: 'rateLimit.store', env: 'HIDE_RATE_LIMIT_STORE', kind: 'string' },
  { path: 'rateLimit.redisUrl', env: 'HIDE_REDIS_URL', kind: 'optional-string', secret: true },
  { path: 'rateLimit.onStoreError', env: 'HIDE_RATE_LIMIT_ON_STORE_ERROR', kind: 'string' },
  { path: 'rateLimit.leaseSeconds', env: 'HIDE_RATE_LIMIT_LEASE_SECONDS', kind: 'int' },
  { path: 'audit.maxBytes', env: 'HIDE_AUDIT_LOG_MAX_BYTES', kind: 'int' },
  { path: 'audit.keep', env: 'HIDE_AUDIT_LOG_KEEP', kind: 'int' },
  { path: 'metrics.port', env: 'HIDE_METRICS_PORT', kind: 'optional-string' },
  { path: 'metrics.token', env: 'HIDE_METRICS_TOKEN', kind: 'optional-string', secret: true },
  { path: 'shutdownGraceSeconds', env: 'HIDE_SHUTDOWN_GRACE_SECONDS', kind: 'int' },
];

/** The seed's default deny list (its appsettings.json `CommandExecution.DeniedCommands`). */
export const SEED_DENIED_COMMANDS = ['rm', 'dd', 'mkfs', 'fdisk', 'format', 'shutdown', 'reboot', 'init'];
