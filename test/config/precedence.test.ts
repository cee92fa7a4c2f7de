/**
 * Where a setting's value comes from: flag > environment > .env > config file
 * > default, the seeds' names at each level, and the config file named by
 * --config or HIDE_CONFIG (environment or .env).
 */
import { describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { ConfigError, type LoadOptions, loadConfig, loadSettings, parseDotenv } from '../../src/config/load.ts';
import { configDir } from './helpers.ts';

/** One setting's value and source after a load. */
function resolved(path: string, opts: LoadOptions): { value: unknown; source: string | undefined } {
  const { config, sources } = loadConfig(opts);
  const value = path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], config);
  return { value, source: sources[path] };
}

describe('precedence', () => {
  // Every level sets rateLimit.rpm to a different value; each case removes the levels above one.
  const levels = { flag: '40', env: '30', dotenv: '20', file: 10 };
  const cases = [
    { name: 'flag beats everything', use: ['flag', 'env', 'dotenv', 'file'], want: { value: 40, source: 'flag --rateLimit.rpm' } },
    { name: 'environment beats .env and file', use: ['env', 'dotenv', 'file'], want: { value: 30, source: 'env HIDE_RATE_LIMIT_RPM' } },
    { name: '.env beats the config file', use: ['dotenv', 'file'], want: { value: 20, source: '.env HIDE_RATE_LIMIT_RPM' } },
    { name: 'the config file beats the default', use: ['file'], want: { value: 10, source: 'file cfg.json (rateLimit.rpm)' } },
    { name: 'the default when nothing is set', use: [], want: { value: 60, source: 'default' } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      using dir = configDir({ 'cfg.json': c.use.includes('file') ? { rateLimit: { rpm: levels.file } } : {} });
      if (c.use.includes('dotenv')) dir.write('.env', `HIDE_RATE_LIMIT_RPM=${levels.dotenv}\n`);
      const opts: LoadOptions = {
        cwd: dir.path,
        env: c.use.includes('env') ? { HIDE_RATE_LIMIT_RPM: levels.env } : {},
        flags: { workspace: dir.workspace, ...(c.use.includes('flag') ? { 'rateLimit.rpm': levels.flag } : {}) },
        configFile: 'cfg.json',
      };
      expect(resolved('rateLimit.rpm', opts)).toEqual(c.want);
    });
  }

  test('the level decides before the name: an alias in the environment beats the canonical name in .env', () => {
    using dir = configDir({ '.env': 'HIDE_AUTH_ENABLED=false\n' });
    expect(resolved('auth.enabled', { cwd: dir.path, env: { SECURITY_AUTH_ENABLED: 'true' }, flags: { workspace: dir.workspace } })).toEqual({ value: true, source: 'env SECURITY_AUTH_ENABLED' });
  });

  test('within one level, two names of a setting that agree are fine (the canonical one is reported); that disagree, an error naming both', () => {
    using dir = configDir();
    const agree = { HIDE_AUTH_ENABLED: 'true', Authentication__ApiKey__Enabled: '1', SECURITY_AUTH_ENABLED: 'yes' };
    expect(resolved('auth.enabled', { cwd: dir.path, env: agree })).toEqual({ value: true, source: 'env HIDE_AUTH_ENABLED' });
    const aliasesOnly = { SECURITY_AUTH_ENABLED: 'true', Authentication__ApiKey__Enabled: 'true' };
    expect(resolved('auth.enabled', { cwd: dir.path, env: aliasesOnly })).toEqual({ value: true, source: 'env Authentication__ApiKey__Enabled' });
    const problems = (opts: LoadOptions) => {
      try {
        loadConfig(opts);
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ cwd: dir.path, env: { HIDE_AUTH_ENABLED: 'false', SECURITY_AUTH_ENABLED: 'true' } })).toEqual([
      'HIDE_AUTH_ENABLED: HIDE_AUTH_ENABLED, SECURITY_AUTH_ENABLED (environment) are names of one setting and are set to different values; keep one',
    ]);
    // A higher level decides alone: the disagreement below it is never read.
    expect(problems({ cwd: dir.path, env: { HIDE_AUTH_ENABLED: 'false', SECURITY_AUTH_ENABLED: 'true' }, flags: {} }).length).toBe(1);
    dir.write('.env', 'HIDE_API_KEY=one\nAuthentication__ApiKey__Key=two\n');
    expect(problems({ cwd: dir.path, env: {}, flags: { workspace: dir.workspace } })).toEqual([
      'HIDE_API_KEY: HIDE_API_KEY, Authentication__ApiKey__Key (.env) are names of one setting and are set to different values; keep one',
    ]);
    expect(problems({ cwd: dir.path, env: { HIDE_API_KEY: 'three' }, flags: { workspace: dir.workspace } })).toEqual([]);
  });
});

describe("the seeds' names", () => {
  test('environment aliases, in the environment and in .env', () => {
    using dir = configDir({ '.env': 'SECURITY_RATE_LIMIT_CONCURRENT=7\nCommandExecution__MaxOutputBytes=4096\n' });
    dir.write('ws/.keep', '');
    const env = { CODE_BASE_PATH: 'ws', Authentication__ApiKey__Key: 'k-1', SECURITY_API_KEY_HEADER: 'X-Seed-Key', CommandExecution__DeniedCommands: 'rm,dd' };
    const { config, sources } = loadConfig({ cwd: dir.path, env });
    expect({
      workspace: config.workspace,
      apiKey: config.auth.apiKey,
      header: config.auth.header,
      denied: config.exec.deniedCommands,
      concurrent: config.rateLimit.concurrent,
      maxOutput: config.exec.maxOutputBytes,
      sources: [sources.workspace, sources['auth.apiKey'], sources['rateLimit.concurrent'], sources['exec.maxOutputBytes']],
    }).toEqual({
      workspace: join(dir.path, 'ws'),
      apiKey: 'k-1',
      header: 'X-Seed-Key',
      denied: ['rm', 'dd'],
      concurrent: 7,
      maxOutput: 4096,
      sources: ['env CODE_BASE_PATH', 'env Authentication__ApiKey__Key', '.env SECURITY_RATE_LIMIT_CONCURRENT', '.env CommandExecution__MaxOutputBytes'],
    });
  });

  test("the seed's appsettings sections in the config file, in any case", () => {
    using dir = configDir({
      'appsettings.json': {
        authentication: { apikey: { enabled: true, key: 'seed-key' } },
        CommandExecution: { MaxTimeoutSeconds: 900, DefaultTimeoutSeconds: 45, AllowedPaths: ['/tmp'], EnableAuditLogging: false },
        exec: { defaultTimeoutSeconds: 45 },
        server: { port: 7001 },
        // What the ASP.NET template writes beside them: the host's own sections load and configure nothing.
        Logging: { LogLevel: { Default: 'Information', 'Microsoft.AspNetCore': 'Warning' } },
        Kestrel: { Endpoints: {} },
      },
    });
    const { config, sources } = loadConfig({ cwd: dir.path, env: {}, configFile: 'appsettings.json' });
    expect({
      auth: [config.auth.enabled, config.auth.apiKey],
      exec: [config.exec.maxTimeoutSeconds, config.exec.defaultTimeoutSeconds],
      allowedPaths: config.allowedPaths,
      audit: config.audit.enabled,
      port: config.port,
      sources: [sources['auth.apiKey'], sources['exec.defaultTimeoutSeconds'], sources.port],
    }).toEqual({
      auth: [true, 'seed-key'],
      exec: [900, 45],
      allowedPaths: ['/tmp'],
      audit: false,
      port: 7001,
      sources: ['file appsettings.json (Authentication.ApiKey.Key)', 'file appsettings.json (exec.defaultTimeoutSeconds)', 'file appsettings.json (server.port)'],
    });
  });
});

describe('HIDE_CONFIG', () => {
  test('names the config file from the environment or from .env; --config wins over both', () => {
    using dir = configDir({ 'a.json': { port: 7101 }, 'b.json': { port: 7102 }, 'c.json': { port: 7103 } });
    const port = (opts: LoadOptions) => resolved('port', { cwd: dir.path, env: {}, flags: { workspace: dir.workspace }, ...opts });
    expect(port({ env: { HIDE_CONFIG: 'a.json' } })).toEqual({ value: 7101, source: 'file a.json (port)' });
    dir.write('.env', 'HIDE_CONFIG=b.json\n');
    expect(port({})).toEqual({ value: 7102, source: 'file b.json (port)' });
    expect(port({ env: { HIDE_CONFIG: 'a.json' } })).toEqual({ value: 7101, source: 'file a.json (port)' });
    expect(port({ env: { HIDE_CONFIG: 'a.json' }, configFile: 'c.json' })).toEqual({ value: 7103, source: 'file c.json (port)' });
  });

  test('the files read are reported, absolute, for the sandbox to hide', () => {
    using dir = configDir({ '.env': 'HIDE_CONFIG=conf/hide.json\n', 'conf/hide.json': {} });
    expect(loadConfig({ cwd: dir.path, env: {}, flags: { workspace: dir.workspace } }).files).toEqual([join(dir.path, '.env'), join(dir.path, 'conf/hide.json')]);
  });

  test('a missing or non-object file is an error naming it', () => {
    using dir = configDir({ 'list.json': [1, 2] });
    const problems = (opts: LoadOptions) => {
      try {
        loadConfig({ cwd: dir.path, ...opts });
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ env: { HIDE_CONFIG: 'nope.json' } })).toEqual([`config file ${join(dir.path, 'nope.json')}: file not found`]);
    expect(problems({ env: {}, configFile: 'list.json' })).toEqual(['config file list.json: expected a JSON object']);
    expect(problems({ env: {}, configFile: '' })).toEqual(['--config: expected a file name; got ""']);
    expect(problems({ env: { HIDE_CONFIG: '' } })).toEqual([]);
  });
});

describe('errors', () => {
  test('every bad setting is named with its source; a secret value is never echoed', () => {
    using dir = configDir({ '.env': 'HIDE_PORT=eighty\n', 'cfg.json': '{"rateLimit":{"store":"disk"},"metrics":{"token":123456},"audit":{"keep":1e400}}' });
    const env = {
      SECURITY_RATE_LIMIT_RPM: '0',
      HIDE_EXEC_DEFAULT_TIMEOUT_SECONDS: '600',
      HIDE_API_KEY_HEADER: 'bad header',
      HIDE_METRICS_PORT: '70000',
      HIDE_ALLOWED_HOSTS: 'ide.example.com,not a host',
      HIDE_ALLOWED_CLIENT_IPS: '10.0.0.0/8,10.0.0.0/33,fe80::1%eth0,::ffff:10.0.0.0/104',
      HIDE_TRUSTED_PROXIES: 'proxy.lan',
    };
    let problems: string[] = [];
    try {
      loadConfig({ cwd: dir.path, env, configFile: 'cfg.json', flags: { workspace: dir.workspace } });
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    expect(problems).toEqual([
      'HIDE_PORT (from .env HIDE_PORT): expected an integer; got "eighty"',
      'HIDE_ALLOWED_HOSTS (from env HIDE_ALLOWED_HOSTS): "not a host" is not a host name, an address or name:port (IPv6 in brackets); got "ide.example.com,not a host"',
      'HIDE_API_KEY_HEADER (from env HIDE_API_KEY_HEADER): expected an HTTP header name; got "bad header"',
      'HIDE_ALLOWED_CLIENT_IPS (from env HIDE_ALLOWED_CLIENT_IPS): "10.0.0.0/33" has a prefix length outside 0-32; got "10.0.0.0/8,10.0.0.0/33,fe80::1%eth0,::ffff:10.0.0.0/104"',
      'HIDE_ALLOWED_CLIENT_IPS (from env HIDE_ALLOWED_CLIENT_IPS): "fe80::1%eth0" is not an IP address or CIDR range; got "10.0.0.0/8,10.0.0.0/33,fe80::1%eth0,::ffff:10.0.0.0/104"',
      'HIDE_TRUSTED_PROXIES (from env HIDE_TRUSTED_PROXIES): "proxy.lan" is not an IP address or CIDR range; got "proxy.lan"',
      'HIDE_RATE_LIMIT_RPM (from env SECURITY_RATE_LIMIT_RPM): expected an integer >= 1; got "0"',
      'HIDE_RATE_LIMIT_STORE (from file cfg.json (rateLimit.store)): expected memory or redis; got "disk"',
      'HIDE_AUDIT_LOG_KEEP (from file cfg.json (audit.keep)): expected an integer; got Infinity',
      'HIDE_METRICS_PORT (from env HIDE_METRICS_PORT): expected a port from 1 to 65535; got "70000"',
      'HIDE_METRICS_TOKEN (from file cfg.json (metrics.token)): expected a string',
      'HIDE_EXEC_DEFAULT_TIMEOUT_SECONDS (from env HIDE_EXEC_DEFAULT_TIMEOUT_SECONDS): must not exceed HIDE_EXEC_MAX_TIMEOUT_SECONDS (300); got "600"',
    ]);
  });

  test('the API key header may not be Authorization, which is read as Bearer already and then could sign nobody in, nor a header HTTP or MCP uses (Host would log the key)', () => {
    using dir = configDir();
    for (const header of ['Authorization', 'authorization']) {
      expect(() => loadConfig({ cwd: dir.path, env: { HIDE_API_KEY_HEADER: header } })).toThrow('Authorization is always read (as `Bearer <key>`): name another header, or leave the default');
    }
    for (const header of ['Host', 'Content-Length', 'Cookie', 'Mcp-Method']) {
      expect(() => loadConfig({ cwd: dir.path, env: { HIDE_API_KEY_HEADER: header } })).toThrow('names a header HTTP or MCP gives another meaning');
    }
    expect(loadConfig({ cwd: dir.path, env: { SECURITY_API_KEY_HEADER: 'X-Token' } }).config.auth.header).toBe('X-Token');
  });
});

describe('listeners', () => {
  test('HIDE_METRICS_PORT equal to HIDE_PORT is a bad setting, not a failed listen; with port 0 it is fine', () => {
    using dir = configDir();
    expect(() => loadConfig({ cwd: dir.path, env: { HIDE_PORT: '5000', HIDE_METRICS_PORT: '5000' } })).toThrow(
      new ConfigError(['HIDE_METRICS_PORT (from env HIDE_METRICS_PORT): must differ from HIDE_PORT (5000): it is a second listener, for /metrics only; got "5000"']),
    );
    expect(loadConfig({ cwd: dir.path, env: { HIDE_PORT: '0', HIDE_METRICS_PORT: '5000' } }).config.metrics.port).toBe(5000);
  });
});

describe('values the runtime could never use', () => {
  const problemsOf = (env: Record<string, string>) => {
    using dir = configDir();
    try {
      loadConfig({ cwd: dir.path, env });
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };

  test('a Redis URL the client cannot use, or none with the redis store, is a bad setting (its value never shown)', () => {
    const expected = 'HIDE_REDIS_URL (from env HIDE_REDIS_URL): expected redis://[user:password@]host[:port][/db], rediss://… for TLS, or redis+unix:///path/to/socket';
    expect([
      problemsOf({ HIDE_REDIS_URL: 'http://:secret@redis:6379' }),
      problemsOf({ HIDE_REDIS_URL: 'redis://:secret@redis:99999' }),
      problemsOf({ HIDE_REDIS_URL: 'redis://' }),
      problemsOf({ HIDE_RATE_LIMIT_STORE: 'redis' }),
      problemsOf({ HIDE_RATE_LIMIT_STORE: 'redis', HIDE_RATE_LIMIT_ENABLED: 'false' }),
      problemsOf({ HIDE_RATE_LIMIT_STORE: 'redis', HIDE_REDIS_URL: ' rediss://:secret@redis:6380/2 ' }),
      problemsOf({ HIDE_RATE_LIMIT_STORE: 'redis', HIDE_REDIS_URL: 'redis+unix:///run/redis.sock' }),
    ]).toEqual([[expected], [expected], [expected], ['HIDE_REDIS_URL: is required with HIDE_RATE_LIMIT_STORE=redis (e.g. redis://redis:6379)'], [], [], []]);
  });

  test('an allowed origin that no browser would send (a path, a default port, no scheme, "null") is a bad setting', () => {
    const env = { HIDE_ALLOWED_ORIGINS: 'https://ide.example.com/,HTTP://Box.lan:8080,*,https://a.example:443,https://b.example/app,null,c.example' };
    expect(problemsOf(env).map((p) => p.replace(/; got .*/, ''))).toEqual([
      'HIDE_ALLOWED_ORIGINS (from env HIDE_ALLOWED_ORIGINS): "https://a.example:443" is not an origin as browsers send it: write https://a.example',
      'HIDE_ALLOWED_ORIGINS (from env HIDE_ALLOWED_ORIGINS): "https://b.example/app" is not an origin as browsers send it: write https://b.example',
      'HIDE_ALLOWED_ORIGINS (from env HIDE_ALLOWED_ORIGINS): "null" is not an origin (scheme://host[:port])',
      'HIDE_ALLOWED_ORIGINS (from env HIDE_ALLOWED_ORIGINS): "c.example" is not an origin (scheme://host[:port])',
    ]);
  });

  test('the origin of a browser extension or an editor webview (no http(s) scheme) is an allowed origin, as it was before origins were checked', () => {
    const origins = 'chrome-extension://abcdefghijklmnopabcdefghijklmnop,moz-extension://0b6a7f3c-1d2e-4f50-9a8b-7c6d5e4f3a2b,vscode-webview://1a2b3c,tauri://localhost';
    expect(problemsOf({ HIDE_ALLOWED_ORIGINS: origins })).toEqual([]);
    // Still no path after one, and still never a file's or a sandboxed frame's "null".
    expect(problemsOf({ HIDE_ALLOWED_ORIGINS: 'chrome-extension://abc/popup.html,file:///tmp/x.html' }).map((p) => p.replace(/; got .*/, ''))).toEqual([
      'HIDE_ALLOWED_ORIGINS (from env HIDE_ALLOWED_ORIGINS): "chrome-extension://abc/popup.html" is not an origin as browsers send it: write chrome-extension://abc',
      'HIDE_ALLOWED_ORIGINS (from env HIDE_ALLOWED_ORIGINS): "file:///tmp/x.html" is not an origin (scheme://host[:port])',
    ]);
  });

  test('a listen address with a port, a scheme or spaces in it is a bad setting; [::1] is taken as ::1', () => {
    const expected = (got: string) => [`HIDE_HOST (from env HIDE_HOST): expected an IP address or a host name, without a port (the port is HIDE_PORT); got "${got}"`];
    expect(['127.0.0.1:5000', 'http://box.lan', 'not a host', '999.1.1.1'].map((h) => problemsOf({ HIDE_HOST: h }))).toEqual(
      ['127.0.0.1:5000', 'http://box.lan', 'not a host', '999.1.1.1'].map(expected),
    );
    using dir = configDir();
    expect(['[::1]', ' 0.0.0.0 ', 'box.lan', '::'].map((h) => loadConfig({ cwd: dir.path, env: { HIDE_HOST: h } }).config.host)).toEqual(['::1', '0.0.0.0', 'box.lan', '::']);
  });

  test('a path in the command allow or deny list, which no program name would ever equal, is a bad setting', () => {
    expect([problemsOf({ HIDE_EXEC_DENIED_COMMANDS: 'rm,/usr/bin/curl' }), problemsOf({ CommandExecution__AllowedCommands: '["git","./make"]' })]).toEqual([
      ['HIDE_EXEC_DENIED_COMMANDS (from env HIDE_EXEC_DENIED_COMMANDS): "/usr/bin/curl" is a path; the list takes program names (curl); got "rm,/usr/bin/curl"'],
      ['HIDE_EXEC_ALLOWED_COMMANDS (from env CommandExecution__AllowedCommands): "./make" is a path; the list takes program names (make); got "[\\"git\\",\\"./make\\"]"'],
    ]);
  });

  test('an environment list entry that is no variable name, or a secret of the server passed through to commands, is a bad setting', () => {
    expect([
      problemsOf({ HIDE_EXEC_ENV_PASSTHROUGH: 'GOPATH,HIDE_API_KEY,Authentication__ApiKey__Key,FOO=bar' }).map((p) => p.replace(/; got .*/, '')),
      problemsOf({ HIDE_PROCESS_ENV_ALLOWLIST: 'NODE_ENV,my var' }).map((p) => p.replace(/; got .*/, '')),
    ]).toEqual([
      [
        'HIDE_EXEC_ENV_PASSTHROUGH (from env HIDE_EXEC_ENV_PASSTHROUGH): "FOO=bar" is not an environment variable name',
        'HIDE_EXEC_ENV_PASSTHROUGH (from env HIDE_EXEC_ENV_PASSTHROUGH): "HIDE_API_KEY" is a secret of the server; commands must not get it',
        'HIDE_EXEC_ENV_PASSTHROUGH (from env HIDE_EXEC_ENV_PASSTHROUGH): "Authentication__ApiKey__Key" is a secret of the server; commands must not get it',
      ],
      ['HIDE_PROCESS_ENV_ALLOWLIST (from env HIDE_PROCESS_ENV_ALLOWLIST): "my var" is not an environment variable name'],
    ]);
  });

  test('a relative sandbox read-only path is a bad setting', () => {
    expect(problemsOf({ HIDE_SANDBOX_READ_ONLY_PATHS: '/usr,usr/lib' })).toEqual([
      'HIDE_SANDBOX_READ_ONLY_PATHS (from env HIDE_SANDBOX_READ_ONLY_PATHS): "usr/lib" is not an absolute path; got "/usr,usr/lib"',
    ]);
  });

  test("an audit arguments key shorter than 32 characters, with whitespace in it, or the example's placeholder is a bad setting; blank is unset", () => {
    expect([problemsOf({ HIDE_AUDIT_ARGUMENTS_KEY: 'k'.repeat(31) }), problemsOf({ HIDE_AUDIT_ARGUMENTS_KEY: `${'k'.repeat(40)}\n` }), problemsOf({ HIDE_AUDIT_ARGUMENTS_KEY: 'replace-with-output-of-openssl-rand-base64-32' }), problemsOf({ HIDE_AUDIT_ARGUMENTS_KEY: 'k'.repeat(32) }), problemsOf({ HIDE_AUDIT_ARGUMENTS_KEY: ' ' })]).toEqual([
      ['HIDE_AUDIT_ARGUMENTS_KEY (from env HIDE_AUDIT_ARGUMENTS_KEY): must be at least 32 characters (`openssl rand -base64 32` makes one)'],
      ['HIDE_AUDIT_ARGUMENTS_KEY (from env HIDE_AUDIT_ARGUMENTS_KEY): must be printable ASCII without spaces (a trailing newline from a file?)'],
      ["HIDE_AUDIT_ARGUMENTS_KEY (from env HIDE_AUDIT_ARGUMENTS_KEY): is the example's placeholder: make a key with `openssl rand -base64 32`"],
      [],
      [],
    ]);
  });

  test('a metrics token with whitespace in it (a newline from a file) is a bad setting; an empty one too, not an open /metrics', () => {
    const empty = 'HIDE_METRICS_TOKEN (from env HIDE_METRICS_TOKEN): is set but empty: without a token anyone who reaches the port may read it; leave the setting out for that, or give the token';
    expect([problemsOf({ HIDE_METRICS_TOKEN: 'abc123\n' }), problemsOf({ HIDE_METRICS_TOKEN: 'abc 123' }), problemsOf({ HIDE_METRICS_TOKEN: '  ' }), problemsOf({ HIDE_METRICS_TOKEN: '' })]).toEqual([
      ['HIDE_METRICS_TOKEN (from env HIDE_METRICS_TOKEN): must be printable ASCII without spaces (a trailing newline from a file?)'],
      ['HIDE_METRICS_TOKEN (from env HIDE_METRICS_TOKEN): must be printable ASCII without spaces (a trailing newline from a file?)'],
      [empty],
      [empty],
    ]);
  });
});

describe('config file keys', () => {
  const problemsOf = (data: object) => {
    using dir = configDir({ 'cfg.json': data });
    try {
      loadConfig({ cwd: dir.path, env: {}, configFile: 'cfg.json' });
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };

  test('a key that names no setting is an error, with the nearest name when one is close; $schema is allowed', () => {
    expect(
      problemsOf({
        $schema: './hide.schema.json',
        ratelimit: { rpmm: 5 },
        bogus: 1,
        exec: 5,
        Authentication: { ApiKey: { Enabled: true, Kee: 'x' } },
        CommandExecution: { MaxTimeoutSeconds: 600, Foo: 1 },
      }),
    ).toEqual([
      'config file cfg.json: unknown setting "ratelimit.rpmm" (did you mean "rateLimit.rpm"?)',
      'config file cfg.json: unknown setting "bogus"',
      'config file cfg.json: "exec" must be an object of settings',
      'config file cfg.json: unknown setting "Authentication.ApiKey.Kee"',
      'config file cfg.json: unknown setting "CommandExecution.Foo"',
    ]);
  });

  test('a setting under its path and a seed path with different values is an error; the same value is fine', () => {
    expect(problemsOf({ exec: { maxTimeoutSeconds: 600 }, CommandExecution: { MaxTimeoutSeconds: 900 } })).toEqual([
      'HIDE_EXEC_MAX_TIMEOUT_SECONDS: exec.maxTimeoutSeconds, CommandExecution.MaxTimeoutSeconds (config file cfg.json) are names of one setting and are set to different values; keep one',
    ]);
    expect(problemsOf({ port: 7001, server: { port: 7001 } })).toEqual([]);
  });
});

describe('loadSettings', () => {
  test('resolves the named settings through every source and alias, and checks only those', () => {
    using dir = configDir({ '.env': 'SECURITY_API_KEYS_FILE=keys/k.json\nHIDE_RATE_LIMIT_RPM=not-a-number\n', 'cfg.json': { server: { port: 7201 } } });
    // The workspace elsewhere: a .env that sets settings is read only where commands cannot write it.
    const loaded = loadSettings(['port', 'auth.keysFile'], { cwd: dir.path, env: { HIDE_CONFIG: 'cfg.json', HIDE_WORKSPACE: dir.workspace } });
    expect(loaded).toEqual({
      values: { port: 7201, 'auth.keysFile': join(dir.path, 'keys/k.json') },
      sources: { port: 'file cfg.json (server.port)', 'auth.keysFile': '.env SECURITY_API_KEYS_FILE' },
      files: [join(dir.path, '.env'), join(dir.path, 'cfg.json')],
    });
  });

  test('a .env in the workspace that sets settings is refused as loadConfig refuses it', () => {
    using dir = configDir({ '.env': 'HIDE_API_KEYS_FILE=/elsewhere/keys.json\n' });
    expect(() => loadSettings(['auth.keysFile'], { cwd: dir.path, env: {} })).toThrow(`${join(dir.path, '.env')} sets HIDE_API_KEYS_FILE but lies in the workspace (${dir.path})`);
  });

  test('a bad named setting is a ConfigError like loadConfig gives', () => {
    using dir = configDir();
    expect(() => loadSettings(['port'], { cwd: dir.path, env: { HIDE_PORT: '-1' } })).toThrow(
      new ConfigError(['HIDE_PORT (from env HIDE_PORT): expected an integer >= 0; got "-1"']),
    );
  });
});

describe('a .env where commands can write', () => {
  const problemsOf = (opts: LoadOptions): string[] => {
    try {
      loadConfig(opts);
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };

  test('one that sets settings is refused in the workspace, in an allowed path, or when it moves the workspace away', () => {
    using dir = configDir({ '.env': 'HIDE_SANDBOX=off\nSECURITY_AUTH_ENABLED=false\n' });
    const refusal = (root: string, what: string) =>
      expect.stringContaining(`${join(dir.path, '.env')} sets HIDE_SANDBOX, SECURITY_AUTH_ENABLED but lies in ${what} (${root})`);
    expect(problemsOf({ cwd: dir.path, env: {} })).toEqual([refusal(dir.path, 'the workspace')]);
    expect(problemsOf({ cwd: dir.path, env: { HIDE_ALLOWED_PATHS: `/nonexistent,${dir.path}` }, flags: { workspace: dir.workspace } })).toEqual([
      refusal(dir.path, 'an allowed path'),
    ]);
    dir.write('.env', `HIDE_WORKSPACE=${dir.workspace}\n`);
    expect(problemsOf({ cwd: dir.path, env: {} })).toEqual([expect.stringContaining(`sets HIDE_WORKSPACE but lies in the workspace (${dir.path})`)]);
    // The same file read from outside the workspace configures the server.
    expect(problemsOf({ cwd: dir.path, env: {}, flags: { workspace: dir.workspace } })).toEqual([]);
  });

  test("one that sets none of the server's settings is the project's file: not read, not reported as read", () => {
    using dir = configDir({ '.env': 'PORT=3000\nDATABASE_URL=postgres://db/app\nHIDE_PROT=1\n' });
    const loaded = loadConfig({ cwd: dir.path, env: {} });
    expect({ port: loaded.config.port, files: loaded.files }).toEqual({ port: 5000, files: [] });
  });
});

describe('.env lines', () => {
  test('a byte-order mark at the start of .env or the config file is no part of the first setting', () => {
    using dir = configDir({ '.env': '\uFEFFHIDE_PORT=5005\nHIDE_RATE_LIMIT_RPM=7\n', 'cfg.json': '\uFEFF{"rateLimit":{"concurrent":2}}' });
    const { config } = loadConfig({ cwd: dir.path, env: {}, configFile: 'cfg.json', flags: { workspace: dir.workspace } });
    expect([config.port, config.rateLimit.rpm, config.rateLimit.concurrent]).toEqual([5005, 7, 2]);
  });

  test('a quoted value followed by a comment loses its quotes and the comment; other forms as before', () => {
    const text = [
      'HIDE_HOST="127.0.0.1"  # loopback only',
      "HIDE_API_KEY='a#b'   # the key holds a #",
      'export HIDE_PORT=5001 # dev',
      'HIDE_WORKSPACE="/srv/my project"',
      'HIDE_LOG_LEVEL=debug#not-a-comment',
      'HIDE_ALLOWED_HOSTS="a"b"',
    ].join('\n');
    expect(parseDotenv(text)).toEqual({
      HIDE_HOST: '127.0.0.1',
      HIDE_API_KEY: 'a#b',
      HIDE_PORT: '5001',
      HIDE_WORKSPACE: '/srv/my project',
      HIDE_LOG_LEVEL: 'debug#not-a-comment',
      HIDE_ALLOWED_HOSTS: 'a"b',
    });
  });
});
