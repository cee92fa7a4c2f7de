/**
 * The one valibot schema for the whole config and its type, both built from
 * the rows of settings.ts: a dotted path becomes a nested object, each leaf
 * the row's own schema. Only checks across settings are written here.
 */
import * as v from 'valibot';
import type { SettingSpec } from './setting.ts';
import { SETTINGS } from './settings.ts';

type Row = (typeof SETTINGS)[number];

/** Every setting's dotted path. */
export type SettingPath = Row['path'];

/** The parsed value of one setting. */
export type SettingValue<P extends SettingPath> = v.InferOutput<Extract<Row, { path: P }>['schema']>;

// The Config type, from the paths: "a.b" under key "a", recursively; a
// setting that may be unset becomes an optional key, as v.object would make it.
type Head<P extends string> = P extends `${infer H}.${string}` ? H : P;
type Under<R, K extends string> = R extends { path: `${K}.${infer T}`; schema: infer S } ? { path: T; schema: S } : never;
type Node<R extends { path: string; schema: v.GenericSchema }, K extends string> = [Extract<R, { path: K }>] extends [never]
  ? Tree<Under<R, K>>
  : v.InferOutput<Extract<R, { path: K }>['schema']>;
type Tree<R extends { path: string; schema: v.GenericSchema }> = {
  [K in Head<R['path']> as undefined extends Node<R, K> ? never : K]: Node<R, K>;
} & {
  [K in Head<R['path']> as undefined extends Node<R, K> ? K : never]?: Node<R, K>;
} extends infer T
  ? { [K in keyof T]: T[K] }
  : never;

export type Config = Tree<Row>;

/** Nests the rows' schemas by path, keeping the rows' order. */
function objectOf(rows: readonly SettingSpec[], prefix = ''): v.GenericSchema {
  const entries = new Map<string, v.GenericSchema | SettingSpec[]>();
  for (const row of rows) {
    const [head, ...rest] = row.path.slice(prefix.length).split('.') as [string, ...string[]];
    if (rest.length === 0) entries.set(head, row.schema);
    else {
      const group = entries.get(head) ?? [];
      if (!Array.isArray(group)) throw new Error(`setting ${row.path} is under another setting`);
      entries.set(head, [...group, row]);
    }
  }
  const shape: Record<string, v.GenericSchema> = {};
  for (const [key, entry] of entries) shape[key] = Array.isArray(entry) ? objectOf(entry, `${prefix}${key}.`) : entry;
  return v.object(shape);
}

// A partial check runs even while other settings are bad, so one start reports every problem.
export const ConfigSchema = v.pipe(
  objectOf(SETTINGS) as v.GenericSchema<unknown, Config>,
  v.forward(
    v.partialCheck(
      [['exec', 'defaultTimeoutSeconds'], ['exec', 'maxTimeoutSeconds']],
      (c) => c.exec.defaultTimeoutSeconds <= c.exec.maxTimeoutSeconds,
      (issue) => `must not exceed HIDE_EXEC_MAX_TIMEOUT_SECONDS (${(issue.input as Config).exec.maxTimeoutSeconds})`,
    ),
    ['exec', 'defaultTimeoutSeconds'],
  ),
  v.forward(
    v.partialCheck(
      [['port'], ['metrics', 'port']],
      (c) => c.metrics.port === undefined || c.port === 0 || c.metrics.port !== c.port,
      (issue) => `must differ from HIDE_PORT (${(issue.input as Config).port}): it is a second listener, for /metrics only`,
    ),
    ['metrics', 'port'],
  ),
  v.forward(
    v.partialCheck(
      [['rateLimit', 'store'], ['rateLimit', 'enabled'], ['rateLimit', 'redisUrl']],
      (c) => c.rateLimit.store !== 'redis' || !c.rateLimit.enabled || c.rateLimit.redisUrl !== undefined,
      'is required with HIDE_RATE_LIMIT_STORE=redis (e.g. redis://redis:6379)',
    ),
    ['rateLimit', 'redisUrl'],
  ),
  v.forward(
    v.partialCheck(
      [['auth', 'mode'], ['oauth', 'resource']],
      (c) => c.auth.mode === 'apikey' || c.oauth.resource !== undefined,
      'is required with HIDE_AUTH_MODE=oauth or both (this server\'s URL, e.g. https://hide.example.com/mcp)',
    ),
    ['oauth', 'resource'],
  ),
  v.forward(
    v.partialCheck(
      [['auth', 'mode'], ['oauth', 'issuers']],
      (c) => c.auth.mode === 'apikey' || c.oauth.issuers.length > 0,
      'needs at least one issuer with HIDE_AUTH_MODE=oauth or both',
    ),
    ['oauth', 'issuers'],
  ),
  v.forward(
    v.partialCheck(
      [['oauth', 'introspection', 'issuer'], ['oauth', 'introspection', 'url'], ['oauth', 'issuers']],
      (c) =>
        c.oauth.introspection?.issuer === undefined
          ? c.oauth.introspection?.url === undefined || c.oauth.issuers.length <= 1
          : c.oauth.issuers.includes(c.oauth.introspection.issuer),
      'HIDE_OAUTH_INTROSPECTION_ISSUER must be one of HIDE_OAUTH_ISSUERS, exactly as written there; with more than one issuer and introspection it is required (the issuer whose users its answers are: no answer is taken for another issuer\'s)',
    ),
    ['oauth', 'introspection'],
  ),
  v.forward(
    v.partialCheck(
      [['oauth', 'introspection', 'url'], ['oauth', 'introspection', 'clientId'], ['oauth', 'introspection', 'clientSecret']],
      (c) => c.oauth.introspection?.url === undefined || (c.oauth.introspection.clientId !== undefined && c.oauth.introspection.clientSecret !== undefined),
      'needs HIDE_OAUTH_INTROSPECTION_CLIENT_ID and HIDE_OAUTH_INTROSPECTION_CLIENT_SECRET',
    ),
    ['oauth', 'introspection'],
  ),
);
