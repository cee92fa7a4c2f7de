import { describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { verifyFiles } from '../../src/ops/audit-verify.ts';
import { AuditWriter, NullAudit } from '../../src/security/audit.ts';
import type { AuditEvent } from '../../src/security/audit-event.ts';
import { Redactor } from '../../src/security/redact.ts';
import { tempDir } from './helpers.ts';

const SERVER_KEY = 'server-key-1234567890-abcdefghijk';
const FIELDS = ['timestamp', 'event_type', 'correlation_id', 'client_id', 'client_ip', 'api_key_hash', 'user', 'tool_name', 'arguments', 'result', 'error'];

function event(i: number, over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    event_type: 'tool_call',
    correlation_id: `corr-${i}`,
    client_id: 'ci',
    client_ip: '127.0.0.1',
    api_key_hash: 'ab'.repeat(32),
    user: 'dev',
    tool_name: 'shell_execute',
    arguments: { command: 'echo', arguments: [String(i)] },
    result: { exitCode: 0, executionTimeMs: 3, truncated: false },
    error: null,
    ...over,
  };
}

function lines(file: string): Record<string, unknown>[] {
  const text = readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

const tick = () => new Promise((r) => setImmediate(r));

describe('AuditWriter', () => {
  test('2 000 concurrent writes give exactly 2 000 whole lines with every field', async () => {
    using dir = tempDir();
    const file = join(dir.path, 'audit.jsonl');
    const w = new AuditWriter({ file, redactor: new Redactor([SERVER_KEY]) });
    await Promise.all(
      Array.from({ length: 2000 }, async (_, i) => {
        await Promise.resolve();
        if (i % 7 === 0) await tick();
        w.write(event(i));
      }),
    );
    await tick();
    const got = lines(file);
    expect(got).toHaveLength(2000);
    for (const l of got) expect(Object.keys(l)).toEqual(FIELDS);
    expect(new Set(got.map((l) => l.correlation_id)).size).toBe(2000);
    expect(w.linesWritten).toBe(2000);
    w.close();
  });

  test('new file is 0600; appends to an existing file without truncating', async () => {
    using dir = tempDir();
    const file = join(dir.path, 'audit.jsonl');
    const w1 = new AuditWriter({ file, redactor: new Redactor() });
    w1.write(event(1));
    w1.close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const w2 = new AuditWriter({ file, redactor: new Redactor() });
    w2.write(event(2));
    w2.flush();
    expect(lines(file).map((l) => l.correlation_id)).toEqual(['corr-1', 'corr-2']);
    w2.close();
  });

  test('timestamp is UTC ISO 8601 with milliseconds and comes first', () => {
    using dir = tempDir();
    const file = join(dir.path, 'audit.jsonl');
    const w = new AuditWriter({ file, redactor: new Redactor() });
    const before = Date.now();
    w.write(event(1));
    w.flush();
    const text = readFileSync(file, 'utf8');
    expect(text).toStartWith('{"timestamp":"');
    const ts = lines(file)[0]!.timestamp as string;
    expect(ts).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Date.parse(ts)).toBeGreaterThanOrEqual(before - 1);
    w.close();
  });

  test('redaction applies to arguments, result, error and user; envelope fields are kept', () => {
    using dir = tempDir();
    const file = join(dir.path, 'audit.jsonl');
    const w = new AuditWriter({ file, redactor: new Redactor([SERVER_KEY]) });
    w.write(
      event(1, {
        user: `dev ${SERVER_KEY}`,
        arguments: { command: 'mysql', arguments: ['--password=hunter2', '-h', 'db'], env: { API_TOKEN: 'tok' }, note: `key ${SERVER_KEY}` },
        result: { exitCode: 1, detail: 'ghp_0123456789abcdefghij0123456789abcdef' },
        error: `auth failed for Bearer ${SERVER_KEY}`,
      }),
    );
    w.flush();
    const [l] = lines(file);
    expect(l).toEqual({
      timestamp: expect.any(String),
      event_type: 'tool_call',
      correlation_id: 'corr-1',
      client_id: 'ci',
      client_ip: '127.0.0.1',
      api_key_hash: 'ab'.repeat(32),
      user: 'dev [REDACTED]',
      tool_name: 'shell_execute',
      arguments: { command: 'mysql', arguments: ['--password=[REDACTED]', '-h', 'db'], env: { API_TOKEN: '[REDACTED]' }, note: 'key [REDACTED]' },
      result: { exitCode: 1, detail: '[REDACTED]' },
      error: 'auth failed for Bearer [REDACTED]',
    });
    expect(readFileSync(file, 'utf8')).not.toContain(SERVER_KEY);
    w.close();
  });

  test('undefined arguments/result serialise as null so every field is present', () => {
    using dir = tempDir();
    const file = join(dir.path, 'audit.jsonl');
    const w = new AuditWriter({ file, redactor: new Redactor() });
    w.write(event(1, { event_type: 'auth_failure', arguments: undefined, result: undefined, tool_name: null }));
    w.flush();
    expect(Object.keys(lines(file)[0]!)).toEqual(FIELDS);
    w.close();
  });

  test('an event that cannot be serialised is dropped and reported; the rest of its turn is written', async () => {
    using dir = tempDir();
    const file = join(dir.path, 'audit.jsonl');
    const errors: Error[] = [];
    const w = new AuditWriter({ file, redactor: new Redactor(), chain: true, onError: (e) => errors.push(e) });
    const hostile = {
      get boom(): string {
        throw new Error('getter failed');
      },
    };
    w.write(event(1));
    w.write(event(2, { arguments: hostile }));
    w.write(event(3));
    await tick();
    expect(lines(file).map((l) => l.correlation_id)).toEqual(['corr-1', 'corr-3']);
    expect(w.linesDropped).toBe(1);
    expect(errors.map((e) => e.message)).toEqual(['getter failed']);
    w.close();
    // The chain skips the dropped event: what is on disk still verifies.
    expect(verifyFiles([file])).toMatchObject({ ok: true, lines: 2 });
  });

  test('a line with newlines in values is still one line', () => {
    using dir = tempDir();
    const file = join(dir.path, 'audit.jsonl');
    const w = new AuditWriter({ file, redactor: new Redactor() });
    w.write(event(1, { error: 'line1\nline2\r\n{"fake":"event"}' }));
    w.flush();
    expect(lines(file)).toHaveLength(1);
    w.close();
  });

  test.skipIf(!existsSync('/dev/full'))('write failures (ENOSPC) are reported once and never throw', async () => {
    const errors: Error[] = [];
    const w = new AuditWriter({ file: '/dev/full', redactor: new Redactor(), onError: (e) => errors.push(e) });
    for (let i = 0; i < 5; i++) {
      w.write(event(i));
      await tick();
    }
    w.flush();
    expect(errors).toHaveLength(1);
    expect((errors[0] as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect([w.linesWritten, w.linesDropped]).toEqual([0, 5]);
    expect(() => w.close()).not.toThrow();
    w.write(event(9));
    expect(w.linesDropped).toBe(6);
  });

  test('an unwritable path fails at construction', () => {
    using dir = tempDir();
    chmodSync(dir.path, 0o500);
    try {
      if (process.getuid?.() === 0) return; // root ignores permissions
      expect(() => new AuditWriter({ file: join(dir.path, 'a.jsonl'), redactor: new Redactor() })).toThrow();
    } finally {
      chmodSync(dir.path, 0o700);
    }
  });

  test('NullAudit accepts everything', () => {
    const n = new NullAudit();
    n.write(event(1));
    n.flush();
    n.close();
    expect(n.linesWritten).toBe(0);
  });
});
