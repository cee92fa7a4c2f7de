/**
 * Experiment behind three event-loop bounds (not part of `bun run bench`):
 * main-thread time of the work a client can ask for in one request, for the
 * source tree given, so two trees (this one and an older checkout) can be
 * compared side by side:
 * - parseMessageText on a 3.2 MiB message with a small and with a large id,
 *   and on a 4 MiB message of two million nested arrays;
 * - one match against .gitignore rules of each shape, 10 000 rules, for a
 *   250-character name, a 4000-character path, and 16 nested files of them;
 *   and a realistic 1500-rule file (µs per match);
 * - the audit redaction of one call's arguments of 16 strings of 4 KiB
 *   (what a line's budget lets through) shaped to make it slow: short flags
 *   after a program that takes a password with them, the same over
 *   continuation lines, and here-strings.
 * Milliseconds, each the median of three after one warm-up, except where a
 * single match takes seconds on an old tree.
 *
 * Usage: bun bench/experiments/loop-stalls.ts [SRC_DIR]   (default: this tree's src)
 */
import { join, resolve } from 'node:path';

const src = resolve(process.argv[2] ?? join(import.meta.dir, '..', '..', 'src'));
const { parseMessageText } = await import(join(src, 'mcp', 'protocol.ts'));
const { IgnoreFile, IgnoreStack, MAX_RULES } = await import(join(src, 'workspace', 'gitignore.ts'));
const { Redactor } = await import(join(src, 'audit', 'redact.ts'));

function ms(fn: () => unknown, runs = 3): string {
  try {
    fn();
  } catch {
    /* a refusal is an answer too */
  }
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    try {
      fn();
    } catch {
      /* as above */
    }
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!.toFixed(1);
}

const inner = Array.from({ length: 200_000 }, (_, i) => `[${i},[${i}]]`).join(',');
for (const id of ['1', '123456789012345678901234567890']) {
  console.log(`parse, 3.2 MiB, id ${id.length > 5 ? 'beyond 2^53' : id}: ${ms(() => parseMessageText(`{"jsonrpc":"2.0","id":${id},"method":"ping","params":{"x":[${inner}]}}`))} ms`);
}
const levels = 2_000_000;
console.log(`parse, 4 MiB nested ${levels} deep: ${ms(() => parseMessageText(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":${'['.repeat(levels)}${']'.repeat(levels)}}}`))} ms`);

const name = 'a'.repeat(250);
const deep = Array.from({ length: 16 }, () => 'a'.repeat(250)).join('/');
const shapes: [string, (i: number) => string][] = [
  ['two stars', (i) => `*a*b${i}`],
  ['anchored a*/**/b', (i) => `a*/**/b${i}`],
  ['one star, long literal', (i) => `*${'a'.repeat(30)}b${i}`],
  ['32 stars', (i) => `${'*a'.repeat(31)}*b${i}`],
  ['32 stars, literals all present', () => `${'*a'.repeat(29)}*c*b*`],
  ['literal', (i) => `file${i}.txt`],
];
for (const [label, rule] of shapes) {
  const text = Array.from({ length: MAX_RULES }, (_, i) => rule(i)).join('\n');
  const one = IgnoreStack.EMPTY.push(new IgnoreFile('', text));
  let nested = IgnoreStack.EMPTY;
  for (let d = 0; d < 16; d++) nested = nested.push(new IgnoreFile('', text));
  const subject = label.includes('present') ? `${name}bc` : name;
  console.log(`gitignore ${label}: name ${ms(() => one.match(subject, false), 1)} ms, path ${ms(() => one.match(deep, false), 1)} ms, 16 files ${ms(() => nested.match(deep, false), 1)} ms`);
}
const real: string[] = [];
for (let i = 0; i < 300; i++) real.push(`*.ext${i}`, `build${i}/`, `**/node_modules${i}`, `src/**/gen${i}/*.ts`, `name${i}.txt`);
const stack = IgnoreStack.EMPTY.push(new IgnoreFile('', real.join('\n')));
const paths = ['index.ts', 'src/app/components/button.tsx', 'README.md', 'package-lock.json', 'a'.repeat(60)];
const start = performance.now();
for (let k = 0; k < 200; k++) for (const p of paths) stack.match(p, false);
console.log(`gitignore, 1500 realistic rules: ${(((performance.now() - start) / (200 * paths.length)) * 1000).toFixed(1)} µs per match`);

const redactor = new Redactor([], { isKey: () => false });
const flood: [string, string][] = [
  ['mysql then -p', `mysql ${'-p '.repeat(1400)}`],
  ['-p over continuation lines', '-p \\\n'.repeat(900)],
  ['here-strings', '<<< '.repeat(1100)],
];
for (const [label, text] of flood) {
  const args = { command: 'sh', arguments: Array.from({ length: 16 }, () => text.slice(0, 4096)) };
  console.log(`redact one call, 16 × 4 KiB, ${label}: ${ms(() => redactor.redact(args, { left: 48 * 1024 }))} ms`);
}
