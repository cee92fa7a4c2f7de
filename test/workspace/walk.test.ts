/**
 * Walks: name order (UTF-8 byte order, as ripgrep's `--sort path`, whichever
 * sort produced it), the streamed directory reader, and a walk with a limit,
 * which keeps only the smallest accepted names of each directory.
 */
import { describe, expect, test } from 'bun:test';
import { closeSync, constants, mkdirSync, openSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Confiner } from '../../src/workspace/confine.ts';
import { canStreamNames, DirentBatch, readDirents } from '../../src/workspace/dir-names.ts';
import { compareNames, type EntryFacts, sortNames, walk, type WalkOptions, WalkStopped } from '../../src/workspace/walk.ts';
import { MAX_RULES_PER_WALK } from '../../src/workspace/gitignore.ts';
import { tree } from '../tools/helpers.ts';

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
// ASCII, Latin, CJK, the private-use start, U+FFFD and U+FFFF, and characters past U+FFFF (surrogate pairs in UTF-16).
const POOL = ['a', 'B', '.', '~', ' ', '0', '\u00e9', '\u4e2d', '\ue000', '\ufffd', '\uffff', '\u{1f600}', '\u{10000}', '\u{10ffff}'];

describe('name order', () => {
  test('compareNames agrees with the byte comparison on every pair of short names from a mixed pool', () => {
    const names = POOL.flatMap((x) => POOL.map((y) => x + y));
    const disagreements = names.flatMap((a) => names.filter((b) => Math.sign(compareNames(a, b)) !== Math.sign(byBytes(a, b))).map((b) => [a, b]));
    expect(disagreements).toEqual([]);
  });

  test('sortNames gives byte order with and without characters from U+D800 up', () => {
    const mixed = POOL.flatMap((x) => POOL.map((y) => y + x)).reverse();
    expect(sortNames([...mixed])).toEqual([...mixed].sort(byBytes));
    const ascii = ['b', 'a.ts', 'A', '_x', 'a', 'a-b', '.hidden'];
    expect(sortNames([...ascii])).toEqual([...ascii].sort(byBytes));
  });
});

/** Every name and dirent type of `dir`, read through readDirents on an open descriptor. */
async function streamed(dir: string, stream?: boolean): Promise<Array<[string, string]>> {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const out: Array<[string, string]> = [];
    for await (const batch of readDirents(fd, dir, { stream })) for (let i = 0; i < batch.length; i++) out.push([batch.name(i), batch.type(i)]);
    return out.sort((a, b) => compareNames(a[0], b[0]));
  } finally {
    closeSync(fd);
  }
}

// Newlines, a tab, Latin, CJK, characters past U+FFFF, U+FFFF itself, a lone dot prefix and backslashes.
const ODD_NAMES = ['a\nb', 'tab\there', '\u00e9t\u00e9', '\u4e2d\u6587', '\u{1f600}smile', '\u{10ffff}', '\uffff', '.hidden', '..two', 'back\\slash', ' lead'];

describe('streamed directory reader', () => {
  test('gives the same names as readdir, odd ones included, across many 64 KiB reads, and again when read a second time', async () => {
    expect(canStreamNames()).toBe(process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64'));
    using t = tree();
    for (const n of ODD_NAMES) writeFileSync(join(t.ws, n), '');
    // 3000 names of ~150 bytes: about 500 KB of records, so many getdents64 reads.
    for (let i = 0; i < 3000; i++) writeFileSync(join(t.ws, `${String(i).padStart(140, '0')}-\u00fc`), '');
    mkdirSync(join(t.ws, 'sub'));
    symlinkSync('/etc', join(t.ws, 'link'));
    const expected = sortNames(readdirSync(t.ws));
    const first = await streamed(t.ws);
    expect(first.map(([n]) => n)).toEqual(expected);
    expect(Object.fromEntries(first.filter(([n]) => ['sub', 'link', 'a\nb'].includes(n)))).toEqual({ sub: 'directory', link: 'symlink', 'a\nb': 'file' });
    expect(await streamed(t.ws)).toEqual(first);
    // Without getdents64 (another platform, no libc): readdir's names, in one batch.
    expect(await streamed(t.ws, false)).toEqual(first);
  });

  test('a getdents64 record with d_type DT_UNKNOWN reads as unknown; "." and ".." are left out', () => {
    const records = [
      { name: '.', dtype: 4 },
      { name: '..', dtype: 4 },
      { name: 'plain', dtype: 0 },
      { name: '\u{1f600}', dtype: 8 },
      { name: 'd', dtype: 4 },
      { name: '..x', dtype: 10 },
    ];
    const buf = Buffer.alloc(4096);
    let off = 0;
    for (const r of records) {
      const name = Buffer.from(r.name);
      const reclen = Math.ceil((19 + name.length + 1) / 8) * 8;
      buf.writeBigUInt64LE(1n, off);
      buf.writeBigInt64LE(BigInt(off + reclen), off + 8);
      buf.writeUInt16LE(reclen, off + 16);
      buf[off + 18] = r.dtype;
      name.copy(buf, off + 19);
      off += reclen;
    }
    const batch = DirentBatch.forBuffer(buf).fill(off);
    const read = Array.from({ length: batch.length }, (_, i) => [batch.name(i), batch.type(i)]);
    expect(read).toEqual([
      ['plain', 'unknown'],
      ['\u{1f600}', 'file'],
      ['d', 'directory'],
      ['..x', 'symlink'],
    ]);
  });
});

async function names(c: Confiner, start: string, opts: WalkOptions): Promise<string[]> {
  const out: string[] = [];
  for await (const e of walk(c, start, opts)) out.push(`${e.rel}${e.type === 'directory' ? '/' : ''}`);
  return out;
}

const visible = (e: EntryFacts) => !e.name.startsWith('.') && e.ignore !== 'ignore';

// A compiled rule takes a few KiB of the server's memory, and a walk holds every .gitignore it read until it ends: 30
// planted files of 10 000 rules each took one search to 2.4 GB. A walk compiles MAX_RULES_PER_WALK in all; the files
// met after that count as none.
describe('the rules one walk compiles', () => {
  test('stop at MAX_RULES_PER_WALK over every .gitignore it reads; the files after that count as none, in both orders', async () => {
    using t = tree();
    const half = Array.from({ length: MAX_RULES_PER_WALK / 2 }, (_, i) => `*.r${i}`).join('\n');
    for (const d of ['a', 'b', 'c']) {
      mkdirSync(join(t.ws, d));
      writeFileSync(join(t.ws, d, '.gitignore'), `${half}\nhidden.txt\n`);
      writeFileSync(join(t.ws, d, 'hidden.txt'), '');
    }
    const c = new Confiner(t.ws);
    for (const order of ['breadth-first', 'depth-first'] as const) {
      const listed = await names(c, c.roots[0]!, { order, maxDepth: 2, gitignore: true, accept: visible });
      // a's file is read whole (5001 rules), b's up to the budget (its last rule, hidden.txt, is past it), c's not at all.
      expect(listed.filter((n) => n.endsWith('hidden.txt'))).toEqual(['b/hidden.txt', 'c/hidden.txt']);
    }
  });
});

// search_files matches its glob in accept, on every entry: a costly glob over hundreds of long names held the event
// loop for tens of seconds. Other work runs between slices of it (an order of events: ticks seen while accept runs).
describe('a costly accept', () => {
  test('runs in slices: other work gets its turn between entries, in both orders', async () => {
    using t = tree();
    for (let i = 0; i < 100; i++) writeFileSync(join(t.ws, `f${i}`), '');
    const c = new Confiner(t.ws);
    for (const order of ['breadth-first', 'depth-first'] as const) {
      let ticks = 0;
      let walking = true;
      const tick = () => {
        ticks++;
        if (walking) setImmediate(tick);
      };
      setImmediate(tick);
      const seen: number[] = [];
      const accept = () => {
        seen.push(ticks);
        const until = performance.now() + 2;
        while (performance.now() < until);
        return false;
      };
      for await (const _ of walk(c, c.roots[0]!, { order, maxDepth: 1, gitignore: false, accept }));
      walking = false;
      expect({ order, calls: seen.length, ticksWhileAccepting: seen.at(-1)! - seen[0]! > 0 }).toEqual({ order, calls: 100, ticksWhileAccepting: true });
    }
  });
});

// A directory is sorted a run at a time and merged, the event loop served between: 150 000 names sharing a long
// prefix, sorted whole, held it 1.46 s. The order must be the one sorted whole.
describe('a large directory', () => {
  test('comes in byte order, the same as sorted whole, across many sorted runs, with characters from U+D800 up among them', async () => {
    using t = tree();
    const pool = ['a', 'B', '~', '0', '\u00e9', '\u4e2d', '\ue000', '\uffff', '\u{1f600}', '\u{10000}'];
    const names = new Set<string>();
    for (let i = 0; names.size < 3000; i++) names.add(`${pool[i % pool.length]}${pool[(i * 7) % pool.length]}${(i * 7919) % 100_003}`);
    for (const name of names) writeFileSync(join(t.ws, name), '');
    const c = new Confiner(t.ws);
    const walked: string[] = [];
    for await (const e of walk(c, c.roots[0]!, { order: 'depth-first', maxDepth: 1, gitignore: false, accept: () => true })) walked.push(e.name);
    expect(walked).toEqual(sortNames([...names]));
    expect(walked.every((n, i) => i === 0 || byBytes(walked[i - 1]!, n) < 0)).toBe(true);
  });
});

// A walk that yields nothing (every name hidden or ignored) gave its caller no chance to look at the time or its
// client: the built-in search checked its deadline only per file found.
describe('a walk that is told to stop', () => {
  test('ends with WalkStopped once its signal is aborted or its deadline passed, in both orders, yielding nothing or not', async () => {
    using t = tree();
    for (let i = 0; i < 50; i++) writeFileSync(join(t.ws, `.h${i}`), '');
    const c = new Confiner(t.ws);
    const reasons: string[] = [];
    for (const order of ['breadth-first', 'depth-first'] as const) {
      for (const stop of [{ signal: AbortSignal.abort() }, { deadline: performance.now() - 1 }]) {
        try {
          for await (const _ of walk(c, c.roots[0]!, { order, maxDepth: 1, gitignore: false, accept: visible, ...stop }));
          reasons.push('ran to its end');
        } catch (err) {
          reasons.push(err instanceof WalkStopped ? err.reason : String(err));
        }
      }
    }
    expect(reasons).toEqual(['cancelled', 'deadline', 'cancelled', 'deadline']);
  });
});

describe('a walk with a limit', () => {
  test('gives the first N accepted entries in byte order, hidden and gitignored names skipped before the cap, as the unlimited walk does', async () => {
    using t = tree();
    writeFileSync(join(t.ws, '.gitignore'), '*.log\nbuild/\n');
    // Skipped names that sort first: hidden ones, ignored files, an ignored directory (but a file named build is kept).
    for (const n of ['.a', '.b', 'a.log', 'b.log', '0.log']) writeFileSync(join(t.ws, n), '');
    mkdirSync(join(t.ws, 'build'));
    mkdirSync(join(t.ws, 'sub'));
    for (const n of ['x', '.y', 'z.log', '\u{1f600}']) writeFileSync(join(t.ws, 'sub', n), '');
    for (const n of ['b', 'a\nb', '\u00e9', '\uffff', '\u{10000}', 'B', '1', 'c.txt']) writeFileSync(join(t.ws, n), '');
    const c = new Confiner(t.ws);
    const base: WalkOptions = { order: 'breadth-first', maxDepth: 2, gitignore: true, accept: visible };
    const all = await names(c, c.roots[0]!, base);
    expect(all).toEqual(['1', 'B', 'a\nb', 'b', 'c.txt', 'sub/', '\u00e9', '\uffff', '\u{10000}', 'sub/x', 'sub/\u{1f600}']);
    for (let limit = 1; limit <= all.length + 1; limit++) expect(await names(c, c.roots[0]!, { ...base, limit })).toEqual(all.slice(0, limit));
    const deep = { ...base, order: 'depth-first' as const };
    const allDeep = await names(c, c.roots[0]!, deep);
    for (let limit = 1; limit <= allDeep.length + 1; limit++) expect(await names(c, c.roots[0]!, { ...deep, limit })).toEqual(allDeep.slice(0, limit));
  });

  test('a listing taking N + 1 sees the (N + 1)th only when that many accepted entries exist, however many skipped ones lie between', async () => {
    using t = tree();
    const c = new Confiner(t.ws);
    for (let i = 0; i < 50; i++) writeFileSync(join(t.ws, `.h${i}`), '');
    for (const n of ['a', 'b', 'c']) writeFileSync(join(t.ws, n), '');
    const opts: WalkOptions = { order: 'breadth-first', maxDepth: 1, gitignore: false, accept: visible, limit: 4 };
    expect(await names(c, c.roots[0]!, opts)).toEqual(['a', 'b', 'c']);
    writeFileSync(join(t.ws, 'zz'), '');
    expect(await names(c, c.roots[0]!, opts)).toEqual(['a', 'b', 'c', 'zz']);
    writeFileSync(join(t.ws, '0'), '');
    expect(await names(c, c.roots[0]!, opts)).toEqual(['0', 'a', 'b', 'c']);
  });

  test('a kept name gone or turned into a symlink before its lstat leaves no gap: the directory is read again past the last kept name', async () => {
    using t = tree();
    const c = new Confiner(t.ws);
    for (const n of ['a', 'b', 'd', 'e', 'f']) writeFileSync(join(t.ws, n), '');
    mkdirSync(join(t.ws, 'c'));
    let changed = false;
    const accept = (e: EntryFacts) => {
      if (e.name === 'f' && !changed) {
        // Between the read of the names and the lstat of the kept ones: b vanishes, directory c becomes a link out.
        changed = true;
        unlinkSync(join(t.ws, 'b'));
        rmSync(join(t.ws, 'c'), { recursive: true });
        symlinkSync(t.outside, join(t.ws, 'c'));
      }
      return e.type !== 'symlink';
    };
    const seen: string[] = [];
    for await (const e of walk(c, c.roots[0]!, { order: 'breadth-first', maxDepth: 3, gitignore: false, accept, limit: 3 })) seen.push(`${e.rel}:${e.type}`);
    expect(changed).toBe(true);
    expect(seen).toEqual(['a:file', 'd:file', 'e:file']);
  });
});
