/**
 * The OAuth policy modules on their own: the scope map resolved against
 * tools, scopes read from claims, where the metadata lives, the challenges,
 * and the settings that must come together.
 */
import { describe, expect, test } from 'bun:test';
import { loadConfig, ConfigError } from '../../../src/config/load.ts';
import { DEFAULT_OAUTH_SCOPES } from '../../../src/config/settings.ts';
import { cleartextWarnings, discoveryUrls, downgradeProblem } from '../../../src/security/oauth/discovery.ts';
import { spawnServer } from '../../ops/helpers.ts';
import { bearerChallenge, metadataPaths, metadataUrl } from '../../../src/security/oauth/metadata.ts';
import { ScopePolicy, scopesOf } from '../../../src/security/oauth/scopes.ts';
import { looksLikeJwt } from '../../../src/security/oauth/jwt-shape.ts';

const TOOLS = [
  { name: 'shell_execute', readOnly: false },
  { name: 'shell_execute_json', readOnly: false },
  { name: 'shell_get_available_tools', readOnly: true },
  { name: 'read_file', readOnly: true },
  { name: 'write_file', readOnly: false },
  { name: 'edit_file', readOnly: false },
];

describe('scope policy', () => {
  const policy = new ScopePolicy(DEFAULT_OAUTH_SCOPES, TOOLS);
  test('each scope grants its tools; a token gets the union; unknown scopes grant nothing', () => {
    expect({
      read: [...policy.allowedTools(['hide:read'])].sort(),
      exec: [...policy.allowedTools(['hide:exec'])].sort(),
      readWrite: [...policy.allowedTools(['hide:write', 'hide:read'])].sort(),
      unknown: [...policy.allowedTools(['openid', 'admin'])],
    }).toEqual({
      read: ['read_file', 'shell_get_available_tools'],
      exec: ['shell_execute', 'shell_execute_json', 'shell_get_available_tools'],
      readWrite: ['edit_file', 'read_file', 'shell_get_available_tools', 'write_file'],
      unknown: [],
    });
  });
  test('the scope an insufficient_scope answer asks for; `*` grants all', () => {
    expect([policy.scopeFor('shell_execute'), policy.scopeFor('write_file'), policy.scopeFor('read_file'), policy.scopeFor('nope')]).toEqual([
      'hide:exec',
      'hide:write',
      'hide:read',
      null,
    ]);
    expect(new ScopePolicy({ admin: ['*'] }, TOOLS).allowedTools(['admin']).size).toBe(TOOLS.length);
  });
  test('a `prefix*` pattern grants the tools whose name starts with it, not every name that contains it', () => {
    const tools = [
      { name: 'list_directory', readOnly: true },
      { name: 'process_list', readOnly: true },
      { name: 'read_file', readOnly: true },
      { name: 'process_read', readOnly: true },
    ];
    const prefixes = new ScopePolicy({ browse: ['list*'], reads: ['read*'] }, tools);
    expect([[...prefixes.allowedTools(['browse'])], [...prefixes.allowedTools(['reads'])]]).toEqual([['list_directory'], ['read_file']]);
  });
  test('scopes from `scope` (space-separated) or `scp` (list or string)', () => {
    expect([scopesOf({ scope: 'a  b' }), scopesOf({ scp: ['a', 7, 'b'] }), scopesOf({ scp: 'a' }), scopesOf({})]).toEqual([['a', 'b'], ['a', 'b'], ['a'], []]);
  });
});

describe('metadata and challenges', () => {
  test('RFC 9728 well-known URL and served paths', () => {
    expect(metadataUrl('https://h.example/mcp')).toBe('https://h.example/.well-known/oauth-protected-resource/mcp');
    expect(metadataUrl('https://h.example/')).toBe('https://h.example/.well-known/oauth-protected-resource');
    expect(metadataPaths('https://h.example/team/mcp')).toEqual([
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
      '/.well-known/oauth-protected-resource/team/mcp',
    ]);
  });
  test('metadata of an https issuer that sends key fetches over plain HTTP off this machine is refused', () => {
    const issuer = 'https://sso.example/realms/dev';
    expect(downgradeProblem(issuer, 'http://keys.example/jwks')).toBe(
      'names a plain-HTTP jwks_uri (http://keys.example/jwks) for an https issuer: keys fetched there could be swapped on the way',
    );
    // Loopback crosses no network; a plain-HTTP issuer was the operator's choice (and is warned about at start).
    expect(downgradeProblem(issuer, 'http://127.0.0.1:8080/jwks')).toBeNull();
    expect(downgradeProblem('http://sso.internal', 'http://sso.internal/jwks')).toBeNull();
    expect(downgradeProblem(issuer, 'https://keys.example/jwks')).toBeNull();
  });

  test('RFC 8414 discovery inserts the well-known path; OpenID appends it', () => {
    expect(discoveryUrls('https://sso.example/realms/dev')).toEqual([
      'https://sso.example/.well-known/oauth-authorization-server/realms/dev',
      'https://sso.example/realms/dev/.well-known/openid-configuration',
    ]);
  });
  test('plain HTTP to an authorization server off this machine is warned about; loopback and https are not', () => {
    expect(cleartextWarnings(['https://sso.example/realms/dev', 'http://127.0.0.1:8080', 'http://localhost:9', 'http://[::1]:9', 'http://sso.internal:8080/realms/dev'], 'http://10.1.2.3/introspect')).toEqual([
      'issuer http://sso.internal:8080/realms/dev is plain HTTP: its metadata and signing keys can be swapped on the way, and with them any token forged; use https',
      'HIDE_OAUTH_INTROSPECTION_URL http://10.1.2.3/introspect is plain HTTP: the client secret and every opaque token cross the network readable; use https',
    ]);
    expect(cleartextWarnings(['https://sso.example'], 'https://sso.example/introspect')).toEqual([]);
  });
  test('serve says so at start', async () => {
    await using s = await spawnServer({
      HIDE_AUTH_MODE: 'oauth',
      HIDE_OAUTH_RESOURCE: 'http://127.0.0.1:1/mcp',
      HIDE_OAUTH_ISSUERS: 'http://192.0.2.1/realms/dev',
      HIDE_SANDBOX: 'off',
    });
    expect(s.log()).toContain('issuer http://192.0.2.1/realms/dev is plain HTTP');
  });
  test('challenges quote values and name an error only when asked', () => {
    expect(bearerChallenge({ resourceMetadata: 'https://h/m', scope: 'a b' })).toBe('Bearer resource_metadata="https://h/m", scope="a b"');
    expect(bearerChallenge({ resourceMetadata: 'https://h/m', error: 'invalid_token', description: 'say "no"\n' })).toBe(
      String.raw`Bearer resource_metadata="https://h/m", error="invalid_token", error_description="say \"no\"?"`,
    );
  });
  test('a JWT has the compact form; an API key does not', () => {
    expect([looksLikeJwt('eyJa.eyJb.sig'), looksLikeJwt('eyJa.eyJb.'), looksLikeJwt('k3y-without-dots_0123456789'), looksLikeJwt('a.b.c.d')]).toEqual([true, true, false, false]);
  });
});

describe('settings', () => {
  test('oauth mode needs a resource and an issuer; algorithms are asymmetric only; scopes are a JSON object', () => {
    let problems: string[] = [];
    try {
      loadConfig({ cwd: '/tmp', env: { HIDE_AUTH_MODE: 'oauth', HIDE_OAUTH_ALGORITHMS: 'RS256,HS256', HIDE_OAUTH_SCOPES: '["x"]' } });
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    expect(problems.map((p) => p.split(/[ :]/)[0])).toEqual(['HIDE_OAUTH_SCOPES', 'HIDE_OAUTH_ALGORITHMS', 'HIDE_OAUTH_RESOURCE', 'HIDE_OAUTH_ISSUERS']);
    const { config } = loadConfig({ cwd: '/tmp', env: { HIDE_AUTH_MODE: 'both', HIDE_OAUTH_RESOURCE: 'https://h.example/mcp', HIDE_OAUTH_ISSUERS: 'https://sso.example' } });
    expect(config.auth.mode).toBe('both');
    expect(() => loadConfig({ cwd: '/tmp', env: { HIDE_AUTH_MODE: 'oauth', HIDE_OAUTH_ISSUERS: 'https://sso.example' } })).toThrow(/HIDE_OAUTH_RESOURCE/);
  });

  test('the introspection endpoint\'s issuer must be one of the issuers, exactly as written, and is required with more than one', () => {
    const env = {
      HIDE_AUTH_MODE: 'oauth',
      HIDE_OAUTH_RESOURCE: 'https://h.example/mcp',
      HIDE_OAUTH_ISSUERS: 'https://a.example,https://b.example',
      HIDE_OAUTH_INTROSPECTION_URL: 'https://a.example/introspect',
      HIDE_OAUTH_INTROSPECTION_CLIENT_ID: 'hide',
      HIDE_OAUTH_INTROSPECTION_CLIENT_SECRET: 'secret',
    };
    expect(() => loadConfig({ cwd: '/tmp', env: { ...env, HIDE_OAUTH_INTROSPECTION_ISSUER: 'https://a.example/' } })).toThrow(/HIDE_OAUTH_INTROSPECTION_ISSUER must be one of HIDE_OAUTH_ISSUERS/);
    // With two issuers it is required: guessed from the issuers' metadata, an issuer that named the endpoint as its own
    // while the other's metadata named it another way (or not at all) got the other's users.
    expect(() => loadConfig({ cwd: '/tmp', env })).toThrow(/with more than one issuer and introspection it is required/);
    expect(loadConfig({ cwd: '/tmp', env: { ...env, HIDE_OAUTH_ISSUERS: 'https://a.example' } }).config.oauth.introspection?.issuer).toBeUndefined();
    expect(loadConfig({ cwd: '/tmp', env: { ...env, HIDE_OAUTH_INTROSPECTION_ISSUER: 'https://b.example' } }).config.oauth.introspection?.issuer).toBe('https://b.example');
  });
});
