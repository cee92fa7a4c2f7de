/** The unified diff edit_file returns, checked against what diff(1) -u prints. */
import { describe, expect, test } from 'bun:test';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { unifiedDiff } from '../../src/tools/files/diff.ts';

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
