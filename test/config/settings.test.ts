/**
 * The settings table itself: names are unique, every default passes its own
 * schema, the seeds' names stay, the derived schema and defaults are what the
 * rows say, and masking follows the secret flag.
 */
import { describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import * as v from 'valibot';
import { loadConfig, maskedConfig, maskedUrlUserinfo } from '../../src/config/load.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import { CONFIG_FILE_ENV, defaultOf, type SettingSpec } from '../../src/config/setting.ts';
import { DEFAULT_OAUTH_SCOPES, SEED_DENIED_COMMANDS, SETTINGS } from '../../src/config/settings.ts';
import { configDir } from './helpers.ts';

const ROWS: readonly SettingSpec[] = SETTINGS;

describe('the rows', () => {
  test('paths, environment names and aliases are unique, and no name is HIDE_CONFIG', () => {
    const names = [CONFIG_FILE_ENV, ...ROWS.flatMap((s) => [s.env, ...(s.envAliases ?? [])])];
    const jsonKeys = ROWS.flatMap((s) => [s.path, ...(s.jsonAliases ?? [])].map((p) => p.toLowerCase()));
    const dupes = (xs: string[]) => xs.filter((x, i) => xs.indexOf(x) !== i);
    expect({ names: dupes(names), jsonKeys: dupes(jsonKeys) }).toEqual({ names: [], jsonKeys: [] });
  });

  test('every default passes its own schema, and each row has a one-line description', () => {
    const ctx = { cwd: '/srv/project', env: { HOME: '/home/u' }, isTTY: false };
    const bad = ROWS.filter((s) => !v.safeParse(s.schema, defaultOf(s, ctx)).success || s.doc.trim() === '' || s.doc.includes('\n')).map((s) => s.path);
    expect(bad).toEqual([]);
  });

  test("the seeds' names are all still there, on the same settings", () => {
    const aliased = Object.fromEntries(ROWS.filter((s) => s.envAliases || s.jsonAliases).map((s) => [s.path, { env: s.envAliases ?? [], json: s.jsonAliases ?? [] }]));
    expect(aliased).toEqual({
      host: { env: [], json: ['server.host'] },
      port: { env: [], json: ['server.port'] },
      workspace: { env: ['CODE_BASE_PATH'], json: ['CodeBasePath'] },
      allowedPaths: { env: [], json: ['CommandExecution.AllowedPaths'] },
      'auth.enabled': { env: ['Authentication__ApiKey__Enabled', 'SECURITY_AUTH_ENABLED'], json: ['Authentication.ApiKey.Enabled'] },
      'auth.apiKey': { env: ['Authentication__ApiKey__Key'], json: ['Authentication.ApiKey.Key'] },
      'auth.keysFile': { env: ['SECURITY_API_KEYS_FILE'], json: [] },
      'auth.header': { env: ['SECURITY_API_KEY_HEADER'], json: [] },
      allowedClientIps: { env: ['SECURITY_ALLOWED_CLIENT_IPS'], json: [] },
      'rateLimit.enabled': { env: ['SECURITY_RATE_LIMIT_ENABLED'], json: [] },
      'rateLimit.rpm': { env: ['SECURITY_RATE_LIMIT_RPM'], json: [] },
      'rateLimit.concurrent': { env: ['SECURITY_RATE_LIMIT_CONCURRENT'], json: [] },
      'audit.enabled': { env: ['SECURITY_AUDIT_LOG_ENABLED'], json: ['CommandExecution.EnableAuditLogging'] },
      'audit.file': { env: ['SECURITY_AUDIT_LOG_FILE'], json: [] },
      'exec.defaultTimeoutSeconds': { env: ['CommandExecution__DefaultTimeoutSeconds'], json: ['CommandExecution.DefaultTimeoutSeconds'] },
      'exec.maxTimeoutSeconds': { env: ['CommandExecution__MaxTimeoutSeconds'], json: ['CommandExecution.MaxTimeoutSeconds'] },
      'exec.maxOutputBytes': { env: ['CommandExecution__MaxOutputBytes'], json: ['CommandExecution.MaxOutputBytes'] },
      'exec.allowedCommands': { env: ['CommandExecution__AllowedCommands'], json: ['CommandExecution.AllowedCommands'] },
      'exec.deniedCommands': { env: ['CommandExecution__DeniedCommands'], json: ['CommandExecution.DeniedCommands'] },
    });
  });
});

describe('the derived schema', () => {
  test('defaults in an empty environment', () => {
    using dir = configDir();
    const { config, sources } = loadConfig({ cwd: dir.path, env: {}, isTTY: true });
    expect(config).toEqual({
      host: '127.0.0.1',
      port: 5000,
      allowUnauthenticated: false,
      maxBodyBytes: 4194304,
      bodyTimeoutSeconds: 30,
      allowedOrigins: null,
      allowedHosts: [],
      workspace: dir.path,
      allowedPaths: [],
      readOnly: false,
      auth: { enabled: false, apiKey: undefined, keysFile: undefined, header: 'X-API-Key', mode: 'apikey' },
      oauth: {
        resource: undefined,
        issuers: [],
        audience: undefined,
        scopes: DEFAULT_OAUTH_SCOPES,
        algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
        clockLeewaySeconds: 30,
        jwksCooldownSeconds: 30,
        jwksMaxAgeSeconds: 600,
        introspection: { url: undefined, clientId: undefined, clientSecret: undefined, perAddress: 120 },
      },
      allowedClientIps: [],
      trustedProxies: [],
      rateLimit: { enabled: true, rpm: 60, concurrent: 3, store: 'memory', redisUrl: undefined, onStoreError: 'deny', leaseSeconds: 30 },
      // The rotation size is a tuning default of its own; its row is the source.
      audit: { enabled: true, file: join(dir.path, 'hide-audit.jsonl'), maxBytes: expect.any(Number), keep: 5, refusalsPerAddress: 60, refusalsPerMinute: 600, onError: 'continue' },
      metrics: { port: undefined, token: undefined },
      shutdownGraceSeconds: 10,
      log: { level: 'info', format: 'pretty' },
      exec: {
        defaultTimeoutSeconds: 30,
        maxTimeoutSeconds: 300,
        maxOutputBytes: 262144,
        allowedCommands: [],
        deniedCommands: SEED_DENIED_COMMANDS,
        envPassthrough: [],
      },
      process: {
        maxPerClient: 8,
        maxTotal: 64,
        bufferBytes: 1048576,
        defaultTimeoutSeconds: 3600,
        maxTimeoutSeconds: 86400,
        idleTimeoutSeconds: 1800,
        keepExitedSeconds: 600,
        envAllowlist: expect.any(Array),
        instanceId: expect.any(String),
      },
      sandbox: { mode: 'auto', network: 'off', launcherIdleSeconds: 60, maxLaunchers: 64, readOnlyPaths: [], cpuSeconds: 0, memoryBytes: 0, openFiles: 4096, fileSizeBytes: 0, pendingSignals: 1024, nice: 10, processes: 4096 },
    });
    expect(sources).toEqual(Object.fromEntries(ROWS.map((s) => [s.path, 'default'])));
  });

  test('computed defaults follow the context: state directory, keys file present, terminal', () => {
    using dir = configDir({ '.mcp_keys.json': { clients: [] } });
    const { config } = loadConfig({ cwd: dir.path, env: { XDG_STATE_HOME: '/state', HOME: '/home/u' }, isTTY: false });
    expect({ audit: config.audit.file, keys: config.auth.keysFile, format: config.log.format }).toEqual({
      audit: '/state/hide/audit.jsonl',
      keys: join(dir.path, '.mcp_keys.json'),
      format: 'json',
    });
  });

  test('whether stderr is a terminal is asked only when no source sets the log format, and once', () => {
    using dir = configDir();
    const asked = (answer: boolean) => {
      let calls = 0;
      return { isTTY: () => (calls++, answer), calls: () => calls };
    };
    const unset = asked(false);
    const config = loadConfig({ cwd: dir.path, env: {}, isTTY: unset.isTTY }).config;
    const set = asked(true);
    loadConfig({ cwd: dir.path, env: { HIDE_LOG_FORMAT: 'json' }, isTTY: set.isTTY });
    const terminal = asked(true);
    const onTerminal = loadConfig({ cwd: dir.path, env: {}, isTTY: terminal.isTTY }).config;
    expect({ format: config.log.format, calls: unset.calls(), whenSet: set.calls(), onTerminal: onTerminal.log.format }).toEqual({
      format: 'json',
      calls: 1,
      whenSet: 0,
      onTerminal: 'pretty',
    });
  });

  test('relative paths are fixed against the working directory; "-" stays stdout', () => {
    using dir = configDir();
    dir.write('ws/.keep', '');
    const env = { HIDE_WORKSPACE: 'ws', HIDE_ALLOWED_PATHS: 'a,/b', HIDE_API_KEYS_FILE: 'k.json', HIDE_AUDIT_LOG_FILE: 'log/a.jsonl' };
    const { config } = loadConfig({ cwd: dir.path, env });
    expect([config.workspace, config.allowedPaths, config.auth.keysFile, config.audit.file]).toEqual([
      join(dir.path, 'ws'),
      [join(dir.path, 'a'), '/b'],
      join(dir.path, 'k.json'),
      join(dir.path, 'log/a.jsonl'),
    ]);
    expect(loadConfig({ cwd: dir.path, env: { HIDE_AUDIT_LOG_FILE: '-' } }).config.audit.file).toBe('-');
  });

  test("ConfigSchema nests one field per row, in the rows' order", () => {
    // A piped object schema keeps its `entries`; a nested object is a group of rows.
    type Node = { type: string; entries?: Record<string, Node> };
    const keys = (node: Node, prefix = ''): string[] =>
      Object.entries(node.entries ?? {}).flatMap(([k, s]) => (s.type === 'object' ? keys(s, `${prefix}${k}.`) : [`${prefix}${k}`]));
    expect(keys(ConfigSchema as unknown as Node)).toEqual(ROWS.map((s) => s.path));
  });
});

describe('maskedConfig', () => {
  test('masks every secret row and only the password of a Redis URL', () => {
    using dir = configDir();
    const env = {
      HIDE_API_KEY: 'key-1',
      HIDE_METRICS_TOKEN: 'tok-1',
      HIDE_REDIS_URL: 'redis://user:pw@redis:6379/0',
      HIDE_HOST: '127.0.0.2',
      HIDE_OAUTH_INTROSPECTION_URL: 'https://sso.example.com/introspect',
      HIDE_OAUTH_INTROSPECTION_CLIENT_ID: 'hide',
      HIDE_OAUTH_INTROSPECTION_CLIENT_SECRET: 'introspection-secret',
    };
    const { config } = loadConfig({ cwd: dir.path, env });
    const masked = maskedConfig(config);
    expect({
      apiKey: masked.auth.apiKey,
      token: masked.metrics.token,
      redis: masked.rateLimit.redisUrl,
      host: masked.host,
      introspection: masked.oauth.introspection,
    }).toEqual({
      apiKey: '********',
      token: '********',
      redis: 'redis://********@redis:6379/0',
      host: '127.0.0.2',
      introspection: { url: 'https://sso.example.com/introspect', clientId: 'hide', clientSecret: '********', perAddress: 120 },
    });
    // The secret rows are the ones masked, and the original is untouched.
    expect(ROWS.filter((s) => s.secret).map((s) => s.path)).toEqual(['auth.apiKey', 'oauth.introspection.clientSecret', 'rateLimit.redisUrl', 'audit.argumentsKey', 'metrics.token']);
    expect(config.auth.apiKey).toBe('key-1');
  });

  // The limiter's outage lines used a mask of their own that stopped at the password's first `@`, showing the rest.
  test('a URL for the logs has all of its user-info masked, a password holding "@" too', () => {
    expect(maskedUrlUserinfo('redis://:S3cr@tPassw0rdX@redis:6379/0')).toBe('redis://********@redis:6379/0');
    expect(maskedUrlUserinfo('redis://redis:6379')).toBe('redis://redis:6379');
  });

  // A URL setting refuses user:password@, and its refusal, printed and logged at start, showed the password it refused.
  test('a URL refused for holding credentials is named without them', () => {
    using dir = configDir();
    const problemsOf = (env: Record<string, string>, file?: object): string[] => {
      if (file !== undefined) dir.write('cfg.json', file);
      try {
        loadConfig({ cwd: dir.path, env, flags: { workspace: dir.workspace }, ...(file === undefined ? {} : { configFile: 'cfg.json' }) });
        return [];
      } catch (err) {
        return (err as { problems: string[] }).problems;
      }
    };
    const oauth = { HIDE_AUTH_MODE: 'oauth', HIDE_OAUTH_ISSUERS: 'https://sso.example.com,https://u:S3cretI@idp.example', HIDE_OAUTH_RESOURCE: 'https://u:S3cretR@hide.example/mcp' };
    const named = (problems: string[], env: string) => problems.find((p) => p.startsWith(env)) ?? '';
    const first = problemsOf({ ...oauth, HIDE_OAUTH_INTROSPECTION_URL: 'https://hide:S3cret@pw@idp.example/introspect' });
    expect(['HIDE_OAUTH_ISSUERS', 'HIDE_OAUTH_RESOURCE', 'HIDE_OAUTH_INTROSPECTION_URL'].map((e) => [named(first, e).includes('//********@'), /S3cret/.test(named(first, e))])).toEqual([
      [true, false],
      [true, false],
      [true, false],
    ]);
    // Other spellings a URL parser takes, and passwords that make the URL invalid: none is shown either.
    const odd = ['https:u:S3cret@idp.example/x', 'https:\\\\u:S3cret@idp.example/x', 'https://u:S3/cr#et?@idp.example/x', 'https://u:S3 c"ret@idp.example/x'];
    const shown = odd.map((url) => named(problemsOf({ ...oauth, HIDE_OAUTH_INTROSPECTION_URL: url }), 'HIDE_OAUTH_INTROSPECTION_URL'));
    expect(shown.map((p) => [p.includes('********@idp.example'), /S3/.test(p)])).toEqual(odd.map(() => [true, false]));
    // A list setting whose message quotes the item; the first item of a list in one string, where a later item has an
    // `@` too; a URL inside an object of the config file.
    const origins = problemsOf({ HIDE_ALLOWED_ORIGINS: 'https://user:S3cret@app.example.com' });
    expect([origins.length, origins.some((p) => p.includes('S3cret')), origins.some((p) => p.includes('https://********@app.example.com'))]).toEqual([1, false, true]);
    const list = problemsOf({ HIDE_ALLOWED_ORIGINS: 'https://u:S3cretA@a.example.com,https://v:S3cretB@b.example.com' }).join('\n');
    const nested = problemsOf({}, { oauth: { resource: { url: 'https://u:S3cretC@h.example/mcp' } } }).join('\n');
    expect([list.includes('S3cret'), nested.includes('S3cret'), list !== '', nested !== '']).toEqual([false, false, true, true]);
  });

  test('unset secrets stay unset; a Redis URL without credentials is shown whole', () => {
    using dir = configDir();
    const { config } = loadConfig({ cwd: dir.path, env: { HIDE_REDIS_URL: 'redis://redis:6379' } });
    const masked = maskedConfig(config);
    expect([masked.auth.apiKey, masked.metrics.token, masked.rateLimit.redisUrl]).toEqual([undefined, undefined, 'redis://redis:6379']);
  });
});
