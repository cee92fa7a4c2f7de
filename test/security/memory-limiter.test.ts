import { describe, expect, test } from 'bun:test';
import type { AcquireResult } from '../../src/security/limiter.ts';
import { MemoryLimiter } from '../../src/security/memory-limiter.ts';

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

function okRelease(r: AcquireResult): () => void {
  if (!r.ok) throw new Error(`expected admission, got ${r.reason}`);
  return () => void r.release();
}

describe('MemoryLimiter', () => {
  test('rpm: 20 acquires with rpm 5 admit exactly 5', () => {
    const c = clock();
    const lim = new MemoryLimiter({ enabled: true, rpm: 5, concurrent: 100 }, c.now);
    const results = Array.from({ length: 20 }, () => {
      const r = lim.acquire('a');
      if (r.ok) r.release();
      return r.ok;
    });
    expect(results.filter(Boolean)).toHaveLength(5);
    expect(results.slice(0, 5)).toEqual([true, true, true, true, true]);
    // Another client has its own window.
    expect(lim.acquire('b').ok).toBe(true);
    lim.close();
  });

  test('concurrency 2: third refused, release frees a slot, release is idempotent', () => {
    const c = clock();
    const lim = new MemoryLimiter({ enabled: true, rpm: 100, concurrent: 2 }, c.now);
    const r1 = okRelease(lim.acquire('a'));
    const r2 = okRelease(lim.acquire('a'));
    expect(lim.acquire('a')).toEqual({ ok: false, reason: 'concurrency', retryAfterSeconds: 1 });
    r1();
    r1();
    r1(); // repeated releases must not free slots held by others
    const r3 = okRelease(lim.acquire('a'));
    expect(lim.acquire('a').ok).toBe(false);
    r2();
    r3();
    lim.close();
  });

  test('a refused call consumes neither a slot nor window space', () => {
    const c = clock();
    const lim = new MemoryLimiter({ enabled: true, rpm: 3, concurrent: 1 }, c.now);
    const hold = okRelease(lim.acquire('a'));
    for (let i = 0; i < 10; i++) expect(lim.acquire('a')).toMatchObject({ ok: false, reason: 'concurrency' });
    hold();
    // Only one stamp was spent above, so two more fit.
    okRelease(lim.acquire('a'))();
    okRelease(lim.acquire('a'))();
    expect(lim.acquire('a')).toMatchObject({ ok: false, reason: 'rpm' });
    lim.close();
  });

  test('retryAfter is honest: waiting that long gets through, a second less does not', () => {
    const c = clock();
    const lim = new MemoryLimiter({ enabled: true, rpm: 3, concurrent: 10 }, c.now);
    okRelease(lim.acquire('a'))(); // t0
    c.t += 10_500;
    okRelease(lim.acquire('a'))(); // t0 + 10.5 s
    c.t += 20_000;
    okRelease(lim.acquire('a'))(); // t0 + 30.5 s
    c.t += 1_234; // now = t0 + 31.734 s; oldest leaves at t0 + 60 s
    const refused = lim.acquire('a');
    expect(refused).toEqual({ ok: false, reason: 'rpm', retryAfterSeconds: Math.ceil((60_000 - 31_734) / 1000) });
    const wait = (refused as { retryAfterSeconds: number }).retryAfterSeconds;
    c.t += (wait - 1) * 1000;
    expect(lim.acquire('a').ok).toBe(false);
    c.t += 1000;
    const admitted = lim.acquire('a');
    expect(admitted.ok).toBe(true);
    // Next one waits for the second stamp (t0 + 10.5 s + 60 s).
    const next = lim.acquire('a');
    expect(next.ok).toBe(false);
    if (!next.ok) {
      c.t += next.retryAfterSeconds * 1000;
      expect(lim.acquire('a').ok).toBe(true);
    }
    lim.close();
  });

  test('the window is exact at its edge', () => {
    const c = clock();
    const lim = new MemoryLimiter({ enabled: true, rpm: 1, concurrent: 10 }, c.now);
    okRelease(lim.acquire('a'))();
    c.t += 59_999;
    expect(lim.acquire('a')).toEqual({ ok: false, reason: 'rpm', retryAfterSeconds: 1 });
    c.t += 1;
    expect(lim.acquire('a').ok).toBe(true);
    lim.close();
  });

  test('long-running steady traffic stays exact', () => {
    const c = clock();
    const lim = new MemoryLimiter({ enabled: true, rpm: 60, concurrent: 10 }, c.now);
    let admitted = 0;
    // Two calls a second for ten minutes: one per second fits.
    for (let i = 0; i < 1200; i++) {
      const r = lim.acquire('a');
      if (r.ok) {
        admitted++;
        r.release();
      }
      c.t += 500;
    }
    expect(admitted).toBe(600);
    lim.close();
  });

  test('sweep reclaims 10 000 idle clients but keeps busy ones', () => {
    const c = clock();
    const lim = new MemoryLimiter({ enabled: true, rpm: 10, concurrent: 2 }, c.now);
    for (let i = 0; i < 10_000; i++) okRelease(lim.acquire(`client-${i}`))();
    const holding = okRelease(lim.acquire('holder'));
    expect(lim.size()).toBe(10_001);
    lim.sweep();
    expect(lim.size()).toBe(10_001); // all still inside their window
    c.t += 60_000;
    lim.sweep();
    expect(lim.size()).toBe(1); // only the one holding a slot
    holding();
    lim.sweep();
    expect(lim.size()).toBe(0);
    lim.close();
  });

  test('disabled: always admits, nothing tracked', () => {
    const lim = new MemoryLimiter({ enabled: false, rpm: 0, concurrent: 0 });
    for (let i = 0; i < 100; i++) {
      const r = lim.acquire('a');
      expect(r.ok).toBe(true);
      if (r.ok) r.release();
    }
    expect(lim.size()).toBe(0);
    lim.close();
  });

  test('bad settings are refused when enabled', () => {
    expect(() => new MemoryLimiter({ enabled: true, rpm: 0, concurrent: 1 })).toThrow(/rpm/);
    expect(() => new MemoryLimiter({ enabled: true, rpm: 1, concurrent: 1.5 })).toThrow(/concurrent/);
  });
});
