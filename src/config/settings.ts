/**
 * The table of every setting, one row each: its path in the config object,
 * its environment name, the seeds' aliases (env and JSON-file paths), its
 * schema, default, secret flag and a one-line description. Everything else
 * about settings is derived from these rows; adding a setting is adding a
 * row, then `bun run settings:write` for `.env.example` and the docs.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import * as v from 'valibot';
import { AbsolutePathList, Bool, CommandNameList, EnvNameList, HeaderName, HostList, int, IpRuleList, List, ListenHost, ListMap, NonEmpty, OptionalBearerToken, OptionalHmacKey, OptionalPort, OptionalRedisUrl, OptionalString, OriginList, OptionalUrl, oneOf, UrlList } from './fields.ts';
import { type LoadContext, setting } from './setting.ts';

/** The seed's default deny list (its appsettings.json `CommandExecution.DeniedCommands`). */
export const SEED_DENIED_COMMANDS = ['rm', 'dd', 'mkfs', 'fdisk', 'format', 'shutdown', 'reboot', 'init'];

/**
 * The default audit log: the user's state directory, never the workspace —
 * a first run must not write into the user's project, and commands must not
 * be able to read or change the log.
 */
export function defaultAuditFile(env: Record<string, string | undefined>, cwd: string): string {
  const state = env.XDG_STATE_HOME || (env.HOME ? join(env.HOME, '.local', 'state') : null);
  return state ? join(state, 'hide', 'audit.jsonl') : resolve(cwd, 'hide-audit.jsonl');
}

/** JWS algorithms an access token may be signed with: asymmetric only, so a public key can never act as an HMAC secret. */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

/**
 * OAuth scopes and the tools each grants: names, `prefix_*`, `@read` (every
 * tool marked read-only) or `*`. A token may call the union of its scopes' tools.
 */
export const DEFAULT_OAUTH_SCOPES: Record<string, string[]> = {
  'hide:read': ['@read'],
  'hide:write': ['write_file', 'edit_file'],
  'hide:exec': ['shell_*', 'process_*'],
};

// Paths are fixed at load time so a later chdir or another cwd cannot move them.
const inCwd = (path: string, { cwd }: LoadContext) => resolve(cwd, path);
const allInCwd = (paths: string[], { cwd }: LoadContext) => paths.map((p) => resolve(cwd, p));

/** The environment names (canonical and seed) of the secret settings. */
function secretEnvNames(): Set<string> {
  return new Set(SETTINGS.filter((s) => 'secret' in s && s.secret).flatMap((s) => [s.env, ...(s.envAliases ?? [])]));
}

/** Request headers HTTP or MCP gives a meaning of their own: none may carry the API key. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'content-type', 'content-encoding', 'transfer-encoding', 'connection', 'upgrade', 'te', 'expect', 'cookie', 'origin', 'accept', 'x-forwarded-for', 'x-correlation-id', 'mcp-method', 'mcp-name', 'mcp-protocol-version', 'mcp-session-id', 'last-event-id']);

export const SETTINGS = [
  // Listening
  setting({
    path: 'host',
    env: 'HIDE_HOST',
    jsonAliases: ['server.host'],
    schema: ListenHost,
    default: '127.0.0.1',
    doc: 'Address to listen on; a non-loopback one needs auth on (or HIDE_ALLOW_UNAUTHENTICATED=true).',
  }),
  setting({ path: 'port', env: 'HIDE_PORT', jsonAliases: ['server.port'], schema: int(0, 65535), default: 5000, doc: 'TCP port to listen on; 0 picks a free one.' }),
  setting({
    path: 'allowUnauthenticated',
    env: 'HIDE_ALLOW_UNAUTHENTICATED',
    schema: Bool,
    default: false,
    doc: 'Start on a non-loopback address with auth off (a warning on every start); otherwise such a start is refused.',
  }),
  setting({ path: 'maxBodyBytes', env: 'HIDE_MAX_BODY_BYTES', schema: int(1024, 1024 * 1024 * 1024), default: 4 * 1024 * 1024, doc: 'Largest request body (and stdio message) accepted, in bytes.' }),
  setting({
    path: 'bodyTimeoutSeconds',
    env: 'HIDE_BODY_TIMEOUT_SECONDS',
    schema: int(1, 3600),
    default: 30,
    doc: 'Longest a request body may take to arrive once its headers have; past it the request gets 408 and its connection is closed (a request refused before its body is read closes its connection at once), so a client sending a byte now and then holds no connection for long.',
  }),
  setting({
    path: 'allowedOrigins',
    env: 'HIDE_ALLOWED_ORIGINS',
    schema: v.nullable(OriginList),
    default: null,
    defaultDoc: 'loopback origins when bound to loopback, else none',
    example: '["https://ide.example.com"]',
    doc: 'Browser origins (`Origin` header) allowed to call.',
  }),
  setting({
    path: 'allowedHosts',
    env: 'HIDE_ALLOWED_HOSTS',
    schema: HostList,
    default: [],
    example: '["ide.example.com","box.lan:8080"]',
    doc: 'Names (`Host` header) the server answers to besides localhost, 127.x.y.z and [::1]; a name:port entry allows that port only, `*` any name. Checked when bound to loopback or when set.',
  }),
  // Workspace
  setting({
    path: 'workspace',
    env: 'HIDE_WORKSPACE',
    envAliases: ['CODE_BASE_PATH'],
    jsonAliases: ['CodeBasePath'],
    schema: NonEmpty,
    default: ({ cwd }) => cwd,
    defaultDoc: 'the working directory',
    example: '/path/to/project',
    finish: inCwd,
    doc: 'The directory commands and file tools are confined to.',
  }),
  setting({
    path: 'allowedPaths',
    env: 'HIDE_ALLOWED_PATHS',
    jsonAliases: ['CommandExecution.AllowedPaths'],
    schema: List,
    default: [],
    example: '["/tmp"]',
    finish: allInCwd,
    doc: 'More directories the tools may use besides the workspace (`/` is taken, with a warning at start: the whole host).',
  }),
  setting({ path: 'readOnly', env: 'HIDE_READ_ONLY', schema: Bool, default: false, doc: 'Offer only the tools that change nothing (no commands, no writes).' }),
  // Authentication and network filters
  setting({
    path: 'auth.enabled',
    env: 'HIDE_AUTH_ENABLED',
    envAliases: ['Authentication__ApiKey__Enabled', 'SECURITY_AUTH_ENABLED'],
    jsonAliases: ['Authentication.ApiKey.Enabled'],
    schema: Bool,
    default: false,
    doc: 'Require an API key on every MCP request (HTTP only).',
  }),
  setting({
    path: 'auth.apiKey',
    env: 'HIDE_API_KEY',
    envAliases: ['Authentication__ApiKey__Key'],
    jsonAliases: ['Authentication.ApiKey.Key'],
    schema: OptionalString,
    default: undefined,
    example: 'replace-with-output-of-openssl-rand-base64-32',
    secret: true,
    doc: 'A single API key; a keys file gives each client its own.',
  }),
  setting({
    path: 'auth.keysFile',
    env: 'HIDE_API_KEYS_FILE',
    envAliases: ['SECURITY_API_KEYS_FILE'],
    schema: OptionalString,
    default: ({ cwd }) => (existsSync(resolve(cwd, '.mcp_keys.json')) ? resolve(cwd, '.mcp_keys.json') : undefined),
    defaultDoc: '`.mcp_keys.json` in the working directory if present (a start refuses it where commands can write, in the workspace or an allowed path: name it to use it there)',
    example: '.mcp_keys.json',
    finish: (path, ctx) => (path === undefined ? path : inCwd(path, ctx)),
    doc: 'Keys file with per-client keys (`hide keys generate`); re-read when it changes and on SIGHUP.',
  }),
  setting({
    path: 'auth.header',
    env: 'HIDE_API_KEY_HEADER',
    envAliases: ['SECURITY_API_KEY_HEADER'],
    // Authorization is read as `Bearer <key>` already; named here, a bare key in it was a malformed Authorization and
    // `Bearer <key>` two credentials at once, so no request could ever sign in. A header HTTP or MCP gives a meaning of
    // its own would carry the key where it is logged (Host, in a refusal's warning) or break the request.
    schema: v.pipe(
      HeaderName,
      v.check((h) => h.toLowerCase() !== 'authorization', 'Authorization is always read (as `Bearer <key>`): name another header, or leave the default'),
      v.check((h) => !RESERVED_HEADERS.has(h.toLowerCase()), 'names a header HTTP or MCP gives another meaning: name one of your own, or leave the default'),
    ),
    default: 'X-API-Key',
    doc: 'Header that carries the key; `X-API-Key` and `X-MCP-API-Key` (the seeds\' names) and `Authorization: Bearer` are always read too.',
  }),
  setting({
    path: 'auth.mode',
    env: 'HIDE_AUTH_MODE',
    schema: oneOf(['apikey', 'oauth', 'both']),
    default: 'apikey',
    doc: 'Credentials MCP requests need: API keys (when HIDE_AUTH_ENABLED), OAuth access tokens, or either; `oauth` and `both` turn auth on by themselves (HTTP only).',
  }),
  setting({
    path: 'oauth.resource',
    env: 'HIDE_OAUTH_RESOURCE',
    schema: OptionalUrl,
    default: undefined,
    example: 'https://hide.example.com/mcp',
    doc: "This server's canonical URL as its clients call it (the OAuth resource); required with HIDE_AUTH_MODE=oauth or both.",
  }),
  setting({
    path: 'oauth.issuers',
    env: 'HIDE_OAUTH_ISSUERS',
    schema: UrlList,
    default: [],
    example: '["https://sso.example.com/realms/dev"]',
    doc: 'Authorization servers whose tokens count, by exact issuer URL; their keys are found by RFC 8414 or OpenID discovery.',
  }),
  setting({
    path: 'oauth.audience',
    env: 'HIDE_OAUTH_AUDIENCE',
    schema: OptionalString,
    default: undefined,
    defaultDoc: 'HIDE_OAUTH_RESOURCE',
    example: 'https://hide.example.com/mcp',
    doc: 'The audience (`aud`) a token must name.',
  }),
  setting({
    path: 'oauth.scopes',
    env: 'HIDE_OAUTH_SCOPES',
    schema: ListMap,
    default: DEFAULT_OAUTH_SCOPES,
    defaultDoc: `\`${JSON.stringify(DEFAULT_OAUTH_SCOPES)}\``,
    doc: 'Scopes and the tools each grants (names, `prefix_*`, `@read` for every read-only tool, `*`), as a JSON object.',
  }),
  setting({
    path: 'oauth.algorithms',
    env: 'HIDE_OAUTH_ALGORITHMS',
    schema: v.pipe(
      List,
      v.minLength(1, 'expected at least one algorithm'),
      v.check((l) => l.every((a) => (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(a)), `expected algorithms from ${ASYMMETRIC_ALGORITHMS.join(', ')}`),
    ),
    default: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    doc: 'Signature algorithms a token may use; asymmetric only (never `none` or HMAC).',
  }),
  setting({ path: 'oauth.clockLeewaySeconds', env: 'HIDE_OAUTH_CLOCK_LEEWAY_SECONDS', schema: int(0, 600), default: 30, doc: 'Clock skew allowed when checking `exp` and `nbf`.' }),
  setting({
    path: 'oauth.jwksCooldownSeconds',
    env: 'HIDE_OAUTH_JWKS_COOLDOWN_SECONDS',
    schema: int(0, 3600),
    default: 30,
    doc: "Least time between two fetches of an issuer's keys (an unknown `kid`, a retry after a failure).",
  }),
  setting({
    path: 'oauth.jwksMaxAgeSeconds',
    env: 'HIDE_OAUTH_JWKS_MAX_AGE_SECONDS',
    schema: int(1, 86_400),
    default: 600,
    doc: 'Cached keys older than this are refreshed in the background; they stay in use while the endpoint is down.',
  }),
  setting({
    path: 'oauth.introspection.url',
    env: 'HIDE_OAUTH_INTROSPECTION_URL',
    schema: OptionalUrl,
    default: undefined,
    example: 'https://sso.example.com/realms/dev/protocol/openid-connect/token/introspect',
    doc: "RFC 7662 introspection endpoint for opaque (non-JWT) tokens; unset refuses them. It speaks for one issuer alone (HIDE_OAUTH_INTROSPECTION_ISSUER).",
  }),
  setting({
    path: 'oauth.introspection.issuer',
    env: 'HIDE_OAUTH_INTROSPECTION_ISSUER',
    schema: OptionalString,
    default: undefined,
    defaultDoc: 'the only issuer (required with more than one)',
    example: 'https://sso.example.com/realms/dev',
    doc: "The issuer the introspection endpoint answers for: the users of its answers are that issuer's, never another's (an answer whose `iss` names another is refused). One of HIDE_OAUTH_ISSUERS.",
  }),
  setting({ path: 'oauth.introspection.clientId', env: 'HIDE_OAUTH_INTROSPECTION_CLIENT_ID', schema: OptionalString, default: undefined, example: 'hide', doc: 'Client id hide introspects with.' }),
  setting({
    path: 'oauth.introspection.clientSecret',
    env: 'HIDE_OAUTH_INTROSPECTION_CLIENT_SECRET',
    schema: OptionalString,
    default: undefined,
    example: 'replace-with-the-client-secret',
    secret: true,
    doc: 'Client secret hide introspects with.',
  }),
  setting({
    path: 'oauth.introspection.perAddress',
    env: 'HIDE_OAUTH_INTROSPECTION_PER_ADDRESS',
    schema: int(0, 1_000_000),
    default: 120,
    doc: 'New opaque tokens the introspection endpoint is asked about per minute for one client address (an IPv6 /64); past it a new token gets 429 until the minute ends (known tokens go on), so made-up tokens cannot make this server flood the authorization server. 0: no bound.',
  }),
  setting({
    path: 'allowedClientIps',
    env: 'HIDE_ALLOWED_CLIENT_IPS',
    envAliases: ['SECURITY_ALLOWED_CLIENT_IPS'],
    schema: IpRuleList,
    default: [],
    example: '["127.0.0.1","10.0.0.0/8"]',
    doc: 'Client IPs and CIDRs (v4 and v6) allowed to call; empty allows all.',
  }),
  setting({ path: 'trustedProxies', env: 'HIDE_TRUSTED_PROXIES', schema: IpRuleList, default: [], doc: 'Proxies whose `X-Forwarded-For` is believed; empty ignores the header.' }),
  // Limits
  setting({
    path: 'rateLimit.enabled',
    env: 'HIDE_RATE_LIMIT_ENABLED',
    envAliases: ['SECURITY_RATE_LIMIT_ENABLED'],
    schema: Bool,
    default: true,
    doc: 'Per-client limits on `tools/call` (`initialize`, `tools/list` and `ping` are never limited).',
  }),
  setting({ path: 'rateLimit.rpm', env: 'HIDE_RATE_LIMIT_RPM', envAliases: ['SECURITY_RATE_LIMIT_RPM'], schema: int(1, 1_000_000_000), default: 60, doc: 'Tool calls per minute per client.' }),
  setting({
    path: 'rateLimit.concurrent',
    env: 'HIDE_RATE_LIMIT_CONCURRENT',
    envAliases: ['SECURITY_RATE_LIMIT_CONCURRENT'],
    schema: int(1, 100_000),
    default: 3,
    doc: 'Tool calls at once per client; a call counts until its answer has been taken (over HTTP an answer past 64 KiB goes out as the client reads it), so a client that stops reading its answers is refused more calls.',
  }),
  setting({
    path: 'rateLimit.store',
    env: 'HIDE_RATE_LIMIT_STORE',
    schema: oneOf(['memory', 'redis']),
    default: 'memory',
    doc: 'Where limits are counted: in this process, or in Redis shared by every instance.',
  }),
  setting({
    path: 'rateLimit.redisUrl',
    env: 'HIDE_REDIS_URL',
    schema: OptionalRedisUrl,
    default: undefined,
    example: 'redis://:password@127.0.0.1:6379',
    secret: 'url-password',
    doc: 'Redis URL, required for the `redis` store.',
  }),
  setting({
    path: 'rateLimit.onStoreError',
    env: 'HIDE_RATE_LIMIT_ON_STORE_ERROR',
    schema: oneOf(['deny', 'allow']),
    default: 'deny',
    doc: 'When the store is unreachable: `deny` answers 503 with `Retry-After` (and `/ready` 503), `allow` lets calls through.',
  }),
  setting({
    path: 'rateLimit.leaseSeconds',
    env: 'HIDE_RATE_LIMIT_LEASE_SECONDS',
    schema: int(1, 3600),
    default: 30,
    doc: 'How long a concurrency slot outlives an instance that stopped renewing it (renewed every third of it).',
  }),
  // Audit log
  setting({
    path: 'audit.enabled',
    env: 'HIDE_AUDIT_LOG_ENABLED',
    envAliases: ['SECURITY_AUDIT_LOG_ENABLED'],
    jsonAliases: ['CommandExecution.EnableAuditLogging'],
    schema: Bool,
    default: true,
    doc: 'Write the hash-chained JSON Lines audit log (`hide audit verify`, `hide audit query`).',
  }),
  setting({
    path: 'audit.file',
    env: 'HIDE_AUDIT_LOG_FILE',
    envAliases: ['SECURITY_AUDIT_LOG_FILE'],
    schema: NonEmpty,
    default: ({ env, cwd }) => defaultAuditFile(env, cwd),
    defaultDoc: '`$XDG_STATE_HOME/hide/audit.jsonl`, else `~/.local/state/hide/audit.jsonl`, else `hide-audit.jsonl` in the working directory',
    example: '/var/log/hide/audit.jsonl',
    finish: (file, ctx) => (file === '-' ? file : inCwd(file, ctx)),
    doc: 'Audit log file; `-` writes to stdout, or to stderr with `hide stdio` (its stdout carries MCP): a reader there that is gone, or that lets 4 MiB wait unread, is a write failure like a full disk (lines dropped and counted; `HIDE_AUDIT_ON_ERROR` applies).',
  }),
  setting({
    path: 'audit.maxBytes',
    env: 'HIDE_AUDIT_LOG_MAX_BYTES',
    schema: int(0, Number.MAX_SAFE_INTEGER),
    default: 64 * 1024 * 1024,
    doc: 'Rotate before a write would pass this size, in bytes; 0 never rotates (external logrotate; SIGHUP reopens).',
  }),
  setting({ path: 'audit.keep', env: 'HIDE_AUDIT_LOG_KEEP', schema: int(1, 1000), default: 5, doc: 'Rotated audit files kept.' }),
  setting({
    path: 'audit.refusalsPerAddress',
    env: 'HIDE_AUDIT_REFUSALS_PER_ADDRESS',
    schema: int(1, 1_000_000_000),
    default: 60,
    doc: 'Refusal lines (bad key, refused address, Host or Origin, tool not permitted, limit reached) written one by one per client address and minute — an IPv6 client per /64, an IPv4-mapped address as its IPv4 address (a signed-in client\'s refusals per client, outside the total below); the rest are counted in one summary line per type at the end of the minute, so a flood of refused requests cannot rotate tool calls out of the log. Their stderr warnings follow the same choice. `/metrics` counts them all.',
  }),
  setting({
    path: 'audit.refusalsPerMinute',
    env: 'HIDE_AUDIT_REFUSALS_PER_MINUTE',
    schema: int(1, 1_000_000_000),
    default: 600,
    doc: 'Refusal lines written one by one per minute from all addresses together (signed-in clients apart); the rest are summarised as above.',
  }),
  setting({
    path: 'audit.onError',
    env: 'HIDE_AUDIT_ON_ERROR',
    schema: oneOf(['continue', 'refuse']),
    default: 'continue',
    doc: 'When the audit log cannot be written (full disk, I/O error): `continue` runs calls unaudited (lines dropped and counted), `refuse` answers tool calls 503 with `Retry-After` (and `/ready` 503) until a write succeeds again.',
  }),
  setting({
    path: 'audit.argumentsKey',
    env: 'HIDE_AUDIT_ARGUMENTS_KEY',
    schema: OptionalHmacKey,
    default: undefined,
    example: 'replace-with-output-of-openssl-rand-base64-32',
    secret: true,
    doc: "Key (32+ characters) for `arguments_hmac` on tool-call lines: HMAC-SHA256 of the arguments the tool took, before redaction, so `hide audit query --arguments` finds the calls that ran a command redaction masked. Unset: no digest (an unkeyed one would let a short secret be guessed). Keep it from the log's readers.",
  }),
  // Operations
  setting({
    path: 'metrics.port',
    env: 'HIDE_METRICS_PORT',
    schema: OptionalPort,
    default: undefined,
    defaultDoc: 'unset: `/metrics` on the main port',
    example: '9090',
    doc: 'A separate listener for `/metrics`, on the same host.',
  }),
  setting({
    path: 'metrics.token',
    env: 'HIDE_METRICS_TOKEN',
    schema: OptionalBearerToken,
    default: undefined,
    example: 'replace-with-output-of-openssl-rand-base64-32',
    secret: true,
    doc: 'Bearer token `/metrics` requires; unset requires none (set but empty is refused: that is more often a secret that did not arrive).',
  }),
  setting({
    path: 'shutdownGraceSeconds',
    env: 'HIDE_SHUTDOWN_GRACE_SECONDS',
    schema: int(0, 3600),
    default: 10,
    doc: 'On SIGTERM or SIGINT, how long running calls of `hide serve` may finish before they are stopped (`hide stdio` stops them at once; each is still answered and audited).',
  }),
  setting({
    path: 'log.level',
    env: 'HIDE_LOG_LEVEL',
    schema: oneOf(['silent', 'error', 'warn', 'info', 'debug', 'trace']),
    default: 'info',
    doc: 'Log level on stderr: silent, error, warn, info, debug or trace.',
  }),
  setting({
    path: 'log.format',
    env: 'HIDE_LOG_FORMAT',
    schema: oneOf(['pretty', 'json']),
    default: ({ isTTY }) => (isTTY ? 'pretty' : 'json'),
    defaultDoc: '`pretty` on a terminal, else `json`',
    example: 'json',
    doc: 'Log format on stderr: pretty or json (one object per line). In both, control characters, DEL, C1 controls and bidirectional marks from client text are written as `\\uXXXX`, so a header cannot act on the terminal showing the log or start a line of its own.',
  }),
  // Commands
  setting({
    path: 'exec.defaultTimeoutSeconds',
    env: 'HIDE_EXEC_DEFAULT_TIMEOUT_SECONDS',
    envAliases: ['CommandExecution__DefaultTimeoutSeconds'],
    jsonAliases: ['CommandExecution.DefaultTimeoutSeconds'],
    schema: int(1, 86_400),
    default: 30,
    doc: 'Timeout of a command call that names none; at most HIDE_EXEC_MAX_TIMEOUT_SECONDS.',
  }),
  setting({
    path: 'exec.maxTimeoutSeconds',
    env: 'HIDE_EXEC_MAX_TIMEOUT_SECONDS',
    envAliases: ['CommandExecution__MaxTimeoutSeconds'],
    jsonAliases: ['CommandExecution.MaxTimeoutSeconds'],
    schema: int(1, 86_400),
    default: 300,
    doc: 'Longest timeout a command call may ask for.',
  }),
  setting({
    path: 'exec.maxOutputBytes',
    env: 'HIDE_EXEC_MAX_OUTPUT_BYTES',
    envAliases: ['CommandExecution__MaxOutputBytes'],
    jsonAliases: ['CommandExecution.MaxOutputBytes'],
    schema: int(1024, 1024 * 1024 * 1024),
    // An agent reads the output in its context window: 256 KiB is already ~64k tokens.
    default: 256 * 1024,
    doc: 'Output kept per stream of a command, in bytes (1024 to 1 GiB), and at most twice that as JSON text (a control byte takes six); an agent reads it in its context window.',
  }),
  setting({
    path: 'exec.allowedCommands',
    env: 'HIDE_EXEC_ALLOWED_COMMANDS',
    envAliases: ['CommandExecution__AllowedCommands'],
    jsonAliases: ['CommandExecution.AllowedCommands'],
    schema: CommandNameList,
    default: [],
    doc: 'When not empty, the only commands allowed, by base name.',
  }),
  setting({
    path: 'exec.deniedCommands',
    env: 'HIDE_EXEC_DENIED_COMMANDS',
    envAliases: ['CommandExecution__DeniedCommands'],
    jsonAliases: ['CommandExecution.DeniedCommands'],
    schema: CommandNameList,
    default: SEED_DENIED_COMMANDS,
    doc: "Commands refused, by base name (also a symlink's target's); a denial wins over the allow list.",
  }),
  setting({
    path: 'exec.envPassthrough',
    env: 'HIDE_EXEC_ENV_PASSTHROUGH',
    schema: v.pipe(
      EnvNameList,
      // The server's own secrets are in its environment: handing them to commands would hand them to every client.
      v.rawCheck<string[]>(({ dataset, addIssue }) => {
        if (!dataset.typed) return;
        const secrets = secretEnvNames();
        for (const name of dataset.value) if (secrets.has(name)) addIssue({ message: `"${name}" is a secret of the server; commands must not get it` });
      }),
    ),
    default: [],
    example: '["GOPATH"]',
    doc: 'Server environment variables commands also get (they get only PATH, HOME, LANG and TERM otherwise); never a secret setting such as HIDE_API_KEY.',
  }),
  // Long-running processes (process_* tools)
  setting({
    path: 'process.maxPerClient',
    env: 'HIDE_PROCESS_MAX_PER_CLIENT',
    schema: int(1, 10_000),
    default: 8,
    doc: 'Long-running processes one client may have running at once; the next `process_start` is refused (429).',
  }),
  setting({ path: 'process.maxTotal', env: 'HIDE_PROCESS_MAX_TOTAL', schema: int(1, 100_000), default: 64, doc: 'Long-running processes running at once on this instance, all clients together.' }),
  setting({
    path: 'process.bufferBytes',
    env: 'HIDE_PROCESS_BUFFER_BYTES',
    schema: int(4096, 256 * 1024 * 1024),
    default: 1024 * 1024,
    doc: "Output kept per process (a ring: the oldest is dropped and counted in `process_read`'s `dropped`), in bytes.",
  }),
  setting({
    path: 'process.defaultTimeoutSeconds',
    env: 'HIDE_PROCESS_DEFAULT_TIMEOUT_SECONDS',
    schema: int(1, 7 * 86_400),
    default: 3600,
    doc: 'Lifetime of a process whose start names none; then its group is killed (status `timed-out`). At most HIDE_PROCESS_MAX_TIMEOUT_SECONDS.',
  }),
  setting({ path: 'process.maxTimeoutSeconds', env: 'HIDE_PROCESS_MAX_TIMEOUT_SECONDS', schema: int(1, 7 * 86_400), default: 86_400, doc: 'Longest lifetime a `process_start` may ask for.' }),
  setting({
    path: 'process.idleTimeoutSeconds',
    env: 'HIDE_PROCESS_IDLE_TIMEOUT_SECONDS',
    schema: int(1, 7 * 86_400),
    default: 1800,
    doc: 'A process no call has read, written or listed for this long is killed (status `timed-out`); a start may ask for less.',
  }),
  setting({
    path: 'process.keepExitedSeconds',
    env: 'HIDE_PROCESS_KEEP_EXITED_SECONDS',
    schema: int(0, 86_400),
    default: 600,
    doc: 'How long an ended process stays readable (its last output and status) before its handle is forgotten; a client keeps at most 4 × HIDE_PROCESS_MAX_PER_CLIENT ended processes, the oldest forgotten first, and all clients together at most HIDE_PROCESS_MAX_TOTAL, taken from the client keeping the most.',
  }),
  setting({
    path: 'process.envAllowlist',
    env: 'HIDE_PROCESS_ENV_ALLOWLIST',
    schema: EnvNameList,
    default: ['NODE_ENV', 'PORT', 'HOST', 'DEBUG', 'CI', 'NO_COLOR', 'FORCE_COLOR', 'PYTHONUNBUFFERED', 'RUST_LOG', 'RUST_BACKTRACE', 'LOG_LEVEL'],
    doc: '`env` names a `process_start` may set; `PATH`, `HOME`, `TMPDIR`, `LD_*` and `DYLD_*` are refused whatever this says.',
  }),
  setting({
    path: 'process.instanceId',
    env: 'HIDE_INSTANCE_ID',
    schema: v.pipe(NonEmpty, v.maxLength(64), v.regex(/^[A-Za-z0-9.-]+$/, 'expected letters, digits, dots and dashes')),
    default: () => hostname().replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 64) || 'hide',
    defaultDoc: 'the host name',
    doc: 'Names this instance in process handles, so a handle sent to another replica gets a clear error (route by it: sticky routing).',
  }),
  // Command sandbox
  setting({
    path: 'sandbox.mode',
    env: 'HIDE_SANDBOX',
    schema: oneOf(['auto', 'required', 'off']),
    default: 'auto',
    doc: 'Command sandbox (Landlock, seccomp, PID namespace): `auto` when the kernel has it, `required` refuses to start without it, or `off`.',
  }),
  setting({ path: 'sandbox.network', env: 'HIDE_SANDBOX_NETWORK', schema: oneOf(['off', 'on']), default: 'off', doc: 'Whether sandboxed commands may open network sockets; on, they reach this server\'s port, the Redis limits store and every service of the host as any local process does (docs/sandbox.md says what to guard, and the server warns at start about what is not).' }),
  setting({
    path: 'sandbox.launcherIdleSeconds',
    env: 'HIDE_SANDBOX_LAUNCHER_IDLE_SECONDS',
    schema: int(1, 86_400),
    default: 60,
    doc: "How long a client's sandbox launcher, with the private TMPDIR it holds, stays after the client's last command ends; the next command starts a new one (a few ms).",
  }),
  setting({
    path: 'sandbox.maxLaunchers',
    env: 'HIDE_SANDBOX_MAX_LAUNCHERS',
    schema: int(1, 1024),
    default: 64,
    doc: "Most clients with a sandbox launcher at once (one process each, ~10 MB PSS, plus one spare booted ahead). Past it an idle client's launcher is closed to make room; while every one runs a command or a process, a new client's call that needs one (`shell_execute*`, `process_start`, `search_files` with ripgrep, the version probes of `shell_get_available_tools`) is refused: 429 / -31429, `reason` `launchers`, `Retry-After`.",
  }),
  setting({
    path: 'sandbox.readOnlyPaths',
    env: 'HIDE_SANDBOX_READ_ONLY_PATHS',
    schema: AbsolutePathList,
    default: [],
    defaultDoc: '`[]`: the built-in list (`/usr`, `/bin`, `/sbin`, `/lib*`, `/opt`, `/proc`, named parts of `/etc`, never `/etc` itself)',
    doc: 'System paths sandboxed commands may read, absolute; a list replaces the built-in one, so name what commands still need (`/usr`, `/bin`, `/lib`…).',
  }),
  setting({ path: 'sandbox.cpuSeconds', env: 'HIDE_SANDBOX_CPU_SECONDS', schema: int(0, 1_000_000), default: 0, doc: 'CPU seconds per command (RLIMIT_CPU); 0 = no limit.' }),
  setting({ path: 'sandbox.memoryBytes', env: 'HIDE_SANDBOX_MEMORY_BYTES', schema: int(0, Number.MAX_SAFE_INTEGER), default: 0, doc: 'Data memory per command process, in bytes (RLIMIT_DATA); 0 = no limit.' }),
  setting({ path: 'sandbox.openFiles', env: 'HIDE_SANDBOX_OPEN_FILES', schema: int(0, 1_048_576), default: 4096, doc: 'Open files per command process (RLIMIT_NOFILE); 0 = no limit.' }),
  setting({ path: 'sandbox.fileSizeBytes', env: 'HIDE_SANDBOX_FILE_SIZE_BYTES', schema: int(0, Number.MAX_SAFE_INTEGER), default: 0, doc: 'Largest file a command may write, in bytes (RLIMIT_FSIZE); 0 = no limit.' }),
  setting({
    path: 'sandbox.pendingSignals',
    env: 'HIDE_SANDBOX_PENDING_SIGNALS',
    schema: int(0, 4_194_304),
    default: 1024,
    doc: "Signals queued and POSIX timers held by the server's user that a command may reach (RLIMIT_SIGPENDING, one count per user: as root, every root process of the host's, which one command's timers would otherwise take whole); 0 = no limit.",
  }),
  setting({
    path: 'sandbox.nice',
    env: 'HIDE_SANDBOX_NICE',
    schema: int(0, 19),
    default: 10,
    doc: "Nice value commands run at (0–19; 0 = the server's own): the CPU goes to the server first when the host is busy, and idle CPU to commands as before. Commands cannot lower it, and the out-of-memory killer picks them before the server whatever it is.",
  }),
  setting({ path: 'sandbox.processes', env: 'HIDE_SANDBOX_PROCESSES', schema: int(0, 4_194_304), default: 4096, doc: "Processes of the server's user a command may reach (RLIMIT_NPROC; root ignores it); 0 = no limit. What a command forks in the moment before its limit lands may reach 1024 more." }),
] as const;
