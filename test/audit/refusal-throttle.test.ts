import { describe, expect, test } from 'bun:test';
import type { AuditEvent, AuditEventType, AuditSink } from '../../src/audit/event.ts';
import { join } from 'node:path';
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

/** A fake clock and timer queue: `timers` holds what is armed, `fire` runs it at its due time. */
function clock() {
  const c = {
    now: 0,
    timers: [] as Array<{ at: number; run: () => void; cancelled: boolean }>,
    schedule: (run: () => void, ms: number) => {
      const t = { at: c.now + ms, run, cancelled: false };
      c.timers.push(t);
      return { cancel: () => void (t.cancelled = true) };
    },
    armed: () => c.timers.filter((t) => !t.cancelled).map((t) => t.at),
    /** Moves the clock to the next armed timer and runs it. */
    fire: () => {
      const t = c.timers.find((x) => !x.cancelled)!;
      c.timers.splice(c.timers.indexOf(t), 1);
      c.now = t.at;
      t.run();
    },
  };
  return c;
}

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
    for (let i = 0; i < 1000; i++) t.write(event('ip_denied', `2001:db8:${i.toString(16)}::1`));
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
    for (let i = 0; i < 50; i++) t.write(event('auth_failure', `2001:db8:${i.toString(16)}::1`));
    for (let i = 0; i < 3; i++) t.write({ ...keyed('auth_failure'), client_id: null });
    for (let i = 0; i < 3; i++) t.write(keyed('permission_denied'));
    expect(lines.filter((l) => l.event_type === 'permission_denied').map((l) => l.client_id)).toEqual(['mallory', 'mallory']);
    expect(lines.filter((l) => l.event_type === 'auth_failure')).toHaveLength(10);
    t.flush();
    expect(lines.at(-1)).toMatchObject({ event_type: 'permission_denied', client_id: 'mallory', client_ip: null, result: { suppressed: 1, sources: 1, top: [{ client_id: 'mallory', count: 1 }] } });
    t.close();
  });

  test('nothing suppressed, no summary and no timer', () => {
    const { lines, s } = sink();
    const c = clock();
    const t = new RefusalThrottle(s, { perSource: 60, total: 600, now: () => c.now, schedule: c.schedule });
    for (let i = 0; i < 60; i++) t.write(event('rate_limit_exceeded', '127.0.0.1'));
    t.write(event('tool_call', '127.0.0.1'));
    expect(c.timers).toEqual([]);
    t.flush();
    t.close();
    expect(lines).toHaveLength(61);
  });

  test('the summary comes when the window that held lines back ends, however the window lies against the throttle start', () => {
    const { lines, s } = sink();
    const c = clock();
    const t = new RefusalThrottle(s, { perSource: 2, total: 100, now: () => c.now, schedule: c.schedule });
    const summaries = () => lines.filter((l) => l.correlation_id === null).map((l) => [l.event_type, l.result]);
    t.write(event('auth_failure', '198.51.100.7'));
    // A refusal 70 s in starts the next window there, out of phase with the throttle's start.
    c.now = 70_000;
    t.write(event('auth_failure', '198.51.100.7'));
    t.write(event('auth_failure', '198.51.100.7'));
    expect(c.timers).toEqual([]);
    // The first line held back arms one timer, for the end of its window (70 s + 60 s); more add none.
    c.now = 75_000;
    for (let i = 0; i < 5; i++) t.write(event('auth_failure', '198.51.100.7'));
    c.now = 90_000;
    t.write(event('ip_denied', '198.51.100.7'));
    expect(c.armed()).toEqual([70_000 + REFUSAL_WINDOW_MS]);
    c.fire();
    expect(summaries()).toEqual([
      ['auth_failure', { suppressed: 5, seconds: 60, sources: 1, top: [{ client_ip: '198.51.100.7', count: 5 }] }],
      ['ip_denied', { suppressed: 1, seconds: 60, sources: 1, top: [{ client_ip: '198.51.100.7', count: 1 }] }],
    ]);
    // A new window with nothing held back arms nothing; the next flood arms the end of its own window.
    expect(c.armed()).toEqual([]);
    c.now = 200_000;
    for (let i = 0; i < 3; i++) t.write(event('host_denied', '198.51.100.7'));
    expect(c.armed()).toEqual([200_000 + REFUSAL_WINDOW_MS]);
    t.close();
    // Closing writes the summary so far and leaves no timer behind.
    expect(c.armed()).toEqual([]);
    expect(summaries().at(-1)).toEqual(['host_denied', { suppressed: 1, seconds: 1, sources: 1, top: [{ client_ip: '198.51.100.7', count: 1 }] }]);
  });

  test('once closed, refusals that still arrive (a request in flight at shutdown) arm no timer', () => {
    const { lines, s } = sink();
    const c = clock();
    const t = new RefusalThrottle(s, { perSource: 1, total: 100, now: () => c.now, schedule: c.schedule });
    t.close();
    for (let i = 0; i < 3; i++) t.write(event('auth_failure', '198.51.100.7'));
    // The sink is closed: a summary due a minute later would only be dropped by it, and a warning printed after the server stopped.
    expect(c.armed()).toEqual([]);
    expect(lines).toHaveLength(1);
  });

  test('a timer that fires before its window ends waits out the rest', () => {
    const { lines, s } = sink();
    const c = clock();
    const t = new RefusalThrottle(s, { perSource: 1, total: 100, now: () => c.now, schedule: c.schedule });
    t.write(event('auth_failure', '198.51.100.7'));
    t.write(event('auth_failure', '198.51.100.7'));
    // Timers and the monotonic clock may differ by a hair.
    c.timers[0]!.at = REFUSAL_WINDOW_MS - 0.5;
    c.fire();
    expect(lines).toHaveLength(1);
    expect(c.armed()).toEqual([REFUSAL_WINDOW_MS + 0.5]);
    c.fire();
    expect(lines.map((l) => l.result)).toEqual([null, { suppressed: 1, seconds: 60, sources: 1, top: [{ client_ip: '198.51.100.7', count: 1 }] }]);
    t.close();
  });

  test('the summary timer does not keep the process alive', async () => {
    // A process that held lines back and has nothing else to do exits at once, not when the window ends.
    const script = `
      import { RefusalThrottle } from ${JSON.stringify(join(import.meta.dir, '../../src/audit/refusal-throttle.ts'))};
      const t = new RefusalThrottle({ write: (e) => e.correlation_id === null && console.log('summary'), flush() {}, close() {} }, { perSource: 1, total: 10 });
      for (let i = 0; i < 3; i++) t.write({ event_type: 'auth_failure', correlation_id: 'c', client_id: null, client_ip: '127.0.0.1', api_key_hash: null, user: null, tool_name: null, arguments: null, result: null, error: 'x' });
      console.log('held back');
    `;
    await using proc = Bun.spawn([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'pipe' });
    const [out, err, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
    expect({ out, err, code }).toEqual({ out: 'held back\n', err: '', code: 0 });
  });

  test('a refusal warning is printed with its line and held back with it; each summary prints one', () => {
    const { lines, s } = sink();
    const warned: string[] = [];
    const t = new RefusalThrottle(s, { perSource: 2, total: 100, now: () => 0, warn: (line) => void warned.push(line) });
    for (let i = 0; i < 5; i++) t.write(event('auth_failure', '198.51.100.7'), `refused ${i}`);
    t.write(event('tool_call', '198.51.100.7'));
    t.flush();
    expect(lines).toHaveLength(4);
    expect(warned).toEqual([
      'refused 0',
      'refused 1',
      '3 more auth_failure events in the last 1 s were not written one by one (at most 2 per address or signed-in client and 100 from all addresses per minute); most from 198.51.100.7 (3)',
    ]);
    t.close();
  });

  test('an IPv6 client is one source per /64, and an IPv4-mapped address is the IPv4 address', () => {
    const { lines, s } = sink();
    const t = new RefusalThrottle(s, { perSource: 2, total: 100, now: () => 0 });
    // One host's /64 holds 2^64 addresses: a new one per request gets no new budget.
    for (const ip of ['2001:db8:1:2::1', '2001:db8:1:2::ffff', '2001:db8:1:2:abcd:ef01:2345:6789', '2001:DB8:1:2:0:0:0:1']) t.write(event('ip_denied', ip));
    // The next /64 is another source.
    t.write(event('ip_denied', '2001:db8:1:3::1'));
    for (const ip of ['198.51.100.7', '::ffff:198.51.100.7', '::ffff:c633:6407']) t.write(event('ip_denied', ip));
    expect(lines.map((l) => l.client_ip)).toEqual(['2001:db8:1:2::1', '2001:db8:1:2::ffff', '2001:db8:1:3::1', '198.51.100.7', '::ffff:198.51.100.7']);
    t.flush();
    expect(lines.at(-1)!.result).toEqual({
      suppressed: 3,
      seconds: 1,
      sources: 2,
      top: [
        { client_ip: '2001:db8:1:2::/64', count: 2 },
        { client_ip: '198.51.100.7', count: 1 },
      ],
    });
    t.close();
  });
});
