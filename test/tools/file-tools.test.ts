/**
 * The file tools' behaviour through the real server: result shapes, paging,
 * refusals with a clear message, edit_file's all-or-none rule, annotations,
 * and audit lines that hold a content hash instead of the content.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash, createHmac } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditLines, type Server, startServer, type Tree, tree } from './helpers.ts';

let t: Tree;
let s: Server;
beforeAll(async () => {
  t = tree();
  // The body limit (default 4 MiB) is raised so the tool's own 10 MiB content limit is what refuses.
  s = await startServer(t, { HIDE_MAX_BODY_BYTES: String(32 * 1024 * 1024) });
});
afterAll(async () => {
  await s.stop();
  t[Symbol.dispose]();
});

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

describe('tools/list', () => {
  test('each file tool is listed with its annotations and a described schema', async () => {
    const r = await s.rpc('tools/list');
    const tools = Object.fromEntries((r.body.result.tools as any[]).map((x) => [x.name, x]));
    expect(tools.read_file.annotations).toEqual({ title: 'Read a file', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false });
    expect(tools.write_file.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false });
    expect(tools.edit_file.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false });
    expect(tools.list_directory.annotations).toMatchObject({ readOnlyHint: true, openWorldHint: false });
    expect(tools.search_files.annotations).toMatchObject({ readOnlyHint: true, openWorldHint: false });
    expect(tools.read_file.inputSchema.properties.offset.description).toContain('1-based');
    expect(tools.write_file.inputSchema.required).toEqual(['path', 'content']);
  });
});

// The kernel shows a removed file's descriptor as its name plus " (deleted)"; a name may end so itself, and such a
// file, or a directory's whole tree, was refused by every tool and skipped by searches without a word.
describe('a name ending in " (deleted)"', () => {
  test('is read, edited, written into and searched like any other', async () => {
    mkdirSync(join(t.ws, 'src (deleted)'));
    expect((await s.call('write_file', { path: 'src (deleted)/notes (deleted)', content: 'needle here\n' })).error).toBeNull();
    expect((await s.call('read_file', { path: 'src (deleted)/notes (deleted)' })).content).toBe('needle here\n');
    expect((await s.call('edit_file', { path: 'src (deleted)/notes (deleted)', edits: [{ oldText: 'here', newText: 'there' }] })).error).toBeNull();
    const found = await s.call('search_files', { pattern: 'needle', path: 'src (deleted)' });
    expect({ matches: found.matches, error: found.error }).toEqual({ matches: [{ path: 'src (deleted)/notes (deleted)', line: 1, column: 1, text: 'needle there' }], error: null });
  });
});

describe('read_file', () => {
  test('pages by line with exact text, totals and truncation', async () => {
    writeFileSync(join(t.ws, 'lines.txt'), 'one\r\ntwo\nthree\nfour');
    expect(await s.call('read_file', { path: 'lines.txt' })).toEqual({
      path: 'lines.txt',
      content: 'one\r\ntwo\nthree\nfour',
      startLine: 1,
      endLine: 4,
      totalLines: 4,
      truncated: false,
      error: null,
      isError: false,
    });
    expect(await s.call('read_file', { path: 'lines.txt', offset: 2, limit: 2 })).toMatchObject({ content: 'two\nthree\n', startLine: 2, endLine: 3, totalLines: 4, truncated: true });
    expect((await s.call('read_file', { path: 'lines.txt', offset: 9 })).error).toBe("offset 9 is past the end of 'lines.txt', which has 4 lines");
  });

  test('an empty file reads as no lines', async () => {
    writeFileSync(join(t.ws, 'empty'), '');
    expect(await s.call('read_file', { path: 'empty' })).toMatchObject({ content: '', totalLines: 0, truncated: false, isError: false });
  });

  // Each control character is six characters of JSON, and the answer carries the content twice: 600 KiB of them made
  // a 6.8 MB answer. The cap counts what the text costs as JSON; ordinary text reads as before, a line cut is cut whole.
  test('the cap counts what the text costs as JSON: control characters make a read shorter, never a larger answer', async () => {
    const control = '\x01'.repeat(1000);
    writeFileSync(join(t.ws, 'control.txt'), `${control}\n`.repeat(600));
    writeFileSync(join(t.ws, 'oneline.txt'), '\x01'.repeat(600 * 1024));
    writeFileSync(join(t.ws, 'plain.txt'), `${'a'.repeat(1000)}\n`.repeat(500));
    const read = (path: string) => s.call('read_file', { path, limit: 100_000 });
    const [lines, oneLine, plain] = await Promise.all([read('control.txt'), read('oneline.txt'), read('plain.txt')]);
    // 1 MiB of JSON at most: 174 lines of 1001 characters at six each.
    expect([lines.endLine, lines.truncated, lines.content.length]).toEqual([174, true, 174 * 1001]);
    expect([oneLine.endLine, oneLine.truncated, oneLine.content.length]).toEqual([1, true, Math.floor((1024 * 1024) / 6)]);
    expect([plain.endLine, plain.truncated]).toEqual([500, false]);
  });

  test('refuses binaries, oversized files and directories with a message that says so', async () => {
    writeFileSync(join(t.ws, 'bin'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]));
    writeFileSync(join(t.ws, 'big'), Buffer.alloc(10 * 1024 * 1024 + 1, 0x61));
    mkdirSync(join(t.ws, 'adir'));
    expect((await s.call('read_file', { path: 'bin' })).error).toContain('looks binary');
    expect((await s.call('read_file', { path: 'big' })).error).toContain('over the 10 MiB read limit');
    expect((await s.call('read_file', { path: 'adir' })).error).toContain('is a directory');
    expect((await s.call('read_file', { path: 'missing.txt' })).error).toBe("path 'missing.txt' does not exist");
  });
});

describe('write_file', () => {
  test('creates with parents, replaces, and createOnly refuses to replace', async () => {
    expect(await s.call('write_file', { path: 'w/deep/er/a.txt', content: 'héllo\n' })).toEqual({
      path: 'w/deep/er/a.txt',
      bytes: 7,
      sha256: sha('héllo\n'),
      created: true,
      error: null,
      isError: false,
    });
    expect((await s.call('write_file', { path: 'w/deep/er/a.txt', content: 'v2' })).created).toBe(false);
    const again = await s.call('write_file', { path: 'w/deep/er/a.txt', content: 'v3', createOnly: true });
    expect(again).toMatchObject({ isError: true, error: "path 'w/deep/er/a.txt' already exists (createOnly)" });
    expect(readFileSync(join(t.ws, 'w/deep/er/a.txt'), 'utf8')).toBe('v2');
    expect(readdirSync(join(t.ws, 'w/deep/er'))).toEqual(['a.txt']);
  });

  test('refuses a symlink at the last component even when it points inside', async () => {
    writeFileSync(join(t.ws, 'target.txt'), 'keep');
    symlinkSync(join(t.ws, 'target.txt'), join(t.ws, 'alias.txt'));
    expect((await s.call('write_file', { path: 'alias.txt', content: 'x' })).error).toContain('is a symlink');
    expect(readFileSync(join(t.ws, 'target.txt'), 'utf8')).toBe('keep');
  });

  test('refuses content over the write limit', async () => {
    const r = await s.call('write_file', { path: 'huge.txt', content: 'a'.repeat(10 * 1024 * 1024 + 1) });
    expect(r.error).toContain('over the 10 MiB write limit');
    expect(readdirSync(t.ws)).not.toContain('huge.txt');
  });

  // A plain digest of a file holding one short secret (`Summer2024!` in a .pgpass, a PIN) was found again from the log
  // by hashing guesses: without the arguments key the log keeps the size alone; with it, a keyed digest.
  test('the audit line has path, bytes and createOnly — never the content, nor a plain digest of it', async () => {
    const content = 'audit-me-not: the content itself\n';
    const r = await s.call('write_file', { path: 'audited.txt', content, createOnly: true });
    expect(r.sha256).toBe(sha(content)); // the client's own answer keeps it
    await s.rt.audit.flush();
    const line = (await auditLines(t.audit)).findLast((l) => l.tool_name === 'write_file');
    expect({ arguments: line.arguments, result: line.result }).toEqual({ arguments: { path: 'audited.txt', bytes: content.length, createOnly: true }, result: { bytes: content.length, created: true, durationMs: expect.any(Number) } });
    const text = readFileSync(t.audit, 'utf8');
    expect({ content: text.includes('audit-me-not'), digest: text.includes(sha(content)) }).toEqual({ content: false, digest: false });
  });

  test('with HIDE_AUDIT_ARGUMENTS_KEY, write_file and edit_file record a digest of what they wrote under that key', async () => {
    using kt = tree();
    const key = 'k'.repeat(40);
    await using keyed = await startServer(kt, { HIDE_AUDIT_ARGUMENTS_KEY: key });
    const hmac = (text: string) => createHmac('sha256', key).update(text).digest('hex');
    await keyed.call('write_file', { path: 'k.txt', content: 'one\n' });
    await keyed.call('edit_file', { path: 'k.txt', edits: [{ oldText: 'one', newText: 'two' }] });
    await keyed.rt.audit.flush();
    const lines = await auditLines(kt.audit);
    expect(lines.find((l) => l.tool_name === 'write_file').arguments).toEqual({ path: 'k.txt', bytes: 4, content_hmac: hmac('one\n'), createOnly: false });
    expect(lines.find((l) => l.tool_name === 'edit_file').arguments).toEqual({ path: 'k.txt', edits: 1, dryRun: false, content_hmac: hmac('two\n') });
  });
});

describe('edit_file', () => {
  test('edits the file a link inside the workspace leads to, names it, and leaves the link a link', async () => {
    writeFileSync(join(t.ws, 'linked-target.txt'), 'hello world\n');
    symlinkSync('linked-target.txt', join(t.ws, 'linked-alias.txt'));
    const r = await s.call('edit_file', { path: 'linked-alias.txt', edits: [{ oldText: 'hello', newText: 'bye' }] });
    expect(r).toMatchObject({ isError: false, path: 'linked-target.txt', applied: 1 });
    expect(readFileSync(join(t.ws, 'linked-target.txt'), 'utf8')).toBe('bye world\n');
    expect(lstatSync(join(t.ws, 'linked-alias.txt')).isSymbolicLink()).toBe(true);
  });

  const original = 'alpha\nbeta\ngamma\nbeta\ndelta\n';

  test('applies several edits located in the original and returns a unified diff', async () => {
    writeFileSync(join(t.ws, 'e1.txt'), original);
    const r = await s.call('edit_file', {
      path: 'e1.txt',
      edits: [
        { oldText: 'alpha', newText: 'ALPHA' },
        { oldText: 'gamma\nbeta', newText: 'GAMMA\nBETA' },
      ],
    });
    expect(r).toMatchObject({ path: 'e1.txt', applied: 2, dryRun: false, failedEdits: [], error: null, isError: false });
    expect(r.diff).toBe('--- a/e1.txt\n+++ b/e1.txt\n@@ -1,5 +1,5 @@\n-alpha\n+ALPHA\n beta\n-gamma\n-beta\n+GAMMA\n+BETA\n delta\n');
    expect(readFileSync(join(t.ws, 'e1.txt'), 'utf8')).toBe('ALPHA\nbeta\nGAMMA\nBETA\ndelta\n');
  });

  test('a non-unique or missing oldText changes nothing and names each failing edit', async () => {
    writeFileSync(join(t.ws, 'e2.txt'), original);
    const r = await s.call('edit_file', {
      path: 'e2.txt',
      edits: [
        { oldText: 'alpha', newText: 'ok' },
        { oldText: 'beta', newText: 'x' },
        { oldText: 'epsilon', newText: 'y' },
      ],
    });
    expect(r.isError).toBe(true);
    expect(r.failedEdits).toEqual([
      { index: 1, matches: 2 },
      { index: 2, matches: 0 },
    ]);
    expect(r.error).toContain('edit 1: oldText matched more than once');
    expect(r.error).toContain('edit 2: oldText matched 0 times');
    expect(readFileSync(join(t.ws, 'e2.txt'), 'utf8')).toBe(original);
  });

  test('overlapping edits are refused; dryRun shows the diff and writes nothing', async () => {
    writeFileSync(join(t.ws, 'e3.txt'), original);
    const overlap = await s.call('edit_file', { path: 'e3.txt', edits: [{ oldText: 'alpha\nbeta\ng', newText: '' }, { oldText: 'gamma', newText: '' }] });
    expect(overlap.error).toContain('overlaps edit 0');
    const dry = await s.call('edit_file', { path: 'e3.txt', edits: [{ oldText: 'delta', newText: 'DELTA' }], dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, isError: false });
    expect(dry.diff).toContain('-delta\n+DELTA');
    expect(readFileSync(join(t.ws, 'e3.txt'), 'utf8')).toBe(original);
  });

  // Edits are found in the file's UTF-8 bytes (the runtime's string search is quadratic for some texts): each lands
  // on its characters among text of every width, and overlaps are judged as before.
  test('edits land on their characters among multi-byte text, placed in the original, in any order', async () => {
    const text = 'é1 𝄞 ab\n日本 ab 😀\nZ\u0301 end\n';
    writeFileSync(join(t.ws, 'e5.txt'), text);
    const r = await s.call('edit_file', {
      path: 'e5.txt',
      edits: [
        { oldText: 'end', newText: 'END' },
        { oldText: '😀', newText: ':)' },
        { oldText: '日本 ab', newText: 'にほん AB' },
        { oldText: 'é1 𝄞', newText: 'e1 G' },
      ],
    });
    expect(r).toMatchObject({ applied: 4, error: null });
    expect(readFileSync(join(t.ws, 'e5.txt'), 'utf8')).toBe('e1 G ab\nにほん AB :)\nZ\u0301 END\n');
    const twice = await s.call('edit_file', { path: 'e5.txt', edits: [{ oldText: ' ab', newText: '' }, { oldText: 'AB :)', newText: '' }, { oldText: ':)\nZ', newText: '' }] });
    expect(twice.failedEdits).toEqual([{ index: 2, matches: 1 }]);
    expect(twice.error).toContain('edit 2: oldText overlaps edit 1');
  });

  // An oldText the runtime's string search takes quadratic time over (a run of `a` with one `b` near its start, in a
  // file of `a`): 11 s of a held event loop for a 1 MB file, every client's requests waiting. In bytes it is linear.
  test("an oldText made to be slow to look for is answered at once, and the server answers others meanwhile", async () => {
    writeFileSync(join(t.ws, 'many-a.txt'), 'a'.repeat(4 * 1024 * 1024));
    const oldText = `${'a'.repeat(100)}b${'a'.repeat(20_000)}`;
    const [edit, health] = await Promise.all([s.call('edit_file', { path: 'many-a.txt', edits: [{ oldText, newText: '' }], dryRun: true }), fetch(`${s.url}/health`)]);
    expect({ failed: edit.failedEdits, health: health.status }).toEqual({ failed: [{ index: 0, matches: 0 }], health: 200 });
  });

  test('audited with the edit count, never the text nor a plain digest of the result', async () => {
    writeFileSync(join(t.ws, 'e4.txt'), 'secret-ish text\n');
    await s.call('edit_file', { path: 'e4.txt', edits: [{ oldText: 'secret-ish', newText: 'plain' }] });
    await s.rt.audit.flush();
    const line = (await auditLines(t.audit)).findLast((l) => l.tool_name === 'edit_file');
    expect({ arguments: line.arguments, result: line.result }).toEqual({ arguments: { path: 'e4.txt', edits: 1, dryRun: false }, result: { applied: 1, bytes: 11, dryRun: false, durationMs: expect.any(Number) } });
    expect(readFileSync(t.audit, 'utf8')).not.toContain(sha('plain text\n'));
    expect(readFileSync(t.audit, 'utf8')).not.toContain('secret-ish');
  });
});

describe('list_directory', () => {
  test('entries with type and size, hidden and gitignored ones on request, .git not descended, symlinks not followed', async () => {
    using u = tree();
    await using srv = await startServer(u);
    mkdirSync(join(u.ws, 'src/inner'), { recursive: true });
    writeFileSync(join(u.ws, 'src/a.ts'), 'abc');
    writeFileSync(join(u.ws, 'src/inner/b.ts'), 'b');
    writeFileSync(join(u.ws, '.env'), 'X=1');
    writeFileSync(join(u.ws, '.gitignore'), 'dist/\n');
    mkdirSync(join(u.ws, 'dist'));
    writeFileSync(join(u.ws, 'dist/out.js'), '');
    mkdirSync(join(u.ws, '.git'));
    writeFileSync(join(u.ws, '.git/HEAD'), 'ref');
    symlinkSync(u.outside, join(u.ws, 'out-link'));
    writeFileSync(join(u.outside, 'secret'), 's');
    expect(await srv.call('list_directory', {})).toEqual({
      path: '.',
      entries: [
        { path: 'dist', type: 'directory', size: null },
        { path: 'out-link', type: 'symlink', size: null },
        { path: 'src', type: 'directory', size: null },
      ],
      truncated: false,
      error: null,
      isError: false,
    });
    const deep = await srv.call('list_directory', { depth: 10, includeHidden: true, respectGitignore: true });
    expect(deep.entries.map((e: any) => e.path)).toEqual(['.env', '.git', '.gitignore', 'out-link', 'src', 'src/a.ts', 'src/inner', 'src/inner/b.ts']);
    expect(deep.entries.find((e: any) => e.path === 'src/a.ts').size).toBe(3);
  });

  test('at most 1000 entries, with truncated set', async () => {
    using u = tree();
    await using srv = await startServer(u);
    for (let i = 0; i < 1005; i++) writeFileSync(join(u.ws, `f${i}`), '');
    const r = await srv.call('list_directory', { path: '.' });
    expect([r.entries.length, r.truncated]).toEqual([1000, true]);
  });

  test('hidden and ignored names are skipped before the cap: exactly 1000 visible ones are all listed, not truncated; one more truncates', async () => {
    using u = tree();
    await using srv = await startServer(u);
    writeFileSync(join(u.ws, '.gitignore'), '*.log\n');
    for (let i = 0; i < 300; i++) writeFileSync(join(u.ws, `.h${i}`), '');
    for (let i = 0; i < 300; i++) writeFileSync(join(u.ws, `${i}.log`), '');
    for (let i = 0; i < 1000; i++) writeFileSync(join(u.ws, `f${String(i).padStart(4, '0')}`), '');
    const all = await srv.call('list_directory', { respectGitignore: true });
    expect([all.entries.length, all.truncated, all.entries[0].path, all.entries.at(-1).path]).toEqual([1000, false, 'f0000', 'f0999']);
    writeFileSync(join(u.ws, 'a'), '');
    const more = await srv.call('list_directory', { respectGitignore: true });
    expect([more.entries.length, more.truncated, more.entries[0].path, more.entries.at(-1).path]).toEqual([1000, true, 'a', 'f0998']);
  });

  test('a name that is not valid UTF-8 is listed (lossily spelt) with its own type and size, also beside the name it decodes to', async () => {
    using u = tree();
    await using srv = await startServer(u);
    writeFileSync(join(u.ws, 'a.txt'), 'a');
    // "café" in Latin-1, and "x" + 0xff beside a file really named "x\uFFFD".
    writeFileSync(Buffer.concat([Buffer.from(`${u.ws}/caf`), Buffer.from([0xe9]), Buffer.from('.txt')]), 'latin');
    writeFileSync(Buffer.concat([Buffer.from(`${u.ws}/x`), Buffer.from([0xff])]), 'invalid');
    writeFileSync(join(u.ws, 'x\uFFFD'), 'valid utf-8');
    const r = await srv.call('list_directory', {});
    expect(r.entries).toEqual([
      { path: 'a.txt', type: 'file', size: 1 },
      { path: 'caf\uFFFD.txt', type: 'file', size: 5 },
      // Same spelling: in the order of their bytes (EF BF BD before FF).
      { path: 'x\uFFFD', type: 'file', size: 11 },
      { path: 'x\uFFFD', type: 'file', size: 7 },
    ]);
  });
});
