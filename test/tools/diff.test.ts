/** The unified diff edit_file returns, checked against what diff(1) -u prints. */
import { describe, expect, test } from 'bun:test';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { editsDiff, MAX_DIFF_CHARS, type PlacedEdit, unifiedDiff } from '../../src/tools/files/diff.ts';

describe('unifiedDiff', () => {
  test('equal texts give no diff', () => {
    expect(unifiedDiff('a', 'x\n', 'x\n')).toBe('');
  });

  test('one changed line with context', () => {
    expect(unifiedDiff('f.ts', 'a\nb\nc\n', 'a\nx\nc\n')).toBe('--- a/f.ts\n+++ b/f.ts\n@@ -1,3 +1,3 @@\n a\n-b\n+x\n c\n');
  });

  test('distant changes become separate hunks with correct line numbers', () => {
    const before = `${Array.from({ length: 20 }, (_, i) => `${i + 1}`).join('\n')}\n`;
    const after = before.replace('2\n', '2x\n').replace('19\n', '19x\n');
    expect(unifiedDiff('f', before, after)).toBe(
      '--- a/f\n+++ b/f\n@@ -1,5 +1,5 @@\n 1\n-2\n+2x\n 3\n 4\n 5\n@@ -16,5 +16,5 @@\n 16\n 17\n 18\n-19\n+19x\n 20\n',
    );
  });

  test('a missing final newline is marked as diff(1) marks it', () => {
    expect(unifiedDiff('f', 'a\nb', 'a\nb\n')).toBe('--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n');
  });

  test('insertion into an empty file, deletion of everything', () => {
    expect(unifiedDiff('f', '', 'x\n')).toBe('--- a/f\n+++ b/f\n@@ -0,0 +1,1 @@\n+x\n');
    expect(unifiedDiff('f', 'x\ny\n', '')).toBe('--- a/f\n+++ b/f\n@@ -1,2 +0,0 @@\n-x\n-y\n');
  });

  test('agrees with diff(1) on a shuffled file', async () => {
    const words = Array.from({ length: 200 }, (_, i) => `line ${i % 37} ${i % 5}`);
    const before = `${words.join('\n')}\n`;
    const after = `${words.filter((_, i) => i % 7 !== 0).map((w, i) => (i % 11 === 0 ? `${w} changed` : w)).join('\n')}\n`;
    const dir = `${tmpdir()}/hide-diff-${process.pid}`;
    await Bun.write(`${dir}/a`, before);
    await Bun.write(`${dir}/b`, after);
    const ref = Bun.spawnSync(['diff', '-u', `${dir}/a`, `${dir}/b`]).stdout.toString();
    rmSync(dir, { recursive: true, force: true });
    // Both are shortest edit scripts; compare the counts of removed and added lines, and that applying ours gives `after`.
    const ours = unifiedDiff('f', before, after);
    const count = (d: string, c: string) => d.split('\n').filter((l) => l.startsWith(c) && !l.startsWith(`${c}${c}${c}`)).length;
    expect([count(ours, '-'), count(ours, '+')]).toEqual([count(ref, '-'), count(ref, '+')]);
    const rebuilt = ours.split('\n').filter((l) => l.startsWith(' ') || l.startsWith('+')).filter((l) => !l.startsWith('+++'));
    expect(rebuilt.map((l) => l.slice(1)).join('\n')).toBe(after.slice(0, -1));
  });
});

describe('editsDiff', () => {
  /** The edits placed as edit_file places them, and the text they make. */
  function place(original: string, edits: Array<[string, string]>): { placed: PlacedEdit[]; updated: string } {
    const placed = edits.map(([oldText, newText]) => ({ at: original.indexOf(oldText), oldText, newText })).sort((a, b) => a.at - b.at);
    let updated = '';
    let pos = 0;
    for (const p of placed) {
      updated += original.slice(pos, p.at) + p.newText;
      pos = p.at + p.oldText.length;
    }
    return { placed, updated: updated + original.slice(pos) };
  }

  /** What patch(1) makes of `original` with `diff`; where there is no patch(1), what the diff must make of it. */
  async function patched(original: string, diff: string, expected: string): Promise<string> {
    if (Bun.which('patch') === null) return expected;
    const dir = `${tmpdir()}/hide-editsdiff-${process.pid}-${Math.random().toString(36).slice(2)}`;
    await Bun.write(`${dir}/f`, original);
    await Bun.write(`${dir}/d`, diff);
    const r = Bun.spawnSync(['patch', '-s', '-p1', '-d', dir, '-i', `${dir}/d`]);
    const out = await Bun.file(`${dir}/f`).text();
    rmSync(dir, { recursive: true, force: true });
    if (r.exitCode !== 0) throw new Error(`patch failed: ${r.stdout.toString()}${r.stderr.toString()}`);
    return out;
  }

  test('gives what unifiedDiff gives for the same change, and patch(1) takes it', async () => {
    const lines = Array.from({ length: 120 }, (_, i) => `line ${i}`);
    const original = `${lines.join('\n')}\n`;
    const cases: Array<Array<[string, string]>> = [
      [['line 5\n', 'five\n']],
      [['line 0\n', ''], ['line 119\n', 'last\nmore\n']],
      // Close enough for one hunk, and just too far apart for one.
      [['line 10\n', 'ten\n'], ['line 17\n', 'seventeen\n']],
      [['line 30\n', 'thirty\n'], ['line 38\n', 'thirty-eight\n']],
      // Within one line, twice; across lines; a deletion of several lines.
      [['line 50', 'LINE 50'], ['50\nline 51', '50 and 51']],
      [['line 60\nline 61\nline 62\n', '']],
      [['line 1\n', 'a\n'], ['line 20\n', 'b\n'], ['line 21\n', 'c\n'], ['line 70\n', 'd\ne\nf\n'], ['line 73\n', ''], ['line 118', 'x']],
    ];
    for (const edits of cases) {
      const { placed, updated } = place(original, edits);
      const ours = editsDiff('f', original, placed);
      expect(ours).toBe(unifiedDiff('f', original, updated));
      expect(await patched(original, ours, updated)).toBe(updated);
    }
  });

  test('no newline at the end, and an edit at the very end', async () => {
    const original = 'a\nb\nc';
    for (const edits of [[['c', 'c\n']], [['b\nc', 'B']], [['a', 'z']]] as Array<Array<[string, string]>>) {
      const { placed, updated } = place(original, edits);
      const ours = editsDiff('f', original, placed);
      expect(ours).toBe(unifiedDiff('f', original, updated));
      expect(await patched(original, ours, updated)).toBe(updated);
    }
  });

  test('edits spread over a large file: one small hunk each, not the whole stretch between them', async () => {
    // 4.5 million short lines with 100 markers spread through them: compared from the first edit to the last, this
    // was a 27 MB diff.
    const chunk = 'a\nb\n'.repeat(22_500);
    const original = Array.from({ length: 100 }, (_, j) => `${chunk}M${j}\n`).join('') + chunk;
    const { placed, updated } = place(original, Array.from({ length: 100 }, (_, j) => [`\nM${j}\n`, `\nN${j}\nO${j}\n`] as [string, string]));
    const ours = editsDiff('f', original, placed);
    expect(ours.match(/^@@ /gm)?.length).toBe(100);
    expect(ours.length).toBeLessThan(10_000);
    expect(await patched(original, ours, updated)).toBe(updated);
  });

  test('a diff past MAX_DIFF_CHARS is cut at a line end, and says so', () => {
    const long = 'x'.repeat(MAX_DIFF_CHARS);
    const original = `${long}\n`;
    const ours = editsDiff('f', original, [{ at: 10, oldText: 'x', newText: 'y' }]);
    expect(ours.length).toBeLessThan(MAX_DIFF_CHARS + 200);
    expect(ours).toEndWith(`\\ diff cut here, at ${MAX_DIFF_CHARS} characters (fewer where control characters take six each in JSON); the edits themselves are whole\n`);
  });

  // Each control character is six characters of JSON (\u0001), and the answer carries the diff twice: a dry run of one
  // 1 MB line of them answered 13 MB to an 85-byte request.
  test('a diff is cut by its size as JSON text too', () => {
    const original = `X${'\x01'.repeat(1_000_000)}\nkept\n`;
    const ours = editsDiff('f', original, [{ at: 0, oldText: 'X', newText: 'Y' }]);
    expect(JSON.stringify(ours).length).toBeLessThan(2 * MAX_DIFF_CHARS + 300);
    expect(ours).toContain('\\ diff cut here');
    // Under the bound a diff is whole, control characters and all.
    const small = editsDiff('f', `X${'\x01'.repeat(1000)}\n`, [{ at: 0, oldText: 'X', newText: 'Y' }]);
    expect(small).not.toContain('diff cut here');
    expect(small).toContain(`+Y${'\x01'.repeat(1000)}`);
  });
});
