/**
 * The one valibot schema for every setting. Values arrive as strings (flags,
 * environment, .env) or JSON values (config file); each field coerces and
 * checks its own form so the error can name the setting and what it expects.
 */
import * as v from 'valibot';

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

const Bool = v.union(
  [
    v.boolean(),
    v.pipe(
      v.string(),
      v.transform((s) => s.trim().toLowerCase()),
      v.check((s) => TRUE.has(s) || FALSE.has(s), 'expected true or false'),
      v.transform((s) => TRUE.has(s)),
    ),
  ],
  'expected true or false',
);

function int(min: number, max: number) {
  return v.pipe(
    v.union(
      [
        v.number(),
        v.pipe(
          v.string(),
          v.trim(),
          v.regex(/^-?\d+$/, 'expected an integer'),
          v.transform((s) => Number(s)),
        ),
      ],
      'expected an integer',
    ),
    v.integer('expected an integer'),
    v.minValue(min, `expected an integer >= ${min}`),
    v.maxValue(max, `expected an integer <= ${max}`),
  );
}

/** A list: a JSON array, a JSON array written as a string, or comma-separated. */
const List = v.pipe(
  v.union(
    [
      v.array(v.string('expected a list of strings')),
      v.pipe(
        v.string(),
        v.rawTransform(({ dataset, addIssue, NEVER }) => {
          const text = dataset.value.trim();
          if (text === '') return [] as string[];
          if (text.startsWith('[')) {
            try {
              const parsed: unknown = JSON.parse(text);
              if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed as string[];
            } catch {
              /* reported below */
            }
            addIssue({ message: 'expected a JSON array of strings or a comma-separated list' });
            return NEVER;
          }
          return text.split(',');
        }),
      ),
    ],
    'expected a list (JSON array or comma-separated)',
  ),
  v.transform((items) => items.map((s) => s.trim()).filter((s) => s !== '')),
);

const NonEmpty = v.pipe(v.string('expected a string'), v.trim(), v.minLength(1, 'must not be empty'));
const OptionalString = v.optional(
  v.pipe(
    v.string('expected a string'),
    v.transform((s) => (s.trim() === '' ? undefined : s)),
  ),
);

/** A port that may be left unset (empty string from the environment = unset). */
const OptionalPort = v.optional(
  v.pipe(
    v.union([v.number(), v.string()], 'expected a port number'),
    v.transform((x) => (typeof x === 'string' ? (x.trim() === '' ? undefined : Number(x.trim())) : x)),
    v.union(
      [v.undefined(), v.pipe(v.number(), v.integer('expected a port number'), v.minValue(1, 'expected a port from 1 to 65535'), v.maxValue(65535, 'expected a port from 1 to 65535'))],
      'expected a port from 1 to 65535',
    ),
  ),
);

const HeaderName = v.pipe(NonEmpty, v.regex(/^[A-Za-z0-9-]+$/, 'expected an HTTP header name'));

export const ConfigSchema = v.object({
  host: NonEmpty,
  port: int(0, 65535),
  workspace: NonEmpty,
  allowedPaths: List,
  auth: v.object({
    enabled: Bool,
    apiKey: OptionalString,
    keysFile: OptionalString,
    header: HeaderName,
  }),
  allowedClientIps: List,
  trustedProxies: List,
  rateLimit: v.object({
    enabled: Bool,
    rpm: int(1, 1_000_000_000),
    concurrent: int(1, 100_000),
    store: v.picklist(['memory', 'redis'], 'expected memory or redis'),
    redisUrl: OptionalString,
    onStoreError: v.picklist(['deny', 'allow'], 'expected deny or allow'),
    /** How long a concurrency slot outlives an instance that stopped renewing it. */
    leaseSeconds: int(1, 3600),
  }),
  audit: v.object({
    enabled: Bool,
    file: NonEmpty,
    /** Rotate before a write would pass this size; 0 = never (external logrotate). */
    maxBytes: int(0, Number.MAX_SAFE_INTEGER),
    keep: int(1, 1000),
  }),
  metrics: v.object({
    /** A separate listener for /metrics; unset = served on the main port. */
    port: OptionalPort,
    token: OptionalString,
  }),
  shutdownGraceSeconds: int(0, 3600),
  /** null: the default rule (loopback origins when bound to loopback). */
  allowedOrigins: v.nullable(List),
  maxBodyBytes: int(1024, 1024 * 1024 * 1024),
  allowUnauthenticated: Bool,
  readOnly: Bool,
  sandbox: v.object({
    mode: v.picklist(['auto', 'required', 'off'], 'expected auto, required or off'),
    network: v.picklist(['off', 'on'], 'expected off or on'),
    /** Read-only system paths for sandboxed commands; empty = the built-in list. */
    readOnlyPaths: List,
    /** Per-call resource limits; 0 = no limit. */
    cpuSeconds: int(0, 1_000_000),
    memoryBytes: int(0, Number.MAX_SAFE_INTEGER),
    openFiles: int(0, 1_048_576),
    fileSizeBytes: int(0, Number.MAX_SAFE_INTEGER),
    processes: int(0, 4_194_304),
  }),
  log: v.object({
    level: v.picklist(['silent', 'error', 'warn', 'info', 'debug', 'trace'], 'expected silent, error, warn, info, debug or trace'),
    format: v.picklist(['pretty', 'json'], 'expected pretty or json'),
  }),
  exec: v.pipe(
    v.object({
      defaultTimeoutSeconds: int(1, 86_400),
      maxTimeoutSeconds: int(1, 86_400),
      maxOutputBytes: int(1024, 1024 * 1024 * 1024),
      allowedCommands: List,
      deniedCommands: List,
      envPassthrough: List,
    }),
    v.check(
      (e) => e.defaultTimeoutSeconds <= e.maxTimeoutSeconds,
      'exec.defaultTimeoutSeconds must not exceed exec.maxTimeoutSeconds',
    ),
  ),
});

export type Config = v.InferOutput<typeof ConfigSchema>;
