/**
 * The Host policy on its own (src/security/host.ts): which Host values a
 * loopback-bound server answers to, what a configured list adds, and that a
 * server on another address checks nothing unless names are configured.
 */
import { describe, expect, test } from 'bun:test';
import { HostPolicy, parseHost } from '../../src/security/host.ts';

const verdicts = (policy: HostPolicy, hosts: Array<string | null>) => Object.fromEntries(hosts.map((h) => [String(h), policy.allows(h)]));

describe('parseHost', () => {
  test('splits names, addresses and bracketed IPv6 from their port; refuses what is not a Host', () => {
    expect([parseHost('LocalHost:5000'), parseHost('[::1]:80'), parseHost('127.0.0.1'), parseHost('a:b:c'), parseHost('evil.example/x'), parseHost(''), parseHost('user@host')]).toEqual([
      { name: 'localhost', port: '5000' },
      { name: '[::1]', port: '80' },
      { name: '127.0.0.1', port: null },
      null,
      null,
      null,
      null,
    ]);
  });
});

describe('bound to loopback, nothing configured', () => {
  const policy = new HostPolicy([], true);

  test('loopback names pass, with or without a port, in any case', () => {
    expect(verdicts(policy, ['localhost', 'localhost:5000', 'LOCALHOST:5000', '127.0.0.1', '127.0.0.1:5000', '127.1.2.3:80', '[::1]', '[::1]:5000'])).toEqual({
      localhost: true,
      'localhost:5000': true,
      'LOCALHOST:5000': true,
      '127.0.0.1': true,
      '127.0.0.1:5000': true,
      '127.1.2.3:80': true,
      '[::1]': true,
      '[::1]:5000': true,
    });
  });

  test('a rebound name, look-alikes, other addresses and no Host at all are refused', () => {
    expect(
      verdicts(policy, ['evil.example', 'evil.example:5000', 'localhost.evil.example', '127.0.0.1.nip.io', 'localhost.', '10.0.0.1', '[::2]', '0x7f.0.0.1', '2130706433', '::1', 'localhost:5000:1', null]),
    ).toEqual({
      'evil.example': false,
      'evil.example:5000': false,
      'localhost.evil.example': false,
      '127.0.0.1.nip.io': false,
      'localhost.': false,
      '10.0.0.1': false,
      '[::2]': false,
      '0x7f.0.0.1': false,
      '2130706433': false,
      '::1': false,
      'localhost:5000:1': false,
      null: false,
    });
  });

  test('a refused Host stays refused after many allowed ones (the remembered set is bounded, not a bypass)', () => {
    for (let i = 0; i < 200; i++) policy.allows(`127.0.0.1:${1000 + i}`);
    expect([policy.allows('evil.example'), policy.allows('127.0.0.1:5000')]).toEqual([false, true]);
  });
});

describe('configured names', () => {
  test('a name passes on any port, a name:port on that port only; loopback names still pass', () => {
    const policy = new HostPolicy(['IDE.example.com', 'box.lan:8080', '[fd00::1]'], true);
    expect(verdicts(policy, ['ide.example.com', 'ide.example.com:443', 'box.lan:8080', 'box.lan:8081', 'box.lan', '[fd00::1]:5000', 'localhost:5000', 'evil.example'])).toEqual({
      'ide.example.com': true,
      'ide.example.com:443': true,
      'box.lan:8080': true,
      'box.lan:8081': false,
      'box.lan': false,
      '[fd00::1]:5000': true,
      'localhost:5000': true,
      'evil.example': false,
    });
  });

  test('"*" turns the check off', () => {
    expect(verdicts(new HostPolicy(['*'], true), ['evil.example', null])).toEqual({ 'evil.example': true, null: true });
  });

  test('an entry that is not a host is refused at start-up, by name', () => {
    expect(() => new HostPolicy(['https://ide.example.com'], true)).toThrow("allowed host 'https://ide.example.com' is not a host name");
  });
});

describe('bound to another address', () => {
  test('nothing configured: no check', () => {
    const policy = new HostPolicy([], false);
    expect([policy.enforced, policy.allows('evil.example'), policy.allows(null)]).toEqual([false, true, true]);
  });

  test('names configured: only those and the loopback names', () => {
    const policy = new HostPolicy(['ide.example.com'], false);
    expect(verdicts(policy, ['ide.example.com', 'localhost:5000', '10.0.0.5:5000'])).toEqual({ 'ide.example.com': true, 'localhost:5000': true, '10.0.0.5:5000': false });
  });
});
