/**
 * What the server says at start about a network-on command's reach: one line
 * per thing nothing but a credential the command never holds would guard,
 * each naming the setting that closes it; silent with the network off.
 */
import { describe, expect, test } from 'bun:test';
import { loadConfig } from '../../src/config/load.ts';
import { networkOnExposures } from '../../src/security/network-exposure.ts';

const LOCAL = ['127.0.0.1', '::1', '10.1.2.3'];
const config = (env: Record<string, string>) => loadConfig({ cwd: '/tmp', env: { HIDE_WORKSPACE: '/tmp', ...env } }).config;
const said = (env: Record<string, string>, transport: 'http' | 'stdio' = 'http') =>
  networkOnExposures(config(env), { transport, localAddresses: () => LOCAL }).map((line) => /set (HIDE_\w+)|\((HIDE_\w+)=|in (HIDE_\w+)|(HIDE_TRUSTED_PROXIES)/.exec(line)?.slice(1).find(Boolean));

describe('networkOnExposures', () => {
  const everythingOpen = {
    HIDE_SANDBOX_NETWORK: 'on',
    HIDE_RATE_LIMIT_STORE: 'redis',
    HIDE_REDIS_URL: 'redis://127.0.0.1:6379',
    HIDE_TRUSTED_PROXIES: '127.0.0.0/8',
  };

  test('with the network off, or the sandbox off, nothing is said', () => {
    expect(said({ ...everythingOpen, HIDE_SANDBOX_NETWORK: 'off' })).toEqual([]);
    expect(said({ ...everythingOpen, HIDE_SANDBOX: 'off' })).toEqual([]);
  });

  test('with the network on, each open door is named with the setting that closes it', () => {
    expect(said(everythingOpen)).toEqual(['HIDE_AUTH_ENABLED', 'HIDE_METRICS_TOKEN', 'HIDE_TRUSTED_PROXIES', 'HIDE_REDIS_URL']);
  });

  test('auth on, a metrics token, a proxy that is not this host and a Redis password: nothing left to say', () => {
    expect(
      said({
        ...everythingOpen,
        HIDE_AUTH_ENABLED: 'true',
        HIDE_API_KEY: 'k'.repeat(32),
        HIDE_METRICS_TOKEN: 't'.repeat(32),
        HIDE_TRUSTED_PROXIES: '10.9.0.0/16',
        HIDE_REDIS_URL: 'redis://:s3cret@127.0.0.1:6379',
      }),
    ).toEqual([]);
    // An ACL user with its password counts; a user with none does not.
    expect(said({ ...everythingOpen, HIDE_AUTH_MODE: 'oauth', HIDE_OAUTH_RESOURCE: 'https://h.example/mcp', HIDE_OAUTH_ISSUERS: 'https://sso.example', HIDE_METRICS_TOKEN: 't'.repeat(32), HIDE_TRUSTED_PROXIES: '', HIDE_REDIS_URL: 'redis://hide:pw@127.0.0.1:6379' })).toEqual([]);
    expect(said({ ...everythingOpen, HIDE_REDIS_URL: 'redis://hide@127.0.0.1:6379' })).toContain('HIDE_REDIS_URL');
  });

  test("a trusted proxy range holding one of this host's non-loopback addresses is named too", () => {
    expect(said({ HIDE_SANDBOX_NETWORK: 'on', HIDE_AUTH_ENABLED: 'true', HIDE_API_KEY: 'k'.repeat(32), HIDE_METRICS_TOKEN: 't'.repeat(32), HIDE_TRUSTED_PROXIES: '10.1.0.0/16' })).toEqual(['HIDE_TRUSTED_PROXIES']);
  });

  test('over stdio there is no port: only the limits store is named', () => {
    expect(said(everythingOpen, 'stdio')).toEqual(['HIDE_REDIS_URL']);
  });
});
