/**
 * A torn line: a write cut short (the process killed mid-write, a full disk)
 * leaves the start of a record with no newline; the next start writes a fresh
 * line after it and chains on from the last whole line. `hide audit verify`
 * names it `torn` (still a finding, exit 1), not `inserted`, and goes on past
 * it; what only looks like one (a fragment in place of a line, junk, a
 * fragment at the end) keeps its old name, and a torn line hides nothing after it.
 */
import { describe, expect, test } from 'bun:test';
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEvent } from '../../src/audit/event.ts';
import { readCheckpoint } from '../../src/audit/chain.ts';
import { Redactor } from '../../src/audit/redact.ts';
import { type VerifyResult, verifyFiles } from '../../src/audit/verify.ts';
import { rotatedNames } from '../../src/audit/rotation.ts';
import { AuditWriter } from '../../src/audit/writer.ts';
import { auditLines, exec, MAIN, spawnServer, tempDir, waitFor } from '../ops/helpers.ts';
import { toolCallEvent } from '../helpers/audit-event.ts';

const event = (i: number): AuditEvent => toolCallEvent(`torn-${i}`, { command: 'echo', arguments: [String(i)] });

/** What a write cut short leaves: the first `bytes` of a line shaped as the writer makes them, no newline. */
function fragment(file: string, bytes = 90): string {
  const last = readFileSync(file, 'utf8').split('\n').at(-2)!;
  return last.replace(/"correlation_id":"[^"]*"/, '"correlation_id":"cut-short"').slice(0, bytes);
}

/** A writer's run: `from`..`to` events, then closed. */
function run(file: string, from: number, to: number, opts: { maxBytes?: number; keep?: number } = {}): void {
  const w = new AuditWriter({ file, redactor: new Redactor(), chain: true, ...opts });
  for (let i = from; i < to; i++) w.write(event(i));
  w.close();
}

function kinds(r: VerifyResult): string[] {
  return r.ok ? [] : [r.problem, ...(r.more ?? [])].map((p) => `${p.file.split('/').at(-1)}:${p.line}: ${p.kind}`);
}

function rows(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').slice(0, -1);
}

function withDir(fn: (dir: string, file: string) => void): void {
  const dir = tempDir('hide-torn-');
  try {
    fn(dir, join(dir, 'audit.jsonl'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('a torn line left by a crash', () => {
  test('a server killed, its last line torn, started again: verify names the torn line and nothing else', async () => {
    const dir = tempDir('hide-torn-');
    try {
      const file = join(dir, 'audit.jsonl');
      {
        await using s = await spawnServer({}, { dir });
        for (const word of ['one', 'two', 'three']) expect((await exec(s.url, 'echo', [word])).status).toBe(200);
        // And checkpointed: a kill between a batch and its checkpoint leaves lines the next start takes in, and names.
        await waitFor(() => existsSync(file) && auditLines(file).length === 3 && (readCheckpoint(file) as { lines?: number } | null)?.lines === 3, 5000, 'three audit lines, checkpointed');
        s.kill('SIGKILL');
        await s.exited;
      }
      // What the kill left mid-write: the start of the next line, no newline.
      appendFileSync(file, fragment(file));
      {
        await using s = await spawnServer({}, { dir });
        for (const word of ['four', 'five']) expect((await exec(s.url, 'echo', [word])).status).toBe(200);
        s.kill('SIGTERM');
        expect(await s.exited).toBe(0);
      }
      const text = readFileSync(file, 'utf8').split('\n');
      expect(text[3]).toStartWith('{"timestamp":"');
      expect(JSON.parse(text[4]!).prev_hash).toBe(JSON.parse(text[2]!).hash);
      expect(kinds(verifyFiles([file]))).toEqual(['audit.jsonl:4: torn']);
      const v = Bun.spawnSync(['bun', 'run', MAIN, 'audit', 'verify', file], { cwd: dir });
      expect([v.exitCode, v.stdout.toString()]).toEqual([
        1,
        `${file}:4: torn: incomplete line: the start of a record whose write was cut short (the process killed mid-write, or a full disk); ` +
          `the writer started a fresh line after it, and the next line (${file}:5) chains on from ${file}:3, the line before it\n` +
          'no other problem: apart from 1 torn line(s), the hash chain is intact\n',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  test('the first line of a new log torn: the chain starts after it', () => {
    withDir((_dir, file) => {
      writeFileSync(file, '{"timestamp":"2026-12-02T05:00:00.000Z","event_type":"tool_c');
      run(file, 0, 3);
      expect(kinds(verifyFiles([file]))).toEqual(['audit.jsonl:1: torn']);
    });
  });

  test('a write cut just before its newline left a whole record: the restart chains on from it, and the log verifies', () => {
    withDir((_dir, file) => {
      run(file, 0, 3);
      const r = rows(file);
      writeFileSync(file, `${r.join('\n')}`);
      run(file, 3, 5);
      expect(rows(file).map((l) => JSON.parse(l).correlation_id)).toEqual(['torn-0', 'torn-1', 'torn-2', 'torn-3', 'torn-4']);
      expect(verifyFiles([file])).toMatchObject({ ok: true, lines: 5 });
    });
  });

  test('torn as the last line of a file the restart rotated before writing: the next file chains on from the line before it', () => {
    withDir((_dir, file) => {
      run(file, 0, 8);
      appendFileSync(file, fragment(file, 40));
      // The first line after the restart would take the file past the limit: the file rotates, torn end and all.
      run(file, 8, 12, { maxBytes: Bun.file(file).size + 10, keep: 10 });
      const all = [...rotatedNames(file, 10).reverse().filter((f) => existsSync(f)), file];
      expect(all.length).toBe(2);
      const rotated = all[0]!;
      expect(readFileSync(rotated, 'utf8').endsWith('\n')).toBe(false);
      expect(kinds(verifyFiles(all))).toEqual([`audit.jsonl.1:${rows(rotated).length + 1}: torn`]);
      // Without the file that continues it, the torn end of the rotated file is a cut tail.
      expect(kinds(verifyFiles(all.slice(0, -1)))).toEqual([`audit.jsonl.1:${rows(rotated).length + 1}: tail-cut`]);
    });
  });

  test("a rotated file's last line cut into a fragment is no torn line when the next file chains on from the line cut: a cut tail, even with no checkpoint to say so", () => {
    withDir((_dir, file) => {
      run(file, 0, 8);
      run(file, 8, 12, { maxBytes: Bun.file(file).size + 10, keep: 10 });
      const [rotated, live] = [rotatedNames(file, 10)[0]!, file];
      const r = rows(rotated);
      // The last whole line cut mid-way, and the checkpoint that would name the cut gone with it.
      writeFileSync(rotated, `${r.slice(0, -1).join('\n')}\n${r.at(-1)!.slice(0, 40)}`);
      rmSync(`${rotated}.head`, { force: true });
      expect(kinds(verifyFiles([rotated, live]))).toEqual([`audit.jsonl.1:${r.length}: tail-cut`]);
    });
  });

  test('the check goes on past a torn line: a later deletion, edit or insertion is still named', () => {
    for (const [tamper, kind] of [
      [(r: string[]) => r.splice(7, 1), 'deleted'],
      [(r: string[]) => (r[7] = r[7]!.replace('"exitCode":0', '"exitCode":1')), 'edited'],
      [(r: string[]) => r.splice(7, 0, r[1]!), 'inserted'],
    ] as const) {
      withDir((_dir, file) => {
        run(file, 0, 3);
        appendFileSync(file, fragment(file));
        run(file, 3, 10);
        const r = rows(file);
        tamper(r);
        writeFileSync(file, `${r.join('\n')}\n`);
        expect(kinds(verifyFiles([file]))).toEqual(['audit.jsonl:4: torn', `audit.jsonl:8: ${kind}`]);
      });
    }
  });

  test('only a torn-shaped line where the chain resumes is torn: the same fragment elsewhere keeps its name', () => {
    withDir((_dir, file) => {
      run(file, 0, 6);
      const whole = rows(file);
      const cut = fragment(file);
      const verdict = (lines: string[], end = '\n') => {
        writeFileSync(file, `${lines.join('\n')}${end}`);
        return kinds(verifyFiles([file]));
      };
      // In place of a line: the next one chains to the line that is gone.
      expect(verdict([...whole.slice(0, 3), cut, ...whole.slice(4)])).toEqual(['audit.jsonl:4: malformed']);
      // Not the start of a record: an inserted line, as before.
      expect(verdict([...whole.slice(0, 3), 'garbage', ...whole.slice(3)])).toEqual(['audit.jsonl:4: inserted']);
      // A whole forged record with a wrong hash between two lines: inserted.
      expect(verdict([...whole.slice(0, 3), whole[3]!.replace('torn-3', 'forged'), ...whole.slice(3)])).toEqual(['audit.jsonl:4: inserted']);
      // Two fragments in a row: the first is followed by no chained line.
      expect(verdict([...whole.slice(0, 3), cut, cut, ...whole.slice(3)])).toEqual(['audit.jsonl:4: malformed']);
      // At the very end, nothing after it: a cut tail, as before.
      expect(verdict([...whole, cut], '')).toEqual(['audit.jsonl:7: tail-cut']);
      // Untouched: intact.
      expect(verifyFiles([(writeFileSync(file, `${whole.join('\n')}\n`), file)]).ok).toBe(true);
    });
  });
});
