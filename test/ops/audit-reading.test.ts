/**
 * Reading audit logs too large to hold: the chunked line reader gives what
 * splitting the whole file gives (lines across chunk edges, a UTF-8 character
 * cut by a chunk edge, "\r" kept, empty lines, a torn last line) and drops the
 * text of a line past its cap while the lines after it stay intact; the
 * compact hash → place table agrees with a Map; `audit verify` and `audit
 * query` over a file holding such a line.
 */
import { describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENESIS_HASH, sealRecord } from '../../src/audit/chain.ts';
import { HashPlaces } from '../../src/audit/hash-places.ts';
import { MAX_KEPT_LINE_BYTES, readLines } from '../../src/audit/lines.ts';
import { verifyFiles } from '../../src/audit/verify.ts';
import { MAIN, tempDir } from './helpers.ts';

/** What reading the whole file and splitting it at "\n" gives. */
function splitWhole(text: string) {
  if (text === '') return [];
  const ends = text.endsWith('\n');
  const rows = (ends ? text.slice(0, -1) : text).split('\n');
  return rows.map((row, i) => ({ text: row, line: i + 1, torn: !ends && i === rows.length - 1, bytes: Buffer.byteLength(row), utf8: true }));
}

function withFile<T>(content: string | Buffer, fn: (file: string, dir: string) => T): T {
  const dir = tempDir('hide-audit-read-');
  try {
    const file = join(dir, 'audit.jsonl');
    writeFileSync(file, content);
    return fn(file, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `n` chained records, as the writer would seal them. */
function chained(n: number, fields: (i: number) => Record<string, unknown> = (i) => ({ event_type: 'tool_call', correlation_id: `c-${i}` })): string[] {
  let prev = GENESIS_HASH;
  return Array.from({ length: n }, (_, i) => {
    const sealed = sealRecord(fields(i), prev, i === 0);
    prev = sealed.hash;
    return sealed.line;
  });
}

describe('audit line reader', () => {
  const texts = [
    '',
    '\n',
    'a',
    'a\n',
    'a\nb',
    'a\r\nb\r\n',
    '\n\nx\n\n',
    'äöü €𝄞 line one\nzwei 𝄞𝄞𝄞\n',
    `${'x'.repeat(50)}\n${'y'.repeat(3)}\n${'z'.repeat(17)}`,
  ];
  for (const chunk of [1, 2, 3, 7, 64, 1024 * 1024]) {
    test(`gives the same lines as splitting the whole file, with ${chunk}-byte reads`, () => {
      for (const text of texts) {
        withFile(text, (file) => expect([...readLines(file, chunk)]).toEqual(splitWhole(text)));
      }
    });
  }

  test('a line past the cap keeps its count but not its text; the lines around it are whole', () => {
    const huge = 'h'.repeat(MAX_KEPT_LINE_BYTES + 10);
    withFile(`first\n${huge}\nlast\n${huge}`, (file) => {
      expect([...readLines(file)]).toEqual([
        { text: 'first', line: 1, torn: false, bytes: 5, utf8: true },
        { text: null, line: 2, torn: false, bytes: huge.length, utf8: false },
        { text: 'last', line: 3, torn: false, bytes: 4, utf8: true },
        { text: null, line: 4, torn: true, bytes: huge.length, utf8: false },
      ]);
    });
  });

  test('a line exactly at the cap is kept', () => {
    const full = 'f'.repeat(MAX_KEPT_LINE_BYTES);
    withFile(`${full}\n`, (file) => {
      const [only] = [...readLines(file, 1000 * 1000)];
      expect([only?.text?.length, only?.bytes]).toEqual([MAX_KEPT_LINE_BYTES, MAX_KEPT_LINE_BYTES]);
    });
  });

  test('the file is closed when a walk stops early', () => {
    withFile('a\nb\nc\n', (file) => {
      const open = () => require('node:fs').readdirSync('/proc/self/fd').length;
      const before = open();
      for (let i = 0; i < 50; i++) {
        for (const l of readLines(file)) if (l.line === 2) break;
      }
      expect(open()).toBe(before);
    });
  });
});

describe('hash → place table', () => {
  const hashes = Array.from({ length: 5000 }, (_, i) => createHash('sha256').update(`line ${i}`).digest('hex'));

  test('agrees with a Map through growth from the smallest table', () => {
    const table = new HashPlaces(1);
    const map = new Map<string, number>();
    hashes.forEach((h, i) => {
      table.set(h, i + 1);
      map.set(h, i + 1);
    });
    table.set(hashes[7]!, 99_999);
    map.set(hashes[7]!, 99_999);
    expect(table.size).toBe(map.size);
    for (const h of hashes) expect(table.get(h)).toBe(map.get(h)!);
    const absent = createHash('sha256').update('not stored').digest('hex');
    expect([table.has(absent), table.get(absent)]).toEqual([false, undefined]);
  });

  test('anything but a lowercase hex SHA-256 is not found, and cannot be stored', () => {
    const table = new HashPlaces();
    table.set(hashes[0]!, 1);
    for (const bad of ['', 'zz', hashes[0]!.toUpperCase(), `${hashes[0]!}0`, hashes[0]!.slice(1), GENESIS_HASH.replace(/0/g, 'g')]) {
      expect(table.get(bad)).toBeUndefined();
      expect(() => table.set(bad, 2)).toThrow(RangeError);
    }
    expect(() => table.set(hashes[1]!, 0)).toThrow(RangeError);
  });

  test('keys differing only past the first 128 bits share a slot (by design: finding such a pair takes ~2^64 tries)', () => {
    const table = new HashPlaces();
    const a = `${'ab'.repeat(16)}${'0'.repeat(32)}`;
    const b = `${'ab'.repeat(16)}${'f'.repeat(32)}`;
    table.set(a, 5);
    expect(table.get(b)).toBe(5);
  });
});

describe('audit CLI over lines it cannot hold', () => {
  test('verify names a line past the cap by file:line; query skips it and prints the rest', () => {
    const records = chained(3);
    const huge = 'h'.repeat(MAX_KEPT_LINE_BYTES + 1);
    // In place of a record: the chain expects a line there.
    withFile(`${records[0]}\n${huge}\n${records[2]}\n`, (file) => {
      expect(verifyFiles([file])).toEqual({ ok: false, problem: { kind: 'malformed', file, line: 2, message: expect.stringContaining('no record the audit writer makes') } } as never);
    });
    // Between two records: the chain skips it.
    withFile(`${records[0]}\n${huge}\n${records[1]}\n${records[2]}\n`, (file, dir) => {
      expect(verifyFiles([file])).toEqual({ ok: false, problem: { kind: 'inserted', file, line: 2, message: 'inserted line: the chain skips it' } } as never);
      const q = Bun.spawnSync(['bun', 'run', MAIN, 'audit', 'query', '--file', file], { cwd: dir, env: { PATH: process.env.PATH!, HIDE_LOG_LEVEL: 'silent' } });
      expect([q.exitCode, q.stdout.toString()]).toEqual([0, `${records.join('\n')}\n`]);
    });
  });

  test('query stops quietly, exit 0, when its reader goes away (| head)', async () => {
    const records = chained(20_000, (i) => ({ event_type: 'tool_call', correlation_id: `c-${i}`, note: 'n'.repeat(200) }));
    const dir = tempDir('hide-audit-read-');
    try {
      const file = join(dir, 'audit.jsonl');
      writeFileSync(file, `${records.join('\n')}\n`);
      const q = Bun.spawn(['bun', 'run', MAIN, 'audit', 'query', '--file', file], { cwd: dir, env: { PATH: process.env.PATH!, HIDE_LOG_LEVEL: 'silent' }, stdout: 'pipe', stderr: 'pipe' });
      const reader = (q.stdout as ReadableStream<Uint8Array>).getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value).startsWith(records[0]!)).toBe(true);
      await reader.cancel();
      expect([await q.exited, await new Response(q.stderr as ReadableStream<Uint8Array>).text()]).toEqual([0, '']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('query prints a large answer whole, in order, through a pipe', () => {
    const records = chained(3000, (i) => ({ event_type: 'tool_call', correlation_id: `c-${i}`, note: 'n'.repeat(400) }));
    withFile(`${records.join('\n')}\n`, (file, dir) => {
      const q = Bun.spawnSync(['bun', 'run', MAIN, 'audit', 'query', '--file', file, '--event-type', 'tool_call'], { cwd: dir, env: { PATH: process.env.PATH!, HIDE_LOG_LEVEL: 'silent' } });
      expect(q.exitCode).toBe(0);
      expect(q.stdout.toString()).toBe(`${records.join('\n')}\n`);
    });
  });
});

test('readLines: a line that is not UTF-8 says so; one whose characters span reads is UTF-8', () => {
  const dir = tempDir('hide-audit-read-');
  try {
    const file = join(dir, 'log');
    writeFileSync(file, Buffer.concat([Buffer.from('ok 𝄞\nbad '), Buffer.from([0xf0, 0x9f, 0x98]), Buffer.from('\n')]));
    for (const chunk of [1, 2, 5, 1024]) {
      expect([...readLines(file, chunk)].map(({ text, utf8 }) => ({ text, utf8 }))).toEqual([
        { text: 'ok 𝄞', utf8: true },
        { text: 'bad \ufffd', utf8: false },
      ]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
