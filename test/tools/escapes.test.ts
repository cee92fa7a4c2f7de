/**
 * The confinement suite, end to end through the real server: every escape
 * attempt against every file tool. "Through" means any of: the secret's
 * content in a result, a result path outside the workspace, an existence
 * answer about a path outside, or any change to the directory outside.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { linkSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callAt, type Server, startServer, startServerProcess, type Tree, tree } from './helpers.ts';

const SECRET = 'TOPSECRET-7f3a';

/** Everything under `dir`: names, and contents of files, to compare before and after. */
function snapshot(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) Object.assign(out, { [`${prefix}${name}/`]: 'dir' }, snapshot(p, `${prefix}${name}/`));
    else out[`${prefix}${name}`] = st.isFile() ? readFileSync(p, 'utf8') : 'special';
  }
  return out;
}

let t: Tree;
let s: Server;
let attempts: Array<{ name: string; path: string }>;
let before: Record<string, string>;

beforeAll(async () => {
  t = tree();
  writeFileSync(join(t.outside, 'secret.txt'), `${SECRET}\n`);
  mkdirSync(join(t.outside, 'sub'));
  writeFileSync(join(t.outside, 'sub', 'secret.txt'), `${SECRET}\n`);
  // A sibling whose name starts with the workspace's: prefix comparison would let it in.
  mkdirSync(join(t.dir, 'ws-evil'));
  writeFileSync(join(t.dir, 'ws-evil', 'secret.txt'), `${SECRET}\n`);
  mkdirSync(join(t.ws, 'sub'));
  writeFileSync(join(t.ws, 'sub', 'inside.txt'), 'inside\n');
  symlinkSync(join(t.outside, 'secret.txt'), join(t.ws, 'link-file'));
  symlinkSync(t.outside, join(t.ws, 'link-dir'));
  symlinkSync('..', join(t.ws, 'link-parent'));
  symlinkSync('/', join(t.ws, 'link-root'));
  symlinkSync('/proc/self/root', join(t.ws, 'link-proc-root'));
  symlinkSync('/proc/self/cwd', join(t.ws, 'link-proc-cwd'));
  symlinkSync(join(t.outside, 'new.txt'), join(t.ws, 'dangling'));
  symlinkSync(join(t.ws, 'chain2'), join(t.ws, 'chain1'));
  symlinkSync(join(t.outside, 'secret.txt'), join(t.ws, 'chain2'));
  symlinkSync(join(t.ws, 'link-dir'), join(t.ws, 'sub', 'nested-link'));
  linkSync(join(t.outside, 'secret.txt'), join(t.ws, 'hard'));
  Bun.spawnSync(['mkfifo', join(t.ws, 'fifo')]);
  // A device node inside the workspace needs root to create; as root, /dev/zero's twin.
  const hasDevice = Bun.spawnSync(['mknod', join(t.ws, 'zero'), 'c', '1', '5']).exitCode === 0;
  s = await startServer(t);

  attempts = [
    { name: 'relative ..', path: '../outside/secret.txt' },
    { name: 'absolute outside', path: join(t.outside, 'secret.txt') },
    { name: '.. inside a path', path: 'sub/../../outside/secret.txt' },
    { name: 'deep .. run', path: 'sub/../sub/../../../../../../etc/passwd' },
    { name: 'absolute /etc/passwd', path: '/etc/passwd' },
    { name: 'double slash absolute', path: `//${t.outside}/secret.txt` },
    { name: 'prefix sibling ws-evil', path: join(t.dir, 'ws-evil', 'secret.txt') },
    { name: 'symlinked file', path: 'link-file' },
    { name: 'symlinked dir', path: 'link-dir/secret.txt' },
    { name: 'symlinked dir, nested', path: 'link-dir/sub/secret.txt' },
    { name: 'symlink chain', path: 'chain1' },
    { name: 'symlink to dir inside a real dir', path: 'sub/nested-link/secret.txt' },
    { name: '.. after a symlink', path: 'link-dir/../outside/secret.txt' },
    { name: 'symlink to parent', path: 'link-parent/outside/secret.txt' },
    { name: 'symlink to /', path: `link-root${t.outside}/secret.txt` },
    { name: 'dangling symlink (write would create outside)', path: 'dangling' },
    { name: 'new file in symlinked dir', path: 'link-dir/new.txt' },
    { name: 'new dirs below symlinked dir', path: 'link-dir/newdir/deeper/x.txt' },
    { name: 'hard link to an outside file', path: 'hard' },
    { name: '/proc/self/root', path: `/proc/self/root${t.outside}/secret.txt` },
    { name: '/proc/self/root into the workspace', path: `/proc/self/root${t.ws}/sub/inside.txt` },
    { name: '/proc/self/cwd', path: '/proc/self/cwd/package.json' },
    { name: '/proc/self/environ', path: '/proc/self/environ' },
    { name: 'symlink to /proc/self/root', path: `link-proc-root${t.outside}/secret.txt` },
    { name: 'symlink to /proc/self/cwd', path: 'link-proc-cwd/package.json' },
    { name: 'NUL byte', path: 'sub/inside.txt\0/../../../outside/secret.txt' },
    { name: 'NUL byte at the end', path: '../outside/secret.txt\0' },
    { name: 'unicode two-dot leader', path: '\u2025/outside/secret.txt' },
    { name: 'fullwidth dots', path: '\uff0e\uff0e/outside/secret.txt' },
    { name: 'percent-encoded dots', path: '%2e%2e/outside/secret.txt' },
    { name: 'backslash separators', path: '..\\outside\\secret.txt' },
    { name: 'right-to-left override', path: '\u202e/../../outside/secret.txt' },
    { name: 'overlong path', path: `${'a/'.repeat(2100)}x` },
    { name: 'FIFO', path: 'fifo' },
    { name: 'device file outside', path: '/dev/zero' },
    ...(hasDevice ? [{ name: 'device file inside', path: 'zero' }] : []),
    { name: 'the workspace root as a file', path: '.' },
  ];
  before = snapshot(t.outside);
});

afterAll(async () => {
  await s.stop();
  t[Symbol.dispose]();
});

function argsFor(tool: string, path: string): Record<string, unknown> {
  switch (tool) {
    case 'read_file':
      return { path };
    case 'write_file':
      return { path, content: 'PWNED' };
    case 'edit_file':
      return { path, edits: [{ oldText: SECRET, newText: 'PWNED' }] };
    case 'list_directory':
      return { path, depth: 3, includeHidden: true };
    case 'search_files':
      return { pattern: SECRET, path };
    default:
      return { fileName: path };
  }
}

/** A reported path must be workspace-relative: never absolute, never climbing out. */
function pathsIn(result: Record<string, any>): string[] {
  const paths: string[] = [];
  if (typeof result.path === 'string' && !result.isError) paths.push(result.path);
  for (const e of result.entries ?? []) paths.push(e.path);
  for (const m of result.matches ?? []) paths.push(m.path);
  return paths;
}

describe('escape attempts', () => {
  test('there are at least 25 distinct attempts', () => {
    expect(attempts.length).toBeGreaterThanOrEqual(25);
  });

  for (const tool of ['read_file', 'write_file', 'edit_file', 'list_directory', 'search_files', 'check_file_exists']) {
    test(`${tool}: 0 of the attempts get through`, async () => {
      const through: string[] = [];
      for (const a of attempts) {
        // A JSON-RPC error (e.g. the schema's length cap) is a refusal too; its text is checked like a result.
        const res = await s.rpc('tools/call', { name: tool, arguments: argsFor(tool, a.path) });
        const r: Record<string, any> = res.body.result ? { ...res.body.result.structuredContent, isError: res.body.result.isError } : { isError: true, error: res.body.error?.message };
        const text = JSON.stringify(res.body);
        if (text.includes(SECRET)) through.push(`${a.name}: secret in result`);
        for (const p of pathsIn(r)) if (p.startsWith('/') || p === '..' || p.startsWith('../')) through.push(`${a.name}: path ${p}`);
        if (tool === 'check_file_exists' && r.exists === true && r.path.startsWith('/')) through.push(`${a.name}: existence outside`);
        // The outside tree and the secret file are untouched after every attempt.
        const now = snapshot(t.outside);
        if (JSON.stringify(now) !== JSON.stringify(before)) through.push(`${a.name}: outside changed`);
      }
      expect(through).toEqual([]);
      expect(readFileSync(join(t.outside, 'secret.txt'), 'utf8')).toBe(`${SECRET}\n`);
    });
  }

  test('a write through a link to outside is refused in the same words whether what it names exists or not', async () => {
    symlinkSync(join(t.outside, 'no-such-dir'), join(t.ws, 'link-missing'));
    const said = async (path: string) => ((await s.call('write_file', { path, content: 'x' })).error as string).replace(path, 'P');
    expect(await said('link-missing/x.txt')).toBe(await said('link-dir/x.txt'));
    expect(await said('link-missing/x.txt')).toContain('outside the workspace');
  });

  test('refusals say why: symlink, hard link, /proc, NUL, outside, FIFO', async () => {
    const msg = async (tool: string, path: string) => (await s.call(tool, argsFor(tool, path))).error as string;
    expect(await msg('write_file', 'dangling')).toContain('symlink');
    expect(await msg('write_file', 'link-dir/new.txt')).toContain('outside the workspace');
    expect(await msg('read_file', 'hard')).toContain('hard link');
    expect(await msg('write_file', 'hard')).toContain('hard link');
    expect(await msg('read_file', '/proc/self/cwd/package.json')).toContain('/proc');
    expect(await msg('read_file', '../x\0')).toContain('NUL');
    expect(await msg('read_file', 'link-file')).toContain('outside the workspace');
    expect(await msg('read_file', 'fifo')).toContain('FIFO');
  });
});

const engines: Array<{ name: string; start: (u: Tree) => Promise<{ call: Server['call']; [Symbol.asyncDispose](): Promise<void> }> }> = [
  { name: 'in-process server (ripgrep search)', start: (u) => startServer(u) },
  {
    name: 'server process without ripgrep on PATH (built-in search)',
    start: async (u) => {
      const p = await startServerProcess(u, { PATH: '/nonexistent' });
      return { call: (name, args, headers) => callAt(p.url, name, args, headers), [Symbol.asyncDispose]: () => p[Symbol.asyncDispose]() };
    },
  },
];

describe.each(engines)('a parent directory swapped for a symlink out while calls are in flight: $name', ({ start }) => {
  test('reads, edits, writes, listings and searches through a path flipping between a real dir and a link out: nothing read or written outside', async () => {
    using u = tree();
    mkdirSync(join(u.ws, '.real'));
    writeFileSync(join(u.ws, '.real', 'f.txt'), 'inside\n');
    writeFileSync(join(u.outside, 'f.txt'), `${SECRET}\n`);
    symlinkSync(u.outside, join(u.ws, '.link'));
    await using srv = await start(u);
    // The swapper is another process, so it runs truly in parallel with the server's checks. A write that
    // finds `swap` absent creates it as a real directory; the swapper clears that so the flipping goes on.
    const stop = join(u.dir, 'stop');
    const swapper = Bun.spawn(
      [
        process.execPath,
        '-e',
        `const fs=require('fs'),p=require('path');const ws=${JSON.stringify(u.ws)},stop=${JSON.stringify(stop)};
         const at=p.join(ws,'swap');let n=0;
         const has=(n)=>{try{fs.lstatSync(p.join(ws,n));return true}catch{return false}};
         while(!fs.existsSync(stop)&&fs.existsSync(ws)){if(has('.real')&&has('.link')&&has('swap'))fs.rmSync(at,{recursive:true,force:true});try{fs.renameSync(p.join(ws,'.real'),at);fs.renameSync(at,p.join(ws,'.real'));fs.renameSync(p.join(ws,'.link'),at);fs.renameSync(at,p.join(ws,'.link'));n++}catch{}}
         console.log(n);`,
      ],
      { stdout: 'pipe' },
    );
    const results: Array<Record<string, any>> = [];
    const landed = () => results.some((r) => !r.isError);
    try {
      // Ten rounds against the running swapper. On a busy machine the server may meet the path as a link (or
      // missing) in every one of them; then rounds go on with the swapper paused wherever it is, until some call
      // has landed inside: a paused path is a real directory, a link or missing, and the round meets it so.
      for (let round = 0; round < 10 || (!landed() && round < 40); round++) {
        const paused = round >= 10;
        if (paused) swapper.kill('SIGSTOP');
        const batch = [];
        for (let i = 0; i < 10; i++) {
          batch.push(srv.call('write_file', { path: `swap/w-${round}-${i}.txt`, content: 'PWNED' }));
          batch.push(srv.call('read_file', { path: 'swap/f.txt' }));
          batch.push(srv.call('edit_file', { path: 'swap/f.txt', edits: [{ oldText: SECRET, newText: 'PWNED' }] }));
          batch.push(srv.call('list_directory', { path: 'swap' }));
          batch.push(srv.call('search_files', { pattern: SECRET, path: 'swap' }));
        }
        results.push(...(await Promise.all(batch)));
        if (paused) {
          swapper.kill('SIGCONT');
          // Lets the path move on before the next pause.
          await Bun.sleep(5);
        }
      }
    } finally {
      writeFileSync(stop, '');
      swapper.kill('SIGCONT');
    }
    const swaps = Number((await new Response(swapper.stdout).text()).trim());
    expect(swaps).toBeGreaterThan(0);
    expect(results.filter((r) => JSON.stringify(r).includes(SECRET))).toEqual([]);
    expect(readdirSync(u.outside)).toEqual(['f.txt']);
    expect(readFileSync(join(u.outside, 'f.txt'), 'utf8')).toBe(`${SECRET}\n`);
    // Some calls did land inside, so the tools kept working through the race.
    expect(landed()).toBe(true);
  }, 120_000);
});
