/**
 * search_files gives the same results with and without ripgrep: the two
 * engines side by side over one fixture tree that has every case they could
 * disagree on (nested and negated .gitignore rules, hidden files, binaries,
 * symlinks, hard links, size limit, sort order, CRLF, BOM, multibyte text),
 * then two real servers whose only difference is whether `rg` is on PATH.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, linkSync, mkdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CallContext } from '../../src/core/context.ts';
import { LocalSpawner } from '../../src/exec/local-spawner.ts';
import { searchFilesTool } from '../../src/tools/files/search-files.ts';
import { confirmLines } from '../../src/tools/files/search-rg.ts';
import type { ToolDefinition } from '../../src/tools/types.ts';
import { Confiner } from '../../src/workspace/confine.ts';
import { callAt, startServerProcess, type Tree, tree } from './helpers.ts';

const RG = Bun.which('rg');
const LIMITS = { maxFileBytes: 64 * 1024, maxWriteBytes: 64 * 1024 };

function fixture(ws: string, outside: string): void {
  const put = (rel: string, content: string | Buffer) => {
    mkdirSync(dirname(join(ws, rel)), { recursive: true });
    writeFileSync(join(ws, rel), content);
  };
  put('.gitignore', 'dist/\n*.log\n/build\n!important.log\n');
  put('a.ts', 'export const needle = 1; // TODO first\n');
  put('a-b.ts', 'needle in a-b\n');
  put('a/b.ts', 'needle in a/b\nanother needle\n');
  put('a/ü.ts', 'naïve needle — ünïcode ✓ needle\n');
  put('B.md', '# Needle upper\nneedle lower\n');
  put('src/main.ts', 'function main() {\n  return needle; // TODO second\n}\n');
  put('src/.gitignore', 'generated/\n*.gen.ts\n!keep.gen.ts\n');
  put('src/generated/g.ts', 'needle generated\n');
  put('src/x.gen.ts', 'needle gen\n');
  put('src/keep.gen.ts', 'needle keep gen\n');
  put('src/nested/deep/c.ts', 'const x = 123; needle 456\n');
  put('dist/out.js', 'needle in dist\n');
  put('build/b.txt', 'needle in root build\n');
  put('sub/build/b.txt', 'needle in sub build\n');
  put('logs/app.log', 'needle log\n');
  put('logs/important.log', 'needle important\n');
  put('.hidden/h.ts', 'needle hidden\n');
  put('.env', 'NEEDLE=1 needle\n');
  put('.git/config', 'needle git\n');
  put('crlf.txt', 'needle one\r\nneedle two\r\n');
  put('bom.txt', '\ufeffneedle after bom\n');
  put('latin1.txt', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('abc needle\n')]));
  put('noeol.txt', 'last needle');
  put('long.txt', `${'x'.repeat(900)}needle${'y'.repeat(900)}\n`);
  put('spaces in name.txt', 'needle spaced\n');
  put('bin-early.dat', Buffer.concat([Buffer.from('needle\n'), Buffer.from([0, 1, 2])]));
  put('bin-late.dat', Buffer.concat([Buffer.from('needle\n'.repeat(3000)), Buffer.from([0])]));
  put('too-big.txt', `needle\n${'z'.repeat(70 * 1024)}\n`);
  put('many.txt', Array.from({ length: 50 }, (_, i) => `needle ${i}`).join('\n'));
  put('CASE.txt', 'NEEDLE shouting\nNeedle title\n');
  writeFileSync(join(outside, 'secret.txt'), 'needle outside\n');
  symlinkSync(join(outside, 'secret.txt'), join(ws, 'link-out.txt'));
  symlinkSync(join(ws, 'a.ts'), join(ws, 'link-in.ts'));
  symlinkSync(outside, join(ws, 'link-dir'));
  linkSync(join(outside, 'secret.txt'), join(ws, 'hard.txt'));
  Bun.spawnSync(['mkfifo', join(ws, 'fifo')]);
}

const QUERIES: Array<Record<string, unknown>> = [
  { pattern: 'needle' },
  { pattern: 'needle', maxResults: 3 },
  { pattern: 'needle', maxResults: 40 },
  { pattern: 'needle', caseSensitive: false },
  { pattern: 'TODO\\s+\\w+' },
  { pattern: '^\\s*return' },
  { pattern: '[0-9]{3}' },
  { pattern: 'ünïcode|✓' },
  { pattern: 'needle$' },
  { pattern: 'y$' },
  { pattern: 'needle', path: 'src' },
  { pattern: 'needle', path: 'src/nested' },
  { pattern: 'needle', path: 'logs' },
  { pattern: 'needle', path: 'a/b.ts' },
  { pattern: 'needle', path: '.hidden' },
  { pattern: 'needle', path: 'dist' },
  { pattern: 'needle', glob: '*.ts' },
  { pattern: 'needle', glob: '!*.ts' },
  { pattern: 'needle', glob: 'src/**' },
  { pattern: 'needle', glob: '*.log' },
  { pattern: 'needle', glob: '.env' },
  { pattern: 'needle', glob: '*.ts', path: 'src' },
  // Alternations, as ripgrep's globs have them: the built-in engine read the braces literally and found nothing.
  { pattern: 'needle', glob: '*.{ts,log}' },
  { pattern: 'needle', glob: '{src,logs}/**' },
  { pattern: 'needle', glob: '!*.{ts,log}' },
  { pattern: 'needle', glob: '{src/**/*.ts,.env}' },
  { pattern: 'needle', glob: '{src/nested/deep/*.ts,b.ts}' },
  { pattern: 'nothing-matches-this' },
  { pattern: '(' },
  { pattern: '(?=x)needle' },
];

const ctx: CallContext = {
  clientId: 'test',
  clientIp: '127.0.0.1',
  apiKeyHash: null,
  correlationId: 'c',
  transport: 'http',
  signal: new AbortController().signal,
  allowedTools: null,
  readOnly: false,
};

async function run(tool: ToolDefinition, args: Record<string, unknown>): Promise<Record<string, any>> {
  const out = await tool.handler({ args, ctx, correlationId: 'c' });
  const { engine: _engine, ...rest } = out.structured;
  return { ...rest, isError: out.isError };
}

describe.skipIf(RG === null)('the two engines over one fixture tree', () => {
  let t: Tree;
  let withRg: ToolDefinition;
  let builtin: ToolDefinition;
  beforeAll(() => {
    t = tree();
    fixture(t.ws, t.outside);
    const confiner = new Confiner(t.ws);
    withRg = searchFilesTool(confiner, LIMITS, { rgPath: RG, spawner: new LocalSpawner() });
    builtin = searchFilesTool(confiner, LIMITS, { rgPath: null, spawner: new LocalSpawner() });
  });
  afterAll(() => t[Symbol.dispose]());

  test.each(QUERIES.map((q) => [JSON.stringify(q), q] as const))('%s', async (_, q) => {
    const [a, b] = await Promise.all([run(withRg, q), run(builtin, q)]);
    expect(b).toEqual(a);
  });

  test('each tool reports its engine', async () => {
    const engineOf = async (tool: ToolDefinition) => (await tool.handler({ args: { pattern: 'x' }, ctx, correlationId: 'c' })).structured.engine;
    expect([await engineOf(withRg), await engineOf(builtin)]).toEqual(['ripgrep', 'builtin']);
  });

  test('what both engines find for the whole tree, spelled out', async () => {
    const r = await run(builtin, { pattern: 'needle', maxResults: 1000 });
    const files = [...new Set((r.matches as Array<{ path: string }>).map((m) => m.path))];
    // Path order as `rg --sort path` walks: names in byte order, depth first ("a" before "a-b.ts" before "a.ts").
    expect(files).toEqual([
      'B.md',
      'a/b.ts',
      'a/ü.ts',
      'a-b.ts',
      'a.ts',
      'bom.txt',
      'crlf.txt',
      'latin1.txt',
      'logs/important.log',
      'long.txt',
      'many.txt',
      'noeol.txt',
      'spaces in name.txt',
      'src/keep.gen.ts',
      'src/main.ts',
      'src/nested/deep/c.ts',
      'sub/build/b.txt',
    ]);
    const find = (path: string) => (r.matches as any[]).filter((m) => m.path === path);
    expect(find('a/ü.ts')).toEqual([{ path: 'a/ü.ts', line: 1, column: 7, text: 'naïve needle — ünïcode ✓ needle' }]);
    expect(find('crlf.txt')[1]).toEqual({ path: 'crlf.txt', line: 2, column: 1, text: 'needle two' });
    expect(find('long.txt')[0].text).toHaveLength(500);
    expect(find('long.txt')[0].column).toBe(901);
    // Invalid UTF-8 counts as one U+FFFD per bad byte, whether the column comes from ripgrep's byte offset or from JavaScript.
    expect(find('latin1.txt')).toEqual([{ path: 'latin1.txt', line: 1, column: 7, text: '\ufffd\ufffdabc needle' }]);
    expect(find('bom.txt')).toEqual([{ path: 'bom.txt', line: 1, column: 2, text: '\ufeffneedle after bom' }]);
  });

  test('a refused start path is refused the same way by both', async () => {
    for (const path of ['hard.txt', 'link-dir', '../outside', 'too-big.txt', 'missing']) {
      const [a, b] = await Promise.all([run(withRg, { pattern: 'needle', path }), run(builtin, { pattern: 'needle', path })]);
      expect(a.isError).toBe(true);
      expect(b).toEqual(a);
    }
  });
});

describe.skipIf(RG === null)('a ripgrep search whose client goes away', () => {
  test('stops confirming what ripgrep reported, and says it was cancelled', async () => {
    using t = tree();
    for (let i = 0; i < 200; i++) writeFileSync(join(t.ws, `f${i}.txt`), 'needle\n');
    const controller = new AbortController();
    // The real spawner; the client goes away the moment ripgrep has answered, before its reports are read again.
    const local = new LocalSpawner();
    const spawner = Object.assign(Object.create(local), {
      run: async (...args: Parameters<LocalSpawner['run']>) => {
        const out = await local.run(...args);
        controller.abort();
        return out;
      },
    }) as LocalSpawner;
    const tool = searchFilesTool(new Confiner(t.ws), LIMITS, { rgPath: RG, spawner });
    const out = await tool.handler({ args: { pattern: 'needle', maxResults: 1000 }, ctx: { ...ctx, signal: controller.signal }, correlationId: 'c' });
    expect(out.structured).toMatchObject({ truncated: true, error: 'search cancelled' });
    expect((out.structured.matches as unknown[]).length).toBeLessThan(200);
  });
});

// ripgrep reads a .gitignore whole: one linked to a device, or one of hundreds of MiB (planted, or caught while a
// command grows it), has it read until it dies (a memory limit, the kernel's killer). The search said "no matches,
// no error" for the whole tree; the built-in engine, which counts such a file as none, answers instead now.
describe.skipIf(RG === null)('ripgrep dying before it finishes', () => {
  test('hands the search to the built-in engine, which answers for the whole tree (a .gitignore linked to /dev/zero, one of 256 MiB of holes)', async () => {
    using t = tree();
    writeFileSync(join(t.ws, 'found.txt'), 'needle\n');
    mkdirSync(join(t.ws, 'zero'));
    symlinkSync('/dev/zero', join(t.ws, 'zero', '.gitignore'));
    writeFileSync(join(t.ws, 'zero', 'inside.txt'), 'needle\n');
    mkdirSync(join(t.ws, 'holes'));
    writeFileSync(join(t.ws, 'holes', '.gitignore'), 'inside.txt\n');
    truncateSync(join(t.ws, 'holes', '.gitignore'), 256 * 1024 * 1024);
    writeFileSync(join(t.ws, 'holes', 'inside.txt'), 'needle\n');
    // Sandboxed, with no memory setting: ripgrep has a limit of its own there (it grew to 2.4 GB in 16 s before).
    await using server = await startServerProcess(t, { PATH: dirname(RG!), HIDE_SANDBOX: 'required' });
    for (const path of ['zero', 'holes']) {
      const r = await callAt(server.url, 'search_files', { pattern: 'needle', path });
      expect({ path, engine: r.engine, matches: r.matches.map((m: { path: string }) => m.path), truncated: r.truncated, error: r.error }).toEqual({ path, engine: 'builtin', matches: [`${path}/inside.txt`], truncated: false, error: null });
    }
    const whole = await callAt(server.url, 'search_files', { pattern: 'needle' });
    expect(whole.matches.map((m: { path: string }) => m.path)).toEqual(['found.txt', 'holes/inside.txt', 'zero/inside.txt']);
    // Where ripgrep lives, a tree without such a file is still its.
    expect((await callAt(server.url, 'search_files', { pattern: 'needle', path: 'found.txt' })).engine).toBe('ripgrep');
    // Each of the three ripgreps reads up to its memory limit before it dies: about a second each, alone.
  }, 60_000);
});

// ripgrep opens a .gitignore by its path: linked to its own output, reopened through /proc, a pipe's new read end
// waited for output ripgrep itself never wrote, and every search of the tree stopped at the 60-s deadline with no
// answer. Its output is a socket now, as Bun.spawn gives one, which cannot be opened again (ENXIO).
describe.skipIf(RG === null)('a .gitignore linked to ripgrep\'s own output', () => {
  test('is read as no file: the search answers at once, with its matches', async () => {
    using t = tree();
    for (const [dir, target] of [['fd1', '/proc/self/fd/1'], ['fd2', '/proc/self/fd/2'], ['stdout', '/dev/stdout'], ['stderr', '/dev/stderr']]) {
      mkdirSync(join(t.ws, dir!));
      symlinkSync(target!, join(t.ws, dir!, '.gitignore'));
      writeFileSync(join(t.ws, dir!, 'inside.txt'), 'needle\n');
    }
    await using server = await startServerProcess(t, { PATH: dirname(RG!), HIDE_SANDBOX: 'required' });
    const r = await callAt(server.url, 'search_files', { pattern: 'needle' });
    expect({ engine: r.engine, error: r.error, matches: r.matches.map((m: { path: string }) => m.path) }).toEqual({
      engine: 'ripgrep',
      error: null,
      matches: ['fd1/inside.txt', 'fd2/inside.txt', 'stderr/inside.txt', 'stdout/inside.txt'],
    });
  });
});

// ripgrep names a file it cannot read on stderr, and exits 2: a file a client named `glob` or `regex` made every
// search of the tree that found nothing report a rejected glob or pattern.
describe.skipIf(RG === null || process.getuid?.() !== 0)('files ripgrep cannot read, named like its own errors', () => {
  test('are not taken for a rejected glob or pattern', async () => {
    using t = tree();
    for (const name of ['glob', 'regex', 'parse error']) {
      writeFileSync(join(t.ws, name), 'secret\n');
      chmodSync(join(t.ws, name), 0);
    }
    // Sandboxed, a root server's ripgrep holds no capability: mode 000 is unreadable to it.
    await using server = await startServerProcess(t, { PATH: dirname(RG!), HIDE_SANDBOX: 'required' });
    for (const args of [{ pattern: 'nothing-here' }, { pattern: 'nothing-here', glob: '*' }]) {
      const r = await callAt(server.url, 'search_files', args);
      expect({ engine: r.engine, matches: r.matches, error: r.error }).toEqual({ engine: 'ripgrep', matches: [], error: null });
    }
  });
});

describe('names that are not UTF-8', () => {
  test('are left out of both engines\' searches: decoded, they would name another file (a listing shows them, lossily spelt)', async () => {
    using t = tree();
    writeFileSync(Buffer.from(`${t.ws}/bad\xff.txt`, 'latin1'), 'needle in the undecodable one\n');
    writeFileSync(Buffer.from(`${t.ws}/bad\xfe.txt`, 'latin1'), 'needle in the other undecodable one\n');
    writeFileSync(join(t.ws, 'bad\ufffd.txt'), 'needle in the one really named so\n');
    mkdirSync(Buffer.from(`${t.ws}/dir\xff`, 'latin1'));
    writeFileSync(Buffer.from(`${t.ws}/dir\xff/inner.txt`, 'latin1'), 'needle inside\n');
    const confiner = new Confiner(t.ws);
    const engines = [searchFilesTool(confiner, LIMITS, { rgPath: null, spawner: new LocalSpawner() }), ...(RG === null ? [] : [searchFilesTool(confiner, LIMITS, { rgPath: RG, spawner: new LocalSpawner() })])];
    for (const engine of engines) {
      const r = await run(engine, { pattern: 'needle', maxResults: 100 });
      expect(r.matches.map((m: { path: string; text: string }) => [m.path, m.text])).toEqual([['bad\ufffd.txt', 'needle in the one really named so']]);
    }
  });
});

describe('ripgrep nominates; the file as read through the verified open decides', () => {
  test('a line is reported only when its bytes are the bytes ripgrep matched; the column is ripgrep\'s offset on them', () => {
    const file = Buffer.from('one needle\nchanged since\nthree ✓ needle\r\n');
    const nominated = [
      { line: 1, bytes: Buffer.from('one needle'), start: 4 },
      // The file changed after ripgrep read it: not reported.
      { line: 2, bytes: Buffer.from('two needle'), start: 4 },
      { line: 3, bytes: Buffer.from('three ✓ needle\r'), start: 10 },
      // Past the end of the file as read here.
      { line: 4, bytes: Buffer.from(''), start: 0 },
    ];
    expect(confirmLines('f.txt', file, nominated, 10)).toEqual([
      { path: 'f.txt', line: 1, column: 5, text: 'one needle' },
      { path: 'f.txt', line: 3, column: 9, text: 'three ✓ needle' },
    ]);
  });
});

describe('two real servers, the same tree, rg on PATH or not', () => {
  test('the same matches, and each reports its engine', async () => {
    using t = tree();
    fixture(t.ws, t.outside);
    await using plain = await startServerProcess(t, { PATH: '/nonexistent' });
    const servers = RG === null ? [plain] : [plain, await startServerProcess(t, { PATH: dirname(RG) })];
    try {
      const engines: string[] = [];
      const answers: unknown[][] = [];
      for (const s of servers) {
        const rows: unknown[] = [];
        for (const q of QUERIES) {
          const { engine, ...rest } = await callAt(s.url, 'search_files', q);
          if (!engines.includes(engine)) engines.push(engine);
          rows.push(rest);
        }
        answers.push(rows);
      }
      expect(engines).toEqual(RG === null ? ['builtin'] : ['builtin', 'ripgrep']);
      if (answers.length === 2) expect(answers[1]).toEqual(answers[0]!);
    } finally {
      if (servers[1]) await servers[1][Symbol.asyncDispose]();
    }
  }, 60_000);
});
