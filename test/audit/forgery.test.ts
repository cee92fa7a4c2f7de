/**
 * Lines an attacker who can write the log, but not its `.head`, adds or
 * rewrites. The chain has no secret, so a line appended after the last one,
 * chained on from it, is well formed: only the checkpoint, which no writer
 * moved past it, tells. A line respelled so that it parses to the same record
 * (an escape for a letter, a key given twice) keeps its hash, yet reads
 * differently to grep or to a parser that keeps the first key: only its text
 * tells. `hide audit verify` names both, and a server that starts on such a
 * log says what it is about to take into its checkpoint.
 */
import { describe, expect, test } from 'bun:test';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint, sealRecord, writeCheckpoint } from '../../src/audit/chain.ts';
import type { AuditEvent } from '../../src/audit/event.ts';
import { Redactor } from '../../src/audit/redact.ts';
import { verifyFiles } from '../../src/audit/verify.ts';
import { AuditWriter } from '../../src/audit/writer.ts';
import { toolCallEvent } from '../helpers/audit-event.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp.ts';

/** A temporary directory removed when the test's scope ends. */
function scratch(): { path: string; [Symbol.dispose](): void } {
  const path = tempDir('hide-forgery-');
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

const event = (i: number, client = 'alice'): AuditEvent => ({ ...toolCallEvent(`forgery-${i}`, { command: 'echo', arguments: [String(i)] }), client_id: client });

/** A writer's run of `n` events (bob's the second), then closed; returns the warnings it gave. */
function run(file: string, from: number, n: number): string[] {
  const warnings: string[] = [];
  const w = new AuditWriter({ file, redactor: new Redactor(), chain: true, onError: (e) => warnings.push(e.message) });
  for (let i = from; i < from + n; i++) w.write(event(i, i === 1 ? 'bob' : 'alice'));
  w.close();
  return warnings;
}

const rows = (file: string): string[] => readFileSync(file, 'utf8').split('\n').slice(0, -1);

/** A line as the writer would make it, chained on from the file's last line: what anyone who can append can write. */
function forgeAfter(file: string): string {
  const { hash, file_start: _start, ...last } = JSON.parse(rows(file).at(-1)!) as Record<string, unknown>;
  const forged = { ...last, correlation_id: 'forged', client_id: 'bob', arguments: { command: 'rm', arguments: ['-rf', '/srv/project'] }, prev_hash: hash };
  return sealRecord(forged, hash as string).line;
}

describe('lines appended after the checkpoint', () => {
  test('verify names them unsealed (exit 1); --live, for a log a server is writing, passes them with a note', async () => {
    using dir = scratch();
    const file = join(dir.path, 'audit.jsonl');
    run(file, 0, 3);
    appendFileSync(file, `${forgeAfter(file)}\n`);
    expect(verifyFiles([file])).toEqual({ ok: false, problem: { kind: 'unsealed', file, line: 4, message: expect.stringContaining('1 line(s) after the last its checkpoint records (3)') } } as never);
    expect(verifyFiles([file], { live: true })).toMatchObject({ ok: true, lines: 4, notes: [expect.stringContaining('1 line(s) written after it (--live)')] });
    const cli = await runCli(['audit', 'verify', file], dir.path);
    expect({ code: cli.code, out: cli.stdout }).toEqual({ code: 1, out: expect.stringContaining(`${file}:4: unsealed:`) });
    expect((await runCli(['audit', 'verify', '--live', file], dir.path)).code).toBe(0);
  });

  test('a server that starts on such a log says so before it takes them into its checkpoint', () => {
    using dir = scratch();
    const file = join(dir.path, 'audit.jsonl');
    run(file, 0, 3);
    appendFileSync(file, `${forgeAfter(file)}\n`);
    const warnings = run(file, 3, 1);
    expect(warnings).toEqual([expect.stringContaining('holds 1 line(s) after the 3 its checkpoint records')]);
    // Taken in, after a line that says so: verify names the lines (it passed them once the warning had gone by), and
    // goes on past them, as past a torn line; --live too, since they are no batch under way.
    const kinds = rows(file).map((l) => JSON.parse(l).event_type);
    expect(kinds).toEqual(['tool_call', 'tool_call', 'tool_call', 'tool_call', 'audit_lines_adopted', 'tool_call']);
    for (const live of [false, true]) {
      expect(verifyFiles([file], { live })).toEqual({ ok: false, problem: { kind: 'adopted', file, line: 4, message: expect.stringContaining('1 line(s) before') } } as never);
    }
  });

  // A whole record without its newline reads as the writer's own write cut short just before it, which the chain
  // went on from, unsaid: a forged record so appended was sealed in, and verify passed it. Only the line the
  // checkpoint ends with is taken so; anything else without its newline is said, and left out of the chain.
  test('a forged record, or a fragment, appended without its newline is said at start, left out of the chain, and named by verify', () => {
    using dir = scratch();
    const file = join(dir.path, 'audit.jsonl');
    run(file, 0, 3);
    appendFileSync(file, forgeAfter(file));
    expect(run(file, 3, 1)).toEqual([expect.stringMatching(/ends in \d+ byte\(s\) without a newline after the 3 line\(s\) its checkpoint records/)]);
    expect(verifyFiles([file])).toMatchObject({ ok: false, problem: { kind: 'inserted', line: 4 } });
    using other = scratch();
    const second = join(other.path, 'audit.jsonl');
    run(second, 0, 3);
    appendFileSync(second, '{"timestamp":"2026-12-05T03:14:15.926Z","event_type":"tool_call","client_id":"alice","arguments":{"command":"sh"');
    expect(run(second, 3, 1)).toEqual([expect.stringContaining('without a newline after the 3 line(s) its checkpoint records')]);
  });

  test('a log the writer left as it was starts without a word', () => {
    using dir = scratch();
    const file = join(dir.path, 'audit.jsonl');
    run(file, 0, 3);
    expect(run(file, 3, 2)).toEqual([]);
    expect(verifyFiles([file])).toMatchObject({ ok: true, lines: 5 });
  });
});

describe('a line respelled to the same record', () => {
  const respell = (line: string) => [
    ['an escape for a letter', line.replace('"client_id":"bob"', '"client_id":"\\u0062ob"')],
    ['a key given twice, the decoy first', line.replace('{', '{"client_id":"alice",')],
    ['spacing', line.replace('"client_id":"bob"', '"client_id": "bob"')],
  ];

  for (const [name, index] of [['an escape for a letter', 0], ['a key given twice, the decoy first', 1], ['spacing', 2]] as const) {
    test(`${name}: verify names the line edited, though its record still matches its hash`, () => {
      using dir = scratch();
      const file = join(dir.path, 'audit.jsonl');
      run(file, 0, 3);
      const lines = rows(file);
      const changed = respell(lines[1]!)[index]![1]!;
      expect(changed).not.toBe(lines[1]);
      writeFileSync(file, `${[lines[0], changed, lines[2]].join('\n')}\n`);
      expect(verifyFiles([file])).toEqual({ ok: false, problem: { kind: 'edited', file, line: 2, message: expect.stringContaining('matches its hash, but not as written') } } as never);
    });
  }
});

test('bytes that are not UTF-8 in place of a U+FFFD a client sent: verify names the line edited (it decodes to the same record)', () => {
  using dir = scratch();
  const file = join(dir.path, 'audit.jsonl');
  const w = new AuditWriter({ file, redactor: new Redactor(), chain: true, onError: () => {} });
  w.write(event(0));
  w.write({ ...toolCallEvent('forgery-fffd', { command: 'echo', arguments: ['a\ufffdb'] }), client_id: 'alice' });
  w.write(event(2));
  w.close();
  const bytes = readFileSync(file);
  const at = bytes.indexOf(Buffer.from('a\ufffdb'));
  expect(at).toBeGreaterThan(0);
  // Three bytes for three: a four-byte sequence cut short, which a strict reader refuses and a lenient one reads as U+FFFD.
  Buffer.from([0xf0, 0x9f, 0x98]).copy(bytes, at + 1);
  writeFileSync(file, bytes);
  expect(verifyFiles([file])).toEqual({ ok: false, problem: { kind: 'edited', file, line: 2, message: expect.stringContaining('matches its hash, but not as written') } } as never);
});

describe('characters a reader or a terminal takes for more than text', () => {
  // A line separator or NEL splits a line for readers that split on every Unicode line break (Python's
  // splitlines); a C1 control (U+009B is CSI) or a bidirectional override acts on a terminal showing the file.
  const sent = 'a\u2028b\u2029c\u0085d\u009be\u202ef\u2066g';
  const raw = /[\u0085\u009b\u2028\u2029\u202e\u2066]/;

  function written(dir: string): string {
    const file = join(dir, 'audit.jsonl');
    const w = new AuditWriter({ file, redactor: new Redactor(), chain: true, onError: () => {} });
    w.write(event(0));
    w.write({ ...toolCallEvent('forgery-inert', { command: 'echo', arguments: [sent] }), client_id: 'alice' });
    w.write(event(2));
    w.close();
    return file;
  }

  test('are written as their escapes: the same record, read back as sent, and the log verifies', () => {
    using dir = scratch();
    const file = written(dir.path);
    const text = readFileSync(file, 'utf8');
    expect(raw.test(text)).toBe(false);
    expect(rows(file).map((l) => JSON.parse(l).arguments?.arguments?.[0])).toEqual(['0', sent, '2']);
    expect(verifyFiles([file]).ok).toBe(true);
  });

  test('a log written before, with them raw, still verifies: the record is the same and so is its hash', () => {
    using dir = scratch();
    const file = written(dir.path);
    const unescaped = readFileSync(file, 'utf8').replace(/\\u(0085|009b|2028|2029|202e|2066)/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    expect(raw.test(unescaped)).toBe(true);
    writeFileSync(file, unescaped);
    const cp = readCheckpoint(file);
    if (cp === null || cp === 'unreadable') throw new Error('no checkpoint');
    writeCheckpoint(file, { ...cp, bytes: Buffer.byteLength(unescaped) });
    expect(verifyFiles([file]).ok).toBe(true);
  });
});
