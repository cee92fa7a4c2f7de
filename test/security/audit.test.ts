import { describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { ArgumentsDigest } from '../../src/audit/arguments-digest.ts';
import { canonicalJson } from '../../src/audit/chain.ts';
import { verifyFiles } from '../../src/audit/verify.ts';
import { MAX_LINE_BYTES } from '../../src/audit/sealed-line.ts';
import { NullAudit } from '../../src/audit/null-audit.ts';
import { AuditWriter } from '../../src/audit/writer.ts';
import type { AuditEvent } from '../../src/audit/event.ts';
import { generateApiKey, KeyStore, sha256Hex } from '../../src/security/keys.ts';
import { MAX_ENTRIES, MAX_STRING, Redactor } from '../../src/audit/redact.ts';
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

  test('every audited field is redacted: a token as correlation id, user, tool name, error, arguments, result', () => {
    using dir = tempDir();
    const file = join(dir.path, 'audit.jsonl');
    const w = new AuditWriter({ file, redactor: new Redactor([SERVER_KEY]) });
    const GHS = 'ghs_0123456789abcdefghij0123456789abcdef';
    w.write(
      event(1, {
        correlation_id: GHS,
        user: `dev ${SERVER_KEY}`,
        tool_name: `xoxb-1234567890-${'a'.repeat(24)}`,
        arguments: { command: 'mysql', arguments: ['--password=hunter2', '-h', 'db', `-p${SERVER_KEY}`], env: { API_TOKEN: 'tok' }, note: `key ${SERVER_KEY}` },
        result: { exitCode: 1, detail: 'ghp_0123456789abcdefghij0123456789abcdef' },
        error: `auth failed for Bearer ${SERVER_KEY}`,
      }),
    );
    w.flush();
    const [l] = lines(file);
    expect(l).toEqual({
      timestamp: expect.any(String),
      event_type: 'tool_call',
      correlation_id: '[REDACTED]',
      client_id: 'ci',
      client_ip: '127.0.0.1',
      api_key_hash: 'ab'.repeat(32),
      user: 'dev [REDACTED]',
      tool_name: '[REDACTED]',
      arguments: { command: 'mysql', arguments: ['--password=[REDACTED]', '-h', 'db', '-p[REDACTED]'], env: { API_TOKEN: '[REDACTED]' }, note: 'key [REDACTED]' },
      result: { exitCode: 1, detail: '[REDACTED]' },
      error: 'auth failed for Bearer [REDACTED]',
    });
    expect(readFileSync(file, 'utf8')).not.toContain(SERVER_KEY);
    w.close();
  });

  test('with an arguments key, tool-call lines carry the keyed digest of the arguments taken, before redaction, sealed in the chain', () => {
    using dir = tempDir();
    const file = join(dir.path, 'audit.jsonl');
    const KEY = 'an-operator-key-of-32-characters-or-more';
    const w = new AuditWriter({ file, redactor: new Redactor([SERVER_KEY]), chain: true, argumentsDigest: new ArgumentsDigest(KEY) });
    const sent = { command: 'mysql', arguments: [`-p${SERVER_KEY}`, '-e', 'drop database x'] };
    w.write(event(1, { arguments: sent, digestedArguments: sent }));
    // Keys in another order: the same digest.
    w.write(event(2, { arguments: sent, digestedArguments: { arguments: sent.arguments, command: 'mysql' } }));
    // Arguments no tool took (refused by its schema: nothing ran), and lines of other kinds: none.
    w.write(event(3, { arguments: sent }));
    w.write(event(4, { event_type: 'process_exit', arguments: { processId: 'p1', command: 'sleep' }, digestedArguments: { processId: 'p1' } }));
    w.write(event(5, { event_type: 'auth_failure', arguments: null, tool_name: null }));
    w.flush();
    const got = lines(file);
    const hmac = createHmac('sha256', KEY).update(`{"arguments":["-p${SERVER_KEY}","-e","drop database x"],"command":"mysql"}`).digest('hex');
    expect(got.map((l) => l.arguments_hmac ?? null)).toEqual([hmac, hmac, null, null, null]);
    // What the digest was taken of is never written itself.
    expect(got.some((l) => 'digestedArguments' in l)).toBe(false);
    // Between arguments and result; the arguments themselves still masked.
    expect(Object.keys(got[0]!)).toEqual([...FIELDS.slice(0, 9), 'arguments_hmac', ...FIELDS.slice(9), 'file_start', 'prev_hash', 'hash']);
    expect((got[0]!.arguments as { arguments: string[] }).arguments[0]).toBe('-p[REDACTED]');
    expect(readFileSync(file, 'utf8')).not.toContain(SERVER_KEY);
    expect(verifyFiles([file]).ok).toBe(true);
    // The digest is sealed like every field: changed, the line no longer verifies.
    writeFileSync(file, readFileSync(file, 'utf8').replace(hmac, 'f'.repeat(64)));
    const verdict = verifyFiles([file]);
    expect(verdict.ok ? 'ok' : verdict.problem.kind).toBe('edited');
    w.close();
  });

  test('the digest takes arguments nested deeper than a recursive writer can go: the line is written', () => {
    using dir = tempDir();
    const file = join(dir.path, 'audit.jsonl');
    const KEY = 'an-operator-key-of-32-characters-or-more';
    const w = new AuditWriter({ file, redactor: new Redactor(), chain: true, argumentsDigest: new ArgumentsDigest(KEY) });
    const deep = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    w.write(event(1, { digestedArguments: JSON.parse(`{"command":"echo","extra":${deep}}`) }));
    w.flush();
    const [l] = lines(file);
    expect(l!.arguments_hmac).toBe(createHmac('sha256', KEY).update(`{"command":"echo","extra":${deep}}`).digest('hex'));
    expect(w.linesWritten).toBe(1);
    w.close();
  });

  test('past the native path (deeper than 64 levels, integer-like keys) canonical JSON is the same text: sorted keys, JSON.stringify for the rest', () => {
    // A plain recursive reference, enough for these depths.
    const reference = (x: unknown): string => {
      if (x !== null && typeof x === 'object' && typeof (x as { toJSON?: unknown }).toJSON === 'function') return reference((x as { toJSON: () => unknown }).toJSON());
      if (Array.isArray(x)) return `[${x.map((y) => (y === undefined ? 'null' : reference(y))).join(',')}]`;
      if (x !== null && typeof x === 'object') {
        const r = x as Record<string, unknown>;
        return `{${Object.keys(r)
          .filter((k) => r[k] !== undefined)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${reference(r[k])}`)
          .join(',')}}`;
      }
      return typeof x === 'number' && !Number.isFinite(x) ? 'null' : JSON.stringify(x);
    };
    const values: unknown[] = [
      null,
      0,
      -0,
      1.5e300,
      'ä\u2028"\\',
      [],
      {},
      [1, [2, [3, {}]], 'x', undefined],
      { b: 1, a: [{ d: null, c: true }], '10': 'n', '2': 'm', __proto__x: 1, 'é': 'e', '': '', gone: undefined },
      JSON.parse('{"__proto__":{"x":1},"y":[null,false]}'),
      { at: new Date(0) },
    ];
    for (const value of values) {
      let deep: unknown = value;
      for (let i = 0; i < 70; i++) deep = i % 2 ? [deep] : { z: deep };
      expect(canonicalJson(deep)).toBe(reference(deep));
      expect(canonicalJson(value)).toBe(reference(value));
    }
  });

  test('without an arguments key no line has a digest of its arguments', () => {
    using dir = tempDir();
    const file = join(dir.path, 'audit.jsonl');
    const w = new AuditWriter({ file, redactor: new Redactor() });
    w.write(event(1, { digestedArguments: { command: 'echo' } }));
    w.flush();
    expect(Object.keys(lines(file)[0]!)).toEqual(FIELDS);
    w.close();
  });

  test('a key the keys file holds only as its digest is masked wherever it appears, after a reload too', () => {
    using dir = tempDir();
    const keysFile = join(dir.path, 'keys.json');
    // Keys of words: a random one is masked by its shape before any digest is looked up.
    const first = 'the-first-key-of-the-reload-test-0001';
    const later = 'the-later-key-of-the-reload-test-0002';
    const digests = (keys: string[]) => JSON.stringify({ clients: keys.map((k, i) => ({ client_id: `c${i}`, api_key_sha256: sha256Hex(k) })) });
    writeFileSync(keysFile, digests([first]));
    const keyStore = new KeyStore({ file: keysFile });
    const file = join(dir.path, 'audit.jsonl');
    const w = new AuditWriter({ file, redactor: new Redactor(keyStore.knownSecrets(), { keyStore }) });
    w.write(event(1, { correlation_id: first, arguments: { command: 'curl', arguments: [`https://x.example/?key=${first}`, first, later] } }));
    w.flush();
    writeFileSync(keysFile, digests([first, later]));
    expect(keyStore.reload()).toEqual({ ok: true, clients: 2 });
    w.write(event(2, { arguments: { command: 'echo', arguments: [`${later}.`] } }));
    w.close();
    expect(lines(file).map((l) => [l.correlation_id, l.arguments])).toEqual([
      ['[REDACTED]', { command: 'curl', arguments: ['https://x.example/?key=[REDACTED]', '[REDACTED]', later] }],
      ['corr-2', { command: 'echo', arguments: ['[REDACTED].'] }],
    ]);
  });

  test("keys_reloaded keeps its key count: a count is not a secret", () => {
    using dir = tempDir();
    const file = join(dir.path, 'audit.jsonl');
    const w = new AuditWriter({ file, redactor: new Redactor() });
    w.write(event(1, { event_type: 'keys_reloaded', correlation_id: null, tool_name: null, arguments: null, result: { keys: 3 } }));
    w.close();
    expect(lines(file)[0]!.result).toEqual({ keys: 3 });
  });

  test('2 million integers as arguments make a line under 64 KiB: the first items and a count', () => {
    using dir = tempDir();
    const file = join(dir.path, 'audit.jsonl');
    const w = new AuditWriter({ file, redactor: new Redactor(), chain: true });
    w.write(event(1, { arguments: { command: 'echo', arguments: Array.from({ length: 2_000_000 }, (_, i) => i) } }));
    w.close();
    const text = readFileSync(file, 'utf8');
    expect([Buffer.byteLength(text) < MAX_LINE_BYTES, lines(file)[0]!.arguments]).toEqual([
      true,
      { command: 'echo', arguments: [...Array.from({ length: MAX_ENTRIES }, (_, i) => i), `[${2_000_000 - MAX_ENTRIES} more items]`] },
    ]);
  });

  test('no value over 4 KiB and no line over 64 KiB, whatever the fields hold', () => {
    using dir = tempDir();
    const file = join(dir.path, 'audit.jsonl');
    const w = new AuditWriter({ file, redactor: new Redactor(), chain: true });
    const big = 'x '.repeat(500_000);
    // Control characters cost six bytes each in JSON: the line is rebuilt smaller until it fits.
    const escaped = '\u0001'.repeat(MAX_STRING);
    w.write(event(1, { correlation_id: big, user: big, tool_name: big, error: big, arguments: { command: big, arguments: Array(500).fill(big), [big]: 1 }, result: { out: big } }));
    w.write(event(2, { arguments: { command: 'printf', arguments: Array(100).fill(escaped) } }));
    w.close();
    const rows = readFileSync(file, 'utf8').split('\n').slice(0, -1);
    const strings = (v: unknown): string[] => (typeof v === 'string' ? [v] : v !== null && typeof v === 'object' ? Object.entries(v).flatMap(([k, x]) => [k, ...strings(x)]) : []);
    const longest = rows.map((r) => Math.max(...strings(JSON.parse(r)).map((x) => x.length)));
    const cut = `…[truncated ${1_000_000 - MAX_STRING} chars]`;
    expect({
      within: rows.map((r) => Buffer.byteLength(r) + 1 <= MAX_LINE_BYTES),
      longest: longest.map((n) => n <= MAX_STRING + cut.length),
      correlationId: JSON.parse(rows[0]!).correlation_id,
      lastArgument: JSON.parse(rows[0]!).arguments.arguments.at(-1),
      verified: verifyFiles([file]).ok,
    }).toEqual({
      within: [true, true],
      longest: [true, true],
      correlationId: `${'x '.repeat(MAX_STRING / 2)}${cut}`,
      lastArgument: expect.stringMatching(/^…\[truncated \d+ chars\]$|^\[\d+ more items\]$/),
      verified: true,
    });
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

  test.skipIf(!existsSync('/dev/full'))('a device as the log (/dev/full) is refused when opened, naming what it is; full disks are the tmpfs test below', () => {
    expect(() => new AuditWriter({ file: '/dev/full', redactor: new Redactor() })).toThrow('a device, not a regular file');
  });

  // A real full filesystem (a small tmpfs, so root) rather than /dev/full: space comes back, and a write can be cut short.
  const canMount = process.getuid?.() === 0 && process.platform === 'linux';
  test.skipIf(!canMount)('a disk that fills, frees and fills again: each outage reported once, its end with the lines lost, no line glued to a torn one', async () => {
    using dir = tempDir();
    const mnt = join(dir.path, 'mnt');
    mkdirSync(mnt);
    if (Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]).exitCode !== 0) return; // no mount here (a container without CAP_SYS_ADMIN)
    try {
      const filler = join(mnt, 'filler');
      writeFileSync(filler, Buffer.alloc(48 * 1024));
      const file = join(mnt, 'audit.jsonl');
      const errors: string[] = [];
      const recovered: number[] = [];
      const w = new AuditWriter({ file, redactor: new Redactor(), chain: true, onError: (e) => errors.push((e as NodeJS.ErrnoException).code ?? e.message), onRecover: (n) => recovered.push(n) });
      const big = (i: number) => event(i, { arguments: { command: 'echo', arguments: ['x'.repeat(700), String(i)] } });
      for (let i = 0; i < 200 && w.linesDropped < 3; i++) {
        w.write(big(i));
        await tick();
      }
      expect([errors, recovered]).toEqual([['ENOSPC'], []]);
      const droppedInFirst = w.linesDropped;
      rmSync(filler);
      w.write(event(1001));
      await tick();
      w.write(event(1002));
      await tick();
      expect([errors, recovered]).toEqual([['ENOSPC'], [droppedInFirst]]);
      writeFileSync(filler, Buffer.alloc(40 * 1024));
      for (let i = 0; i < 200 && w.linesDropped === droppedInFirst; i++) {
        w.write(big(2000 + i));
        await tick();
      }
      expect(errors).toEqual(['ENOSPC', 'ENOSPC']);
      w.close();
      // The lines written after the first outage are whole JSON lines of their own, whatever was cut before them.
      const texts = readFileSync(file, 'utf8').split('\n');
      const ids = texts.flatMap((t) => {
        try {
          return [(JSON.parse(t) as { correlation_id: string }).correlation_id];
        } catch {
          return [];
        }
      });
      expect(ids).toContain('corr-1001');
      expect(ids).toContain('corr-1002');
      // What a cut write left is taken back: the file holds whole lines only, and verify names the lost lines (a gap in
      // the chain), not a torn line it can only call edited or inserted.
      expect(texts.at(-1)).toBe('');
      expect(texts.slice(0, -1).length).toBe(ids.length);
      const verdict = verifyFiles([file]);
      expect(verdict.ok ? 'ok' : verdict.problem.kind).toBe('deleted');
    } finally {
      Bun.spawnSync(['umount', mnt]);
    }
  });

  test('an unwritable path fails at construction', () => {
    using dir = tempDir();
    // A directory that is a file: unwritable for root too, which ignores a directory's mode.
    const notADirectory = join(dir.path, 'plain-file');
    writeFileSync(notADirectory, '');
    expect(() => new AuditWriter({ file: join(notADirectory, 'a.jsonl'), redactor: new Redactor() })).toThrow();
    if (process.getuid?.() === 0) return;
    chmodSync(dir.path, 0o500);
    try {
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
