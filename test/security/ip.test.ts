import { describe, expect, test } from 'bun:test';
import { IpFilter, isLoopback, normalizeIp } from '../../src/security/ip.ts';
import { spawnServer } from '../ops/helpers.ts';

describe('IpFilter.isAllowed', () => {
  test('empty allowlist allows everything, even garbage', () => {
    const f = new IpFilter();
    expect(['1.2.3.4', '::1', 'not-an-ip'].map((ip) => f.isAllowed(ip))).toEqual([true, true, true]);
  });

  test('IPv4 single addresses and CIDRs', () => {
    const f = new IpFilter({ allow: ['192.168.1.100', '10.0.0.0/8', ' 172.16.0.0/12 '] });
    const cases: [string, boolean][] = [
      ['192.168.1.100', true],
      ['192.168.1.101', false],
      ['10.255.255.255', true],
      ['11.0.0.0', false],
      ['172.31.0.1', true],
      ['172.32.0.1', false],
      ['::ffff:10.1.2.3', true],
      ['::ffff:192.168.1.100', true],
      ['::ffff:11.1.2.3', false],
      ['0x0a.0.0.1', false], // non-decimal forms are refused, not reinterpreted
      ['010.0.0.1', false],
      ['10.1', false],
      ['', false],
      ['garbage', false],
      ['::1', false],
    ];
    expect(cases.map(([ip]) => [ip, f.isAllowed(ip)])).toEqual(cases);
  });

  test('IPv6 single addresses and CIDRs', () => {
    const f = new IpFilter({ allow: ['::1', '2001:db8::/32', 'fd00:0:0:0:0:0:0:1'] });
    const cases: [string, boolean][] = [
      ['::1', true],
      ['0:0:0:0:0:0:0:1', true],
      ['2001:db8:ffff::1', true],
      ['2001:db9::1', false],
      ['fd00::1', true],
      ['fd00::2', false],
      ['127.0.0.1', false],
      ['fe80::1%eth0', false],
    ];
    expect(cases.map(([ip]) => [ip, f.isAllowed(ip)])).toEqual(cases);
  });

  test('mapped IPv4 on the rule side', () => {
    const f = new IpFilter({ allow: ['::ffff:10.0.0.0/104', '::ffff:192.168.0.1'] });
    const cases: [string, boolean][] = [
      ['10.9.8.7', true],
      ['::ffff:10.9.8.7', true],
      ['192.168.0.1', true],
      ['192.168.0.2', false],
    ];
    expect(cases.map(([ip]) => [ip, f.isAllowed(ip)])).toEqual(cases);
  });

  test('bad rules throw and name the entry', () => {
    const bad = ['10.0.0.0/33', '300.1.1.1', 'abc', '10.0.0.1/', '/8', '::1/129', '10.0.0.0/-1', '0x7f.0.0.1', 'fe80::1%eth0', '::ffff:10.0.0.0/95', '', '1.2.3.4/8/8'];
    for (const rule of bad) {
      expect(() => new IpFilter({ allow: [rule] })).toThrow(`allowed client IPs: "${rule}"`);
      expect(() => new IpFilter({ trustedProxies: [rule] })).toThrow(`trusted proxies: "${rule}"`);
    }
  });
});

describe('IpFilter.clientIp', () => {
  const f = new IpFilter({ trustedProxies: ['10.0.0.0/8', '::1', '127.0.0.1'] });

  test('XFF is ignored when the peer is not a trusted proxy', () => {
    expect(f.clientIp('203.0.113.9', '1.1.1.1')).toBe('203.0.113.9');
    expect(new IpFilter().clientIp('10.0.0.1', '1.1.1.1')).toBe('10.0.0.1');
  });

  test('no or empty XFF gives the peer, normalised', () => {
    expect(f.clientIp('::ffff:10.0.0.5', null)).toBe('10.0.0.5');
    expect(f.clientIp('10.0.0.5', '')).toBe('10.0.0.5');
  });

  test('trusted chain: right-most untrusted address wins', () => {
    expect(f.clientIp('10.0.0.1', '198.51.100.7')).toBe('198.51.100.7');
    // The client forged "6.6.6.6"; the proxies appended what they saw.
    expect(f.clientIp('10.0.0.1', '6.6.6.6, 198.51.100.7, 10.0.0.2, 10.0.0.3')).toBe('198.51.100.7');
    expect(f.clientIp('::1', '2001:db8::5,10.1.1.1')).toBe('2001:db8::5');
    expect(f.clientIp('::ffff:10.0.0.1', '::ffff:198.51.100.7')).toBe('198.51.100.7');
  });

  test('garbage left of the client is irrelevant; garbage on the walk falls back to the peer', () => {
    expect(f.clientIp('10.0.0.1', 'garbage, 198.51.100.7')).toBe('198.51.100.7');
    expect(f.clientIp('10.0.0.1', '198.51.100.7, garbage')).toBe('10.0.0.1');
    expect(f.clientIp('10.0.0.1', '198.51.100.7:443')).toBe('10.0.0.1');
    expect(f.clientIp('10.0.0.1', '198.51.100.7,,10.0.0.2')).toBe('10.0.0.1');
    expect(f.clientIp('10.0.0.1', 'unknown')).toBe('10.0.0.1');
    expect(f.clientIp('10.0.0.1', Array(100).fill('10.0.0.2').join(','))).toBe('10.0.0.1');
  });

  test('all hops trusted gives the left-most', () => {
    expect(f.clientIp('10.0.0.1', '10.0.0.9, 10.0.0.2')).toBe('10.0.0.9');
  });

  test('unparseable peer is returned as is', () => {
    expect(f.clientIp('weird', '1.2.3.4')).toBe('weird');
  });

  test('isTrustedProxy', () => {
    expect([f.isTrustedProxy('10.2.3.4'), f.isTrustedProxy('::ffff:127.0.0.1'), f.isTrustedProxy('8.8.8.8')]).toEqual([true, true, false]);
  });
});

describe('helpers', () => {
  test('isLoopback', () => {
    const cases: [string, boolean][] = [
      ['127.0.0.1', true],
      ['127.255.0.9', true],
      ['::1', true],
      ['::ffff:127.0.0.1', true],
      ['10.0.0.1', false],
      ['::', false],
      ['0.0.0.0', false],
      ['localhost', false],
    ];
    expect(cases.map(([ip]) => [ip, isLoopback(ip)])).toEqual(cases);
  });

  test('normalizeIp', () => {
    expect([normalizeIp('::FFFF:10.0.0.1'), normalizeIp('2001:DB8:0:0:0:0:0:1'), normalizeIp('x')]).toEqual(['10.0.0.1', '2001:db8::1', 'x']);
  });
});

describe('trusting every peer', () => {
  test('a /0 proxy range (v4, v6 or mapped) is flagged; narrower ranges are not', () => {
    const flagged = (trustedProxies: string[]) => new IpFilter({ trustedProxies }).trustsEveryPeer;
    expect([flagged(['0.0.0.0/0']), flagged(['10.0.0.0/8', '::/0']), flagged(['::ffff:0.0.0.0/96']), flagged(['10.0.0.0/8', '127.0.0.1']), flagged([])]).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
  });

  test('serve warns about it at start', async () => {
    await using s = await spawnServer({ HIDE_TRUSTED_PROXIES: '10.0.0.0/8,0.0.0.0/0', HIDE_SANDBOX: 'off' });
    expect(s.log()).toContain('HIDE_TRUSTED_PROXIES holds a /0 range: every client counts as a proxy');
  });
});
