/**
 * The audit hash chain, its anchors and rotation: an untouched log verifies
 * across a size rotation and a restart, every file marked at its start and
 * checkpointed; each kind of tampering (head cut, tail cut, emptied, edited,
 * inserted, deleted, a gap across a rotation, a replaced file) is named with
 * file:line, by the CLI too (exit 1); a restart reports lines cut while the
 * server was down; SIGHUP reopens the file after an external move and the
 * chain carries on; `audit query` filters.
 */
import { describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson, GENESIS_HASH, sealRecord } from '../../src/audit/chain.ts';
import { type ProblemKind, verifyFiles } from '../../src/audit/verify.ts';
import { rotatedNames } from '../../src/audit/rotation.ts';
import { AuditWriter } from '../../src/audit/writer.ts';
import type { AuditEvent } from '../../src/audit/event.ts';
import { Redactor } from '../../src/audit/redact.ts';
import { auditLines, exec, MAIN, spawnServer, tempDir, waitFor } from './helpers.ts';

function event(i: number): AuditEvent {
  return {
    event_type: 'tool_call',
    correlation_id: `corr-${i}`,
    client_id: i % 2 ? 'alice' : 'bob',
    client_ip: '127.0.0.1',
    api_key_hash: null,
    user: null,
    tool_name: 'shell_execute',
    arguments: { command: 'echo', arguments: [String(i)] },
    result: { exitCode: 0, durationMs: i },
    error: null,
  };
}

/** 30 lines through a writer that rotates every ~3 KB, then 10 more after a "restart". */
function writeLog(dir: string): string[] {
  const file = join(dir, 'audit.jsonl');
  const opts = { file, redactor: new Redactor(), chain: true, maxBytes: 3000, keep: 20 };
  const w1 = new AuditWriter(opts);
  for (let i = 0; i < 30; i++) w1.write(event(i));
  w1.close();
  expect(w1.rotations).toBeGreaterThan(0);
  const w2 = new AuditWriter(opts);
  for (let i = 30; i < 40; i++) w2.write(event(i));
  w2.close();
  return [...rotatedNames(file, 20).reverse().filter((f) => existsSync(f)), file];
}

function lineCount(f: string): number {
  return readFileSync(f, 'utf8').split('\n').length - 1;
}

/** Removes `count` whole lines starting at 0-based row `from`. */
function cutLines(f: string, from: number, count: number): void {
  const rows = readFileSync(f, 'utf8').split('\n');
  rows.splice(from, count);
  writeFileSync(f, rows.join('\n'));
}

/** What `verify` says about each file of an untouched log written by writeLog. */
function intactNotes(files: string[]): string[] {
  return files.map((f, i) => {
    const start = i === 0 ? 'starts the chain (genesis)' : `continues ${files[i - 1]} across a rotation`;
    return `${f}: ${lineCount(f)} line(s), ${start}; checkpoint matches`;
  });
}

function editLine(f: string, n: number, edit: (line: string) => string | null): void {
  const rows = readFileSync(f, 'utf8').split('\n');
  const out = edit(rows[n - 1]!);
  if (out === null) rows.splice(n - 1, 1);
  else rows[n - 1] = out;
  writeFileSync(f, rows.join('\n'));
}


/** A temporary directory's audit.jsonl, the errors its writers report and a way to open one; the directory removed after. */
function withLog(body: (log: { file: string; errors: string[]; open: () => AuditWriter }) => void): void {
  const dir = tempDir();
  try {
    const file = join(dir, 'audit.jsonl');
    const errors: string[] = [];
    body({ file, errors, open: () => new AuditWriter({ file, redactor: new Redactor(), chain: true, onError: (e) => errors.push(e.message) }) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A writer opened on the log after three lines were written and the file then emptied behind its checkpoint. */
function openedOnEmptied(file: string, open: () => AuditWriter): AuditWriter {
  const w = open();
  for (let i = 0; i < 3; i++) w.write(event(i));
  w.close();
  truncateSync(file, 0);
  return open();
}

/** The event types of a log's lines, in order. */
const eventTypes = (file: string): string[] => readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l).event_type);

describe('audit hash chain', () => {
  test('canonical JSON sorts keys and drops what JSON.stringify drops', () => {
    expect(canonicalJson({ b: 1, a: [undefined, { d: 'x', c: null }], u: undefined })).toBe('{"a":[null,{"c":null,"d":"x"}],"b":1}');
  });

  test('the stringify fast paths give the same text as sorting by hand', () => {
    // The reference: the plain recursive definition.
    const reference = (v: unknown): string => {
      if (v === null || typeof v !== 'object') return typeof v === 'number' && !Number.isFinite(v) ? 'null' : (JSON.stringify(v) ?? 'null');
      const j = (v as { toJSON?: () => unknown }).toJSON;
      if (typeof j === 'function') return reference(j.call(v));
      if (Array.isArray(v)) return `[${v.map((x) => (x === undefined || typeof x === 'function' ? 'null' : reference(x))).join(',')}]`;
      const keys = Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined && typeof (v as Record<string, unknown>)[k] !== 'function');
      return `{${keys.map((k) => `${JSON.stringify(k)}:${reference((v as Record<string, unknown>)[k])}`).join(',')}}`;
    };
    const proto = JSON.parse('{"__proto__":{"x":1},"a":2}');
    const cases: unknown[] = [
      { z: 1, a: { y: [1, 2, { q: 'r', b: null }], c: 'd' }, m: true },
      { 10: 'ten', 9: 'nine', a: 1, b: { 2: 'x', 1: 'y' } },
      proto,
      { b: proto, a: 1 },
      { b: Number.NaN, a: Number.POSITIVE_INFINITY, c: [Number.NEGATIVE_INFINITY] },
      { t: new Date(0), a: { toJSON: () => ({ z: 1, y: 2 }) } },
      { b: undefined, a: () => 1, c: [undefined] },
      { timestamp: 't', event_type: 'tool_call', arguments: { command: 'true', arguments: ['a'] }, result: { exitCode: 0, b: 1 }, prev_hash: '0' },
      Object.assign(Object.create(null), { b: 1, a: 2 }),
      [{ b: 1, a: 2 }, 'x', 3],
      'plain',
    ];
    for (const c of cases) expect(canonicalJson(c)).toBe(reference(c));
  });

  test('each hash is the documented sha256(prev_hash + canonical JSON of the line without hash), recomputed without the product\'s hashing', () => {
    // What a verifier in another language does with a parsed line: keys sorted at every level, then SHA-256.
    const sorted = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(sorted) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])])) : v;
    const dir = tempDir();
    try {
      let prev = GENESIS_HASH;
      for (const f of writeLog(dir)) {
        for (const line of readFileSync(f, 'utf8').split('\n').slice(0, -1)) {
          const { hash, ...rest } = JSON.parse(line);
          expect(rest.prev_hash).toBe(prev);
          expect(hash).toBe(createHash('sha256').update(rest.prev_hash).update(JSON.stringify(sorted(rest))).digest('hex'));
          prev = hash;
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an untouched log verifies across a rotation and a restart, each file marked at its start and checkpointed', () => {
    const dir = tempDir();
    try {
      const files = writeLog(dir);
      expect(files.length).toBeGreaterThan(2);
      expect(verifyFiles(files)).toEqual({ ok: true, lines: 40, files: files.length, notes: intactNotes(files) });
      for (const f of files.slice(0, -1)) expect(Bun.file(f).size).toBeLessThanOrEqual(3000);
      const first = JSON.parse(readFileSync(files[0]!, 'utf8').split('\n')[0]!);
      expect(first.prev_hash).toBe(GENESIS_HASH);
      // Every line ends with the chain fields, after the documented ones; a file's first line says how it starts.
      expect(Object.keys(first).slice(-3)).toEqual(['file_start', 'prev_hash', 'hash']);
      // Each file, rotated or live, has its checkpoint beside it, describing it exactly.
      const described = files.map((f) => JSON.parse(readFileSync(`${f}.head`, 'utf8')));
      const actual = files.map((f) => {
        const rows = readFileSync(f, 'utf8').split('\n').slice(0, -1).map((l) => JSON.parse(l));
        return { lines: rows.length, first_hash: rows[0].hash, last_hash: rows.at(-1).hash, bytes: Bun.file(f).size };
      });
      expect(described).toEqual(actual);
      expect(files.map((f) => JSON.parse(readFileSync(f, 'utf8').split('\n')[0]!).file_start)).toEqual(['genesis', ...files.slice(1).map(() => 'continues')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Each tampering, named as `hide audit verify` names it.
  const cases: Array<[string, (files: string[]) => { files?: string[]; file: string; line: number }, ProblemKind]> = [
    [
      'head cut: the first lines of the oldest file removed',
      (files) => {
        cutLines(files[0]!, 0, 2);
        return { file: files[0]!, line: 1 };
      },
      'head-cut',
    ],
    [
      'head cut: the first line of a later file removed',
      (files) => {
        cutLines(files[2]!, 0, 1);
        return { file: files[2]!, line: 1 };
      },
      'head-cut',
    ],
    [
      'tail cut: the last lines of the live file removed',
      (files) => {
        const f = files.at(-1)!;
        cutLines(f, lineCount(f) - 2, 2);
        return { file: f, line: lineCount(f) + 1 };
      },
      'tail-cut',
    ],
    [
      'tail cut: the last line of a rotated file removed',
      (files) => {
        cutLines(files[1]!, lineCount(files[1]!) - 1, 1);
        return { file: files[1]!, line: lineCount(files[1]!) + 1 };
      },
      'tail-cut',
    ],
    [
      // The chain alone cannot show this: the forged lines chain on from the last line kept. Only the checkpoint does.
      'tail cut and rewritten: the last 2 lines of the live file replaced by 3 forged ones chained on',
      (files) => {
        const f = files.at(-1)!;
        const recorded = lineCount(f);
        cutLines(f, recorded - 2, 2);
        let prev = JSON.parse(readFileSync(f, 'utf8').split('\n').at(-2)!);
        const { hash: _h, prev_hash: _p, file_start: _s, ...fields } = prev;
        const forged: string[] = [];
        for (let i = 0; i < 3; i++) {
          const sealed = sealRecord({ ...fields, correlation_id: `forged-tail-${i}` }, prev.hash);
          forged.push(sealed.line);
          prev = { hash: sealed.hash };
        }
        writeFileSync(f, `${readFileSync(f, 'utf8')}${forged.join('\n')}\n`);
        return { file: f, line: recorded };
      },
      'tail-cut',
    ],
    [
      'tail cut: the live file cut mid-line',
      (files) => {
        const f = files.at(-1)!;
        truncateSync(f, Bun.file(f).size - 15);
        return { file: f, line: lineCount(f) + 1 };
      },
      'tail-cut',
    ],
    [
      'empty: the live file emptied',
      (files) => {
        truncateSync(files.at(-1)!, 0);
        return { file: files.at(-1)!, line: 1 };
      },
      'emptied',
    ],
    [
      'edited: a field changed',
      (files) => {
        editLine(files[1]!, 2, (l) => l.replace('"exitCode":0', '"exitCode":1'));
        return { file: files[1]!, line: 2 };
      },
      'edited',
    ],
    [
      'inserted: a line with a valid hash chained to its predecessor',
      (files) => {
        const f = files[1]!;
        const prev = JSON.parse(readFileSync(f, 'utf8').split('\n')[0]!);
        const { hash: _h, prev_hash: _p, file_start: _s, ...fields } = prev;
        const forged = sealRecord({ ...fields, correlation_id: 'forged' }, prev.hash).line;
        editLine(f, 2, (l) => `${forged}\n${l}`);
        return { file: f, line: 2 };
      },
      'inserted',
    ],
    [
      'inserted: a copy of another line',
      (files) => {
        const f = files[1]!;
        const copy = readFileSync(files[0]!, 'utf8').split('\n')[1]!;
        editLine(f, 2, (l) => `${copy}\n${l}`);
        return { file: f, line: 2 };
      },
      'inserted',
    ],
    [
      'inserted: forged lines at the start of a rotated file, chained to the end of the file before it',
      (files) => {
        const before = readFileSync(files[1]!, 'utf8').split('\n').at(-2)!;
        const last = JSON.parse(before);
        const { hash: _h, prev_hash: _p, file_start: _s, ...fields } = last;
        const one = sealRecord({ ...fields, correlation_id: 'forged-1' }, last.hash);
        const two = sealRecord({ ...fields, correlation_id: 'forged-2' }, one.hash);
        editLine(files[2]!, 1, (l) => `${one.line}\n${two.line}\n${l}`);
        return { file: files[2]!, line: 1 };
      },
      'inserted',
    ],
    [
      'deleted: a line in the middle removed',
      (files) => {
        editLine(files[1]!, 2, () => null);
        return { file: files[1]!, line: 2 };
      },
      'deleted',
    ],
    [
      'across a rotation: a rotated file missing',
      (files) => {
        rmSync(files[2]!);
        return { files: files.filter((_, i) => i !== 2), file: files[3]!, line: 1 };
      },
      'rotation-gap',
    ],
    [
      'across a rotation: a rotated file cut at its end, its checkpoint removed',
      (files) => {
        cutLines(files[1]!, lineCount(files[1]!) - 1, 1);
        rmSync(`${files[1]!}.head`);
        return { file: files[2]!, line: 1 };
      },
      'rotation-gap',
    ],
    [
      'replaced: the live file rewritten as a new chain, its checkpoint left',
      (files) => {
        const f = files.at(-1)!;
        const rows = readFileSync(f, 'utf8').split('\n').slice(0, -1);
        let prev = GENESIS_HASH;
        const forged = rows.map((l, i) => {
          const { hash: _h, prev_hash: _p, file_start: _s, ...fields } = JSON.parse(l);
          const sealed = sealRecord(fields, prev, i === 0);
          prev = sealed.hash;
          return sealed.line;
        });
        writeFileSync(f, `${forged.join('\n')}\n`);
        return { files: [f], file: f, line: 1 };
      },
      'replaced',
    ],
  ];

  for (const [name, tamper, kind] of cases) {
    test(`verify names ${name}`, () => {
      const dir = tempDir();
      try {
        const all = writeLog(dir);
        const where = tamper(all);
        const files = where.files ?? all;
        expect(verifyFiles(files)).toEqual({ ok: false, problem: { kind, file: where.file, line: where.line, message: expect.any(String) } } as never);
        // The CLI says the same and exits 1.
        const p = Bun.spawnSync(['bun', 'run', MAIN, 'audit', 'verify', ...files], { cwd: dir });
        expect([p.exitCode, p.stdout.toString().split(': ').slice(0, 2)]).toEqual([1, [`${where.file}:${where.line}`, kind]]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  /** Replaces the last `count` lines with `count + 1` longer ones, chained as a writer would: what the public hash rule lets anyone write. */
  function forgeTail(f: string, count: number): void {
    const rows = readFileSync(f, 'utf8').trimEnd().split('\n');
    const kept = rows.slice(0, -count);
    let prev = JSON.parse(kept.at(-1)!).hash as string;
    const forged = Array.from({ length: count + 1 }, (_, i) => {
      const sealed = sealRecord({ ...JSON.parse(rows.at(-1)!), correlation_id: `forged-${i}-${'x'.repeat(40)}`, hash: undefined, prev_hash: undefined }, prev, false);
      prev = sealed.hash;
      return sealed.line;
    });
    writeFileSync(f, `${[...kept, ...forged].join('\n')}\n`);
  }

  // Whoever can write the log but not its checkpoint: the server must not take their change into the checkpoint and
  // chain on from it, which would leave `verify` nothing to find. It says so, and chains on from the last line it recorded.
  /** Replaces the last line with one of the same length, sealed after the line before it: the size stays. */
  function resealLast(f: string): void {
    const rows = readFileSync(f, 'utf8').trimEnd().split('\n');
    const { hash: _h, prev_hash: _p, ...rest } = JSON.parse(rows.at(-1)!);
    const forged = sealRecord({ ...rest, correlation_id: `${rest.correlation_id.slice(0, -1)}X` }, JSON.parse(rows.at(-2)!).hash, false).line;
    expect(Buffer.byteLength(forged)).toBe(Buffer.byteLength(rows.at(-1)!));
    writeFileSync(f, `${[...rows.slice(0, -1), forged].join('\n')}\n`);
  }

  /** Appends a line chained on from the last one by its prev_hash, with a hash that is not its own. */
  function appendMisSealed(f: string): void {
    const rows = readFileSync(f, 'utf8').trimEnd().split('\n');
    const sealed = JSON.parse(sealRecord({ ...JSON.parse(rows.at(-1)!), hash: undefined, prev_hash: undefined, correlation_id: 'added' }, JSON.parse(rows.at(-1)!).hash, false).line);
    writeFileSync(f, `${[...rows, JSON.stringify({ ...sealed, hash: 'f'.repeat(64) })].join('\n')}\n`);
  }

  // An emptied or deleted file looks like one a rotation started, and verify, given it alone, said its first line
  // continues a file not given and passed it: the writer's next line records the loss in the chain, and verify names it.
  const tampered: [name: string, tamper: (file: string) => void, whileRunning: boolean][] = [
    ['lines cut while the server was down', (f) => cutLines(f, 3, 2), false],
    ['the last line rewritten to the same size while the server was down', resealLast, false],
    ['a line appended after the recorded end, chained by its prev_hash but not hashing as sealed', appendMisSealed, false],
    ['a longer, correctly chained tail forged while the server was down', (f) => forgeTail(f, 2), false],
    ['lines cut in place while the server runs', (f) => cutLines(f, 3, 2), true],
    ['a tail forged in place while the server runs', (f) => forgeTail(f, 2), true],
    ['the file emptied while the server runs', (f) => truncateSync(f, 0), true],
    ['the file deleted while the server runs', (f) => rmSync(f), true],
    ['the file emptied while the server was down', (f) => truncateSync(f, 0), false],
    // The checkpoint spoiled in place (one byte written over it) or removed with the cut: the server checks the file
    // against what it recorded itself, not against a checkpoint it can no longer read.
    ['lines cut in place, the checkpoint overwritten, while the server runs', (f) => (cutLines(f, 3, 2), writeFileSync(`${f}.head`, 'x')), true],
    ['lines cut in place, the checkpoint removed, while the server runs', (f) => (cutLines(f, 3, 2), rmSync(`${f}.head`)), true],
  ];
  for (const [name, tamper, whileRunning] of tampered) {
    test(`a writer reports ${name}, and verify still shows it after the next line`, () => {
      const dir = tempDir();
      try {
        const file = join(dir, 'audit.jsonl');
        const errors: string[] = [];
        const onError = (e: Error) => errors.push(e.message);
        let w = new AuditWriter({ file, redactor: new Redactor(), chain: true, onError });
        for (let i = 0; i < 5; i++) w.write(event(i));
        w.flush();
        const before = JSON.parse(readFileSync(`${file}.head`, 'utf8'));
        if (!whileRunning) w.close();
        tamper(file);
        if (!whileRunning) w = new AuditWriter({ file, redactor: new Redactor(), chain: true, onError });
        w.write(event(5));
        w.close();
        const spoiled = name.includes('overwritten') ? 'overwritten with something unreadable' : name.includes('removed') ? 'removed' : null;
        expect(errors).toEqual([
          ...(spoiled === null ? [] : [`${file}.head was ${spoiled} while the server ran; the file is checked against what the server last recorded, and the checkpoint written again`]),
          expect.stringMatching(
            new RegExp(
              `^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} no longer holds the lines its checkpoint records \\(5 lines, ${before.bytes} bytes, last hash ${before.last_hash.slice(0, 12)}; ` +
                `now \\d+ lines, \\d+ bytes\\): lines were cut or rewritten ${whileRunning ? 'while the server ran' : 'while the server was down'}`,
            ),
          ),
        ]);
        const verdict = verifyFiles([file]);
        expect(verdict.ok).toBe(false);
        // The loss is in the chain for good: the line after it is the server's record of it, chained on from the last recorded line.
        const lost = readFileSync(file, 'utf8').split('\n').map((l) => (l ? JSON.parse(l) : null)).find((r) => r?.event_type === 'audit_lines_lost');
        expect(lost).toMatchObject({ prev_hash: before.last_hash, result: { recorded: { lines: 5, bytes: before.bytes, lastHash: before.last_hash } } });
        if (name.includes('emptied') || name.includes('deleted')) {
          expect(verdict).toEqual({ ok: false, problem: { kind: 'lines-lost', file, line: 1, message: expect.stringContaining('its checkpoint had recorded 5 line(s)') } } as never);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test('a checkpoint removed while the server runs, nothing cut: written again by name at the next batch, and the log verifies', () => {
    withLog(({ file, errors, open }) => {
      const w = open();
      for (let i = 0; i < 3; i++) w.write(event(i));
      w.flush();
      rmSync(`${file}.head`);
      w.write(event(3));
      w.close();
      expect(errors).toEqual([`${file}.head was removed while the server ran; it is written again`]);
      expect(existsSync(`${file}.head`)).toBe(true);
      expect(verifyFiles([file]).ok).toBe(true);
    });
  });

  // Found at start, the loss is written at once: the checkpoint that held the evidence is replaced as it is found, and
  // a server stopped before its first call left nothing to show the loss by.
  test('a loss found at start is recorded even when no call follows', () => {
    withLog(({ file, open }) => {
      openedOnEmptied(file, open).close();
      expect(eventTypes(file)).toEqual(['audit_lines_lost']);
      expect(verifyFiles([file])).toMatchObject({ ok: false, problem: { kind: 'lines-lost' } });
    });
  });

  // A record of lines lost is no place to stop: a later line edited was left unnamed behind it.
  test('verify goes on past a record of lines lost and names a later edit', () => {
    withLog(({ file, open }) => {
      const w = openedOnEmptied(file, open);
      for (let i = 3; i < 6; i++) w.write(event(i));
      w.close();
      const rows = readFileSync(file, 'utf8').split('\n');
      rows[2] = rows[2]!.replace('"echo"', '"eche"');
      writeFileSync(file, rows.join('\n'));
      expect(verifyFiles([file])).toMatchObject({ ok: false, problem: { kind: 'lines-lost', line: 1 }, more: [{ kind: 'edited', line: 3 }] });
    });
  });

  // logrotate with `create` moves the file and makes an empty one by its name before its postrotate SIGHUP: a line
  // written between the two compared the new file with the checkpoint left behind, and recorded lines lost for good.
  test('a line written between logrotate moving the log (create) and its SIGHUP is no loss', () => {
    withLog(({ file, errors, open }) => {
      const w = open();
      for (let i = 0; i < 3; i++) w.write(event(i));
      w.flush();
      renameSync(file, `${file}.1`);
      writeFileSync(file, '', { mode: 0o600 });
      w.write(event(3));
      w.flush();
      w.reopen();
      w.write(event(4));
      w.close();
      expect({ kinds: eventTypes(file), errors }).toEqual({ kinds: ['tool_call', 'tool_call'], errors: [] });
      expect(verifyFiles([`${file}.1`, file])).toMatchObject({ ok: true, lines: 5 });
    });
  });

  // SIGHUP after an external move starts a new checkpoint for the new file; after a deletion it must not: the
  // deleted file's lines are lost, not rotated away, and verify said ok.
  test('a file deleted and then reopened (SIGHUP) is a loss, recorded; one moved away and reopened is none', () => {
    for (const [how, gone] of [['deleted', (f: string) => rmSync(f)], ['moved', (f: string) => renameSync(f, `${f}.1`)]] as const) {
      withLog(({ file, errors, open }) => {
        const w = open();
        for (let i = 0; i < 3; i++) w.write(event(i));
        w.flush();
        gone(file);
        w.reopen();
        w.write(event(3));
        w.close();
        if (how === 'deleted') {
          expect(eventTypes(file)).toEqual(['audit_lines_lost', 'tool_call']);
          expect(verifyFiles([file])).toMatchObject({ ok: false, problem: { kind: 'lines-lost' } });
        } else {
          expect({ kinds: eventTypes(file), errors }).toEqual({ kinds: ['tool_call'], errors: [] });
          expect(verifyFiles([`${file}.1`, file])).toMatchObject({ ok: true, lines: 4 });
        }
      });
    }
  });

  test('a forged file that puts the recorded last line back at its recorded place, to be taken in, is still found', () => {
    // Line 5 dropped, the rest sealed again and padded so a forged line ends at the recorded byte count; the recorded
    // last line is put there for the writer to see, and the forgery's own put back once the writer has taken it in.
    const dir = tempDir();
    try {
      const file = join(dir, 'audit.jsonl');
      const errors: string[] = [];
      const w = new AuditWriter({ file, redactor: new Redactor(), chain: true, onError: (e) => errors.push(e.message) });
      for (let i = 1; i <= 10; i++) {
        w.write(event(i));
        w.flush();
      }
      const rows = readFileSync(file, 'utf8').split('\n').slice(0, -1);
      const recorded = Buffer.byteLength(readFileSync(file));
      const size = (line: string) => Buffer.byteLength(line) + 1;
      const fields = (line: string) => {
        const { hash: _h, prev_hash: _p, ...rest } = JSON.parse(line);
        return rest;
      };
      // A record sealed after `prev`, padded (in a field the hash covers) to `bytes` with its newline when given.
      const sealed = (line: string, prev: string, bytes: number | null) => {
        for (let pad = 0; ; ) {
          const s = sealRecord({ ...fields(line), user: ' '.repeat(pad) }, prev);
          if (bytes === null || size(s.line) === bytes) return s;
          pad += bytes - size(s.line);
        }
      };
      const forged = rows.slice(0, 4);
      let prev = JSON.parse(rows[3]!).hash as string;
      const lastBytes = size(rows[9]!);
      const middle = recorded - forged.reduce((n, l) => n + size(l), 0) - lastBytes;
      for (const [j, bytes] of [Math.floor(middle / 3), Math.floor(middle / 3), middle - 2 * Math.floor(middle / 3), lastBytes].entries()) {
        const s = sealed(rows[5 + j]!, prev, bytes);
        forged.push(s.line);
        prev = s.hash;
      }
      forged.push(sealed(rows[9]!, prev, null).line);
      const text = Buffer.from(forged.map((l) => `${l}\n`).join(''));
      const shown = Buffer.from(text);
      Buffer.from(`${rows[9]}\n`).copy(shown, recorded - lastBytes);
      writeFileSync(file, shown);
      w.write(event(11));
      w.flush();
      writeFileSync(file, Buffer.concat([text.subarray(0, recorded), readFileSync(file).subarray(recorded)]));
      w.write(event(12));
      w.close();
      expect(errors).toEqual([expect.stringContaining('no longer holds the lines its checkpoint records')]);
      expect(verifyFiles([file]).ok).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('lines another writer appends are no tampering: no report, and the chain stays whole', () => {
    const dir = tempDir();
    try {
      const file = join(dir, 'audit.jsonl');
      const errors: string[] = [];
      const onError = (e: Error) => errors.push(e.message);
      const a = new AuditWriter({ file, redactor: new Redactor(), chain: true, onError });
      const b = new AuditWriter({ file, redactor: new Redactor(), chain: true, onError });
      for (let i = 0; i < 6; i++) {
        (i % 2 === 0 ? a : b).write(event(i));
        (i % 2 === 0 ? a : b).flush();
      }
      a.close();
      b.close();
      expect(errors).toEqual([]);
      expect(verifyFiles([file])).toEqual({ ok: true, lines: 6, files: 1, notes: expect.any(Array) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('CLI: verify exits 0 on an intact log; query filters by correlation id, client id and time', () => {
    const dir = tempDir();
    try {
      const files = writeLog(dir);
      const ok = Bun.spawnSync(['bun', 'run', MAIN, 'audit', 'verify', ...files], { cwd: dir });
      const report = `${intactNotes(files).join('\n')}\nok: 40 lines in ${files.length} file(s), hash chain intact\n`;
      expect([ok.exitCode, ok.stdout.toString()]).toEqual([0, report]);

      // Without --file, query reads the configured log and its rotated files, oldest first.
      const env = { PATH: process.env.PATH!, HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'), HIDE_AUDIT_LOG_KEEP: '20', HIDE_LOG_LEVEL: 'silent' };
      const one = Bun.spawnSync(['bun', 'run', MAIN, 'audit', 'query', '--correlation-id', 'corr-7'], { cwd: dir, env });
      expect(one.stdout.toString().trim().split('\n').map((l) => JSON.parse(l).correlation_id)).toEqual(['corr-7']);
      const alice = Bun.spawnSync(['bun', 'run', MAIN, 'audit', 'query', '--client-id', 'alice', '--since', '1h'], { cwd: dir, env });
      const got = alice.stdout.toString().trim().split('\n').map((l) => JSON.parse(l).correlation_id);
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `corr-${2 * i + 1}`));
      const future = Bun.spawnSync(['bun', 'run', MAIN, 'audit', 'query', '--since', '2999-01-01T00:00:00Z', '--file', files.at(-1)!], { cwd: dir, env });
      expect([future.exitCode, future.stdout.toString()]).toEqual([0, '']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('server: SIGHUP reopens a moved log and the chain continues; a restart continues it too', async () => {
    const dir = tempDir();
    try {
      const audit = join(dir, 'audit.jsonl');
      {
        await using s = await spawnServer({}, { dir });
        expect((await exec(s.url, 'echo', ['one'])).status).toBe(200);
        await waitFor(() => existsSync(audit) && auditLines(audit).length === 1, 3000, 'first line');
        renameSync(audit, `${audit}.moved`); // what logrotate does
        s.kill('SIGHUP');
        await waitFor(() => existsSync(audit), 3000, 'reopened file');
        expect((await exec(s.url, 'echo', ['two'])).status).toBe(200);
        s.kill('SIGTERM');
        expect(await s.exited).toBe(0);
      }
      {
        await using s = await spawnServer({}, { dir });
        expect((await exec(s.url, 'echo', ['three'])).status).toBe(200);
        s.kill('SIGTERM');
        expect(await s.exited).toBe(0);
      }
      expect(auditLines(`${audit}.moved`).map((l) => l.arguments.arguments[0])).toEqual(['one']);
      expect(auditLines(audit).map((l) => l.arguments.arguments[0])).toEqual(['two', 'three']);
      // The moved file keeps no checkpoint; the new one starts by continuing it.
      expect(verifyFiles([`${audit}.moved`, audit])).toEqual({
        ok: true,
        lines: 3,
        files: 2,
        notes: [
          `${audit}.moved: 1 line(s), starts the chain (genesis); no checkpoint: a cut tail would not show`,
          `${audit}: 2 line(s), continues ${audit}.moved across a rotation; checkpoint matches`,
        ],
      });
      // Alone, the live file still shows that it starts by continuing an earlier file.
      expect(verifyFiles([audit])).toEqual({
        ok: true,
        lines: 2,
        files: 1,
        notes: [`${audit}: 2 line(s), continues a chain from an earlier file not given (rotated away or not listed); checkpoint matches`],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
