/**
 * The value forms settings take, as valibot schemas. Values arrive as strings
 * (flags, environment, .env) or JSON values (config file), so each form
 * coerces and checks its own input; the message says what it expects, and the
 * loader prefixes the setting's name.
 */
import * as v from 'valibot';
import { parseHost } from '../util/host-header.ts';
import { parseIp, parseIpRule } from '../util/ip-rules.ts';

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

export const Bool = v.union(
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

export function int(min: number, max: number) {
  const checked = v.pipe(
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
  // One message per bad value: Infinity (1e400 in a config file) is not also "out of range".
  return v.config(checked, { abortPipeEarly: true });
}

/** One of a few words; the message lists them ("expected a, b or c"). */
export function oneOf<const T extends readonly [string, ...string[]]>(words: T) {
  const list = words.length === 1 ? words[0] : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
  return v.picklist(words, `expected ${list}`);
}

/** A list: a JSON array, a JSON array written as a string, or comma-separated. */
export const List = v.pipe(
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

export const NonEmpty = v.pipe(v.string('expected a string'), v.trim(), v.minLength(1, 'must not be empty'));

/** A string that may be left unset (an empty string from the environment = unset). */
export const OptionalString = v.optional(
  v.pipe(
    v.string('expected a string'),
    v.transform((s) => (s.trim() === '' ? undefined : s)),
  ),
);

/** A port that may be left unset (empty string from the environment = unset). */
export const OptionalPort = v.optional(
  v.pipe(
    v.union([v.number(), v.string()], 'expected a port number'),
    v.transform((x) => (typeof x === 'string' ? (x.trim() === '' ? undefined : Number(x.trim())) : x)),
    v.union(
      [
        v.undefined(),
        v.pipe(
          v.number(),
          v.integer('expected a port number'),
          v.minValue(1, 'expected a port from 1 to 65535'),
          v.maxValue(65535, 'expected a port from 1 to 65535'),
        ),
      ],
      'expected a port from 1 to 65535',
    ),
  ),
);

export const HeaderName = v.pipe(NonEmpty, v.regex(/^[A-Za-z0-9-]+$/, 'expected an HTTP header name'));

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.hash === '' && u.username === '' && u.password === '';
  } catch {
    return false;
  }
}

/** A URL setting, or unset: blank is unset, anything else is trimmed and must pass `valid`. */
function optionalUrl(valid: (url: string) => boolean, message: string) {
  return v.optional(
    v.pipe(
      v.string('expected a URL'),
      v.transform((s) => (s.trim() === '' ? undefined : s.trim())),
      v.union([v.undefined(), v.pipe(v.string(), v.check(valid, message))]),
    ),
  );
}

/** An absolute http(s) URL without fragment or credentials, or unset. */
export const OptionalUrl = optionalUrl(isHttpUrl, 'expected an absolute http(s) URL without #fragment or user:password@');

/** A list of absolute http(s) URLs, kept exactly as written (issuers compare as strings). */
export const UrlList = v.pipe(
  List,
  v.check((items) => items.every(isHttpUrl), 'expected absolute http(s) URLs without #fragment or user:password@'),
);

/** A JSON object whose values are lists of strings: `{"name":["a","b"]}` (a JSON string from the environment). */
export const ListMap = v.pipe(
  v.union(
    [
      v.record(v.string(), v.array(v.string())),
      v.pipe(
        v.string(),
        v.rawTransform(({ dataset, addIssue, NEVER }) => {
          try {
            const parsed: unknown = JSON.parse(dataset.value);
            if (
              parsed !== null &&
              typeof parsed === 'object' &&
              !Array.isArray(parsed) &&
              Object.values(parsed).every((l) => Array.isArray(l) && l.every((x) => typeof x === 'string'))
            ) {
              return parsed as Record<string, string[]>;
            }
          } catch {
            /* reported below */
          }
          addIssue({ message: 'expected a JSON object of lists of strings, e.g. {"name":["a","b"]}' });
          return NEVER;
        }),
      ),
    ],
    'expected a JSON object of lists of strings, e.g. {"name":["a","b"]}',
  ),
  v.check((m) => Object.keys(m).length > 0 && Object.keys(m).every((k) => /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(k)), 'expected at least one entry, each name a valid scope token'),
);

/** Adds one issue per item `problem` finds fault with, so a start lists every bad entry at once. */
function eachItem(problem: (item: string) => string | null) {
  return v.rawCheck<string[]>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    for (const item of dataset.value) {
      const message = problem(item);
      if (message !== null) addIssue({ message });
    }
  });
}

/** IP addresses and CIDR ranges, v4 and v6 (IPv4-mapped counts as IPv4), each checked here rather than at start-up. */
export const IpRuleList = v.pipe(
  List,
  eachItem((item) => {
    try {
      parseIpRule(item);
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  }),
);

/** Host names, addresses or name:port entries (IPv6 in brackets), or `*`. */
export const HostList = v.pipe(
  List,
  eachItem((item) => (item === '*' || parseHost(item) !== null ? null : `"${item}" is not a host name, an address or name:port (IPv6 in brackets)`)),
);

/** The schemes the runtime's Redis client takes. */
const REDIS_PROTOCOLS = ['redis:', 'rediss:', 'valkey:', 'valkeys:', 'redis+tls:', 'redis+unix:', 'redis+tls+unix:'];

function isRedisUrl(s: string): boolean {
  try {
    const u = new URL(s);
    if (!REDIS_PROTOCOLS.includes(u.protocol)) return false;
    return u.protocol.endsWith('unix:') ? u.pathname !== '' && u.pathname !== '/' : u.hostname !== '';
  } catch {
    return false;
  }
}

/**
 * A Redis URL, or unset. A malformed one is a bad setting: the limiter would
 * otherwise retry it for ever and answer every tool call 503.
 */
export const OptionalRedisUrl = optionalUrl(isRedisUrl, 'expected redis://[user:password@]host[:port][/db], rediss://… for TLS, or redis+unix:///path/to/socket');

/**
 * A bearer token, or unset. Whitespace inside or around it could never be
 * sent back in an `Authorization: Bearer` header, so every request would be
 * refused: a trailing newline (a token read from a file) is a bad setting.
 */
/** A token or key is printable ASCII with no space: a newline pasted from a file would never match what a client sends. */
const printableNoSpaces = v.regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces (a trailing newline from a file?)');

export const OptionalBearerToken = v.optional(
  v.config(
    v.pipe(
      v.string('expected a string'),
      // Unlike other settings, not taken as unset: no token opens what it guards, and an empty one is more often a
      // secret that did not arrive (a missing secret-store value, an unset variable in a template) than that wish.
      v.check((s) => s.trim() !== '', 'is set but empty: without a token anyone who reaches the port may read it; leave the setting out for that, or give the token'),
      printableNoSpaces,
    ),
    // One problem for an empty value: it is not also a badly spelled token.
    { abortPipeEarly: true },
  ),
);

/**
 * A key the server signs with (HMAC), or unset: 32 characters or more, as
 * `openssl rand -base64 32` makes 44, so it cannot be found by trying.
 */
export const OptionalHmacKey = v.optional(
  v.pipe(
    v.string('expected a string'),
    v.transform((s) => (s.trim() === '' ? undefined : s)),
    v.union([
      v.undefined(),
      v.pipe(
        v.string(),
        printableNoSpaces,
        v.minLength(32, 'must be at least 32 characters (`openssl rand -base64 32` makes one)'),
        v.check((s) => !s.startsWith('replace-with-'), "is the example's placeholder: make a key with `openssl rand -base64 32`"),
      ),
    ]),
  ),
);

/** Why an entry cannot equal a browser's `Origin` header, or null when it can. */
function originProblem(item: string): string | null {
  const entry = item.replace(/\/+$/, '');
  const notOrigin = `"${item}" is not an origin (scheme://host[:port])`;
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return notOrigin;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    // A browser extension (chrome-extension://<id>) or an editor webview (vscode-webview://<id>) sends scheme://host,
    // which URL does not normalise ("null" origin); a file or sandboxed frame sends "null", never allowed.
    const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#@\s]+)(.*)$/.exec(entry.toLowerCase());
    if (m === null || url.protocol === 'file:') return notOrigin;
    return m[2] === '' ? null : `"${item}" is not an origin as browsers send it: write ${m[1]}`;
  }
  // A path, a query or a default port written out would never equal what a browser sends.
  if (url.origin !== entry.toLowerCase()) return `"${item}" is not an origin as browsers send it: write ${url.origin}`;
  return null;
}

/** Browser origins (`https://ide.example.com`, `http://localhost:3000`) or `*`, each as a browser writes it. */
export const OriginList = v.pipe(
  List,
  eachItem((item) => (item === '*' ? null : originProblem(item))),
);

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** An address to listen on: an IP address (IPv6 with or without brackets, kept without) or a host name; no port. */
export const ListenHost = v.pipe(
  NonEmpty,
  v.transform((s) => (/^\[.*\]$/.test(s) ? s.slice(1, -1) : s)),
  // All digits and dots is an IPv4 address or nothing (999.1.1.1 is no host name).
  v.check((s) => parseIp(s) !== null || (HOST_NAME.test(s) && !/^[\d.]+$/.test(s)), 'expected an IP address or a host name, without a port (the port is HIDE_PORT)'),
);

/**
 * Program names as the allow and deny lists compare them: base names. A path
 * (`/bin/rm`) would never equal one, so a denial written that way would
 * silently deny nothing.
 */
export const CommandNameList = v.pipe(
  List,
  eachItem((item) => (item.includes('/') ? `"${item}" is a path; the list takes program names (${item.split('/').filter(Boolean).at(-1) ?? item})` : null)),
);

/** Environment variable names, as a list. */
export const EnvNameList = v.pipe(
  List,
  eachItem((item) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(item) ? null : `"${item}" is not an environment variable name`)),
);

/** Absolute paths (what a relative one would be relative to is nobody's guess). */
export const AbsolutePathList = v.pipe(
  List,
  eachItem((item) => (item.startsWith('/') ? null : `"${item}" is not an absolute path`)),
);
