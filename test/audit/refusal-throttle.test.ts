import { describe, expect, test } from 'bun:test';
import type { AuditEvent, AuditEventType, AuditSink } from '../../src/audit/event.ts';
import { REFUSAL_WINDOW_MS, RefusalThrottle } from '../../src/audit/refusal-throttle.ts';

function sink() {
  const lines: AuditEvent[] = [];
  const s: AuditSink = { write: (e) => void lines.push(e), flush() {}, close() {} };
  return { lines, s };
}

const event = (type: AuditEventType, ip: string | null): AuditEvent => ({
  event_type: type,
  correlation_id: 'c',
  client_id: null,
  client_ip: ip,
  api_key_hash: null,
  user: null,
  tool_name: null,
  arguments: null,
  result: null,
  error: 'x',
});

describe('RefusalThrottle', () => {
  test('a source gets its first lines written, the rest are counted in one summary per type when the window ends', () => {
    let now = 0;
    const { lines, s } = sink();
    const t = new RefusalThrottle(s, { perSource: 3, total: 100, now: () => now });
    for (let i = 0; i < 10; i++) t.write(event('auth_failure', '198.51.100.7'));
    for (let i = 0; i < 2; i++) t.write(event('host_denied', '198.51.100.7'));
    t.write(event('auth_failure', '198.51.100.8'));
    expect(lines.map((l) => [l.event_type, l.client_ip])).toEqual([
      ['auth_failure', '198.51.100.7'],
      ['auth_failure', '198.51.100.7'],
      ['auth_failure', '198.51.100.7'],
      ['auth_failure', '198.51.100.8'],
    ]);
    now += REFUSAL_WINDOW_MS;
    // The next refusal rolls the window: the summaries come first, then the new window's line.
    t.write(event('auth_failure', '198.51.100.7'));
    expect(lines.slice(4).map((l) => [l.event_type, l.client_ip, l.result])).toEqual([
      ['auth_failure', '198.51.100.7', { suppressed: 7, seconds: 60, sources: 1, top: [{ client_ip: '198.51.100.7', count: 7 }] }],
      ['host_denied', '198.51.100.7', { suppressed: 2, seconds: 60, sources: 1, top: [{ client_ip: '198.51.100.7', count: 2 }] }],
      ['auth_failure', '198.51.100.7', null],
    ]);
    expect(lines[4]!.error).toContain('7 more auth_failure events');
    t.close();
  });

  test('many sources together stop at the total; tool calls and other events always pass', () => {
    const { lines, s } = sink();
    const t = new RefusalThrottle(s, { perSource: 5, total: 20, now: () => 0 });
    for (let i = 0; i < 1000; i++) t.write(event('ip_denied', `2001:db8::${i.toString(16)}`));
    for (const type of ['tool_call', 'process_exit', 'keys_reloaded'] as const) t.write(event(type, '2001:db8::1'));
    expect(lines.filter((l) => l.event_type === 'ip_denied')).toHaveLength(20);
    expect(lines.slice(20).map((l) => l.event_type)).toEqual(['tool_call', 'process_exit', 'keys_reloaded']);
    t.flush();
    const summary = lines.at(-1)!;
    expect(summary.event_type).toBe('ip_denied');
    expect(summary.result).toMatchObject({ suppressed: 980, sources: 980 });
    expect((summary.result as { top: unknown[] }).top).toHaveLength(5);
    t.close();
  });

  test('a signed-in client has a budget of its own: no flood of keyless refusals spends it, and its summary names it', () => {
    const { lines, s } = sink();
    const t = new RefusalThrottle(s, { perSource: 2, total: 10, now: () => 0 });
    const keyed = (type: AuditEventType): AuditEvent => ({ ...event(type, '2001:db8::1'), client_id: 'mallory', api_key_hash: 'ab'.repeat(32) });
    // Enough addresses to spend the total, the key holder's own among them; a refused key (auth_failure) counts by address.
    for (let i = 0; i < 50; i++) t.write(event('auth_failure', `2001:db8::${i.toString(16)}`));
    for (let i = 0; i < 3; i++) t.write({ ...keyed('auth_failure'), client_id: null });
    for (let i = 0; i < 3; i++) t.write(keyed('permission_denied'));
    expect(lines.filter((l) => l.event_type === 'permission_denied').map((l) => l.client_id)).toEqual(['mallory', 'mallory']);
    expect(lines.filter((l) => l.event_type === 'auth_failure')).toHaveLength(10);
    t.flush();
    expect(lines.at(-1)).toMatchObject({ event_type: 'permission_denied', client_id: 'mallory', client_ip: null, result: { suppressed: 1, sources: 1, top: [{ client_id: 'mallory', count: 1 }] } });
    t.close();
  });

  test('nothing suppressed, no summary', () => {
    const { lines, s } = sink();
    const t = new RefusalThrottle(s, { perSource: 60, total: 600, now: () => 0 });
    t.write(event('rate_limit_exceeded', '127.0.0.1'));
    t.flush();
    t.close();
    expect(lines).toHaveLength(1);
  });
});
