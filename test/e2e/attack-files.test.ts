/**
 * The file tools attacked through the real server (a child process, sandbox
 * on as the machine allows, API keys): what a hostile agent can put in the
 * workspace — with write_file or with a command — and then have the server,
 * which is not sandboxed, read, match or walk; and short processes started
 * one after another, each leaving its output behind. Each test asserts the
 * safe behaviour: the server keeps answering every client, reads stay within
 * their limits, and what a client leaves behind is bounded.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KEPT_ENDED_PER_RUNNING } from '../../src/exec/ended-processes.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { callTool, tempDir, toolCallsInFlight, waitFor } from '../helpers/server.ts';

const KEY_A = 'a'.repeat(43);
const KEY_B = 'b'.repeat(43);
const MAX_PER_CLIENT = 4;

let dir: string;
let ws: string;
let server: ServerProcess;

beforeAll(async () => {
  dir = tempDir();
  ws = join(dir, 'ws');
  mkdirSync(ws);
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify({ clients: [{ client_id: 'alice', api_key: KEY_A, enabled: true }, { client_id: 'bob', api_key: KEY_B, enabled: true }] }));
  server = await startServerProcess({
    cwd: dir,
    env: {
      HIDE_WORKSPACE: ws,
      HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'),
      HIDE_AUTH_ENABLED: 'true',
      HIDE_API_KEYS_FILE: keysFile,
      HIDE_RATE_LIMIT_ENABLED: 'false',
      HIDE_PROCESS_MAX_PER_CLIENT: String(MAX_PER_CLIENT),
      HIDE_LOG_LEVEL: 'info',
    },
  });
});
afterAll(async () => {
  // A server whose event loop is stuck never handles SIGTERM: a failing run must not hang the suite.
  server?.proc.kill('SIGKILL');
  await server?.proc.exited;
  rmSync(dir, { recursive: true, force: true });
});

const as = (key: string, name: string, args: Record<string, unknown>) => callTool(`${server.url}/mcp`, name, args, { 'X-API-Key': key });
const alice = (name: string, args: Record<string, unknown>) => as(KEY_A, name, args);
const bob = (name: string, args: Record<string, unknown>) => as(KEY_B, name, args);

/**
 * Starts `call`; once the server runs it (or it has ended), asks /health and
 * another client's read. `answeredDuring`: both came back while the call was
 * still running, so the server went on serving others meanwhile (an order of
 * events, not a time: a stalled server answers nothing until the call ends).
 */
async function probeDuring(call: () => Promise<Record<string, any>>) {
  let settled = false;
  const running = call().finally(() => {
    settled = true;
  });
  await waitFor(async () => settled || (await toolCallsInFlight(server.url)) > 0, 20_000, 'the call to start');
  const health = (await fetch(`${server.url}/health`)).status;
  const other = (await bob('check_file_exists', { fileName: '.' })).exists;
  return { health, other, answeredDuring: !settled, result: await running };
}

// A name of 200 "a"s against stars separated by "a"s and a final "b": a
// backtracking matcher tries every split of the name among the stars
// (200^8 ways) before it fails.
const LONG_NAME = 'a'.repeat(200);
const STARRY = `${'*a'.repeat(8)}*b`;

describe('patterns the server matches itself', () => {
  test('a .gitignore line that backtracks does not stall the server: list_directory answers and so does everyone else', async () => {
    mkdirSync(join(ws, 'gi'));
    expect((await alice('write_file', { path: 'gi/.gitignore', content: `${STARRY}\n` })).error).toBeNull();
    expect((await alice('write_file', { path: `gi/${LONG_NAME}`, content: 'x\n' })).error).toBeNull();
    // Before the matcher could not backtrack, this call held every client for over a minute (past this test's timeout).
    const run = await probeDuring(() => alice('list_directory', { path: 'gi', respectGitignore: true }));
    expect(run).toMatchObject({ health: 200, other: true });
    expect(run.result.entries).toEqual([{ path: `gi/${LONG_NAME}`, type: 'file', size: 2 }]);
  }, 60_000);

  // Only the first rules count (unit test in test/workspace/gitignore.test.ts); here, others are served meanwhile. Ten
  // thousand rules cost every entry some ten times what a real file's do: the listing stops once its matching has
  // spent its allowance, and says why (test/tools/gitignore-cost.test.ts).
  test('while a directory is matched against a .gitignore of a megabyte of distinct rules, other requests are answered; the listing stops saying why', async () => {
    mkdirSync(join(ws, 'many'));
    const rules = Array.from({ length: 100_000 }, (_, i) => `*.r${i}`).join('\n');
    expect((await alice('write_file', { path: 'many/.gitignore', content: rules })).error).toBeNull();
    for (let i = 0; i < 300; i++) writeFileSync(join(ws, 'many', `f${i}.txt`), '');
    const run = await probeDuring(() => alice('list_directory', { path: 'many', respectGitignore: true }));
    expect(run).toMatchObject({ health: 200, other: true, answeredDuring: true });
    expect([run.result.truncated, run.result.error?.split(' (')[0]]).toEqual([true, 'the .gitignore rules here cost too much to match']);
  }, 120_000);

  test('a search glob that backtracks does not stall the server', async () => {
    mkdirSync(join(ws, 'gl'));
    expect((await alice('write_file', { path: `gl/${LONG_NAME}`, content: 'needle\n' })).error).toBeNull();
    const run = await probeDuring(() => alice('search_files', { pattern: 'needle', path: 'gl', glob: STARRY }));
    expect(run).toMatchObject({ health: 200, other: true });
    expect(run.result).toMatchObject({ matches: [], error: null });
  }, 60_000);
});

/**
 * Runs `body` while a Python program of `lines` (which prints "ready" once set
 * up, then loops) runs as alice's process; the process is killed afterwards.
 */
async function whileFlipping<T>(lines: string[], body: () => Promise<T>): Promise<T> {
  const flipper = await alice('process_start', { command: '/usr/bin/python3', arguments: ['-c', lines.join('\n')] });
  expect(flipper.error).toBeNull();
  try {
    await waitFor(async () => (await alice('process_read', { processId: flipper.processId, waitMs: 1000 })).output.includes('ready'), 20_000, 'the flipper');
    return await body();
  } finally {
    await alice('process_kill', { processId: flipper.processId, signal: 'SIGKILL' });
  }
}

/** Peak resident memory of a process (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

describe('files that change under the server', () => {
  test('a directory flipped to a link out between the last look and the open never makes the server open what lies outside (a FIFO whose writer waits)', async () => {
    // Outside: a FIFO with a writer blocked until someone opens it for reading; a device such as a
    // watchdog would act on the open alone. Inside, fifo-flip/pipe is a regular file.
    const outside = join(dir, 'outside-fifo');
    mkdirSync(outside, { recursive: true });
    expect(Bun.spawnSync(['mkfifo', join(outside, 'pipe')]).exitCode).toBe(0);
    const marker = join(dir, 'fifo-opened');
    const writer = Bun.spawn(['/usr/bin/python3', '-c', `f = open(${JSON.stringify(join(outside, 'pipe'))}, 'w')\nopen(${JSON.stringify(marker)}, 'w').write('x')`]);
    try {
      await whileFlipping(
        [
          'import os',
          "os.makedirs('fifo-real')",
          "open('fifo-real/pipe', 'w').write('inside\\n')",
          `os.symlink(${JSON.stringify(outside)}, 'fifo-link')`,
          "print('ready', flush=True)",
          'while True:',
          "    os.rename('fifo-real', 'fifo-flip'); os.rename('fifo-flip', 'fifo-real')",
          "    os.rename('fifo-link', 'fifo-flip'); os.rename('fifo-flip', 'fifo-link')",
        ],
        async () => {
          for (let i = 0; i < 300 && !existsSync(marker); i++) {
            await Promise.all([alice('read_file', { path: 'fifo-flip/pipe' }), alice('edit_file', { path: 'fifo-flip/pipe', edits: [{ oldText: 'inside', newText: 'x' }], dryRun: true })]);
          }
        },
      );
    } finally {
      writer.kill('SIGKILL');
      await writer.exited;
    }
    expect(existsSync(marker)).toBe(false);
  }, 120_000);

  test('check_file_exists and search_files through a directory flipping to a link out answer only about what is inside: never the outside type or size, never an internal error', async () => {
    // Inside, flip/adir and flip/big are small files; outside, adir is a directory, big is 11 MiB and nodir does not exist.
    const outside = join(dir, 'outside');
    mkdirSync(join(outside, 'adir'), { recursive: true });
    writeFileSync(join(outside, 'big'), Buffer.alloc(11 * 1024 * 1024, 0x61));
    const answers = new Set<string>();
    const outcome = (r: Record<string, any>, ok: string) => (r.error === null ? ok : /outside|symlink|does not exist|not a directory|changed while it was being opened/.test(r.error) ? 'refused' : r.error);
    await whileFlipping(
      [
        'import os',
        "os.makedirs('flipreal')",
        "open('flipreal/adir', 'w').close()",
        "open('flipreal/nodir', 'w').close()",
        "open('flipreal/big', 'w').close()",
        `os.symlink(${JSON.stringify(outside)}, 'fliplink')`,
        "print('ready', flush=True)",
        'while True:',
        "    os.rename('fliplink', 'flip'); os.rename('flip', 'fliplink')",
        "    os.rename('flipreal', 'flip'); os.rename('flip', 'flipreal')",
      ],
      async () => {
        for (let i = 0; i < 300; i++) {
          const [a, b, c] = await Promise.all([
            alice('check_file_exists', { fileName: 'flip/adir' }),
            alice('check_file_exists', { fileName: 'flip/nodir' }),
            alice('search_files', { pattern: 'a', path: 'flip/big' }),
          ]);
          for (const r of [a, b]) answers.add(r.exists ? `exists ${r.type}` : outcome(r, 'missing'));
          answers.add(outcome(c, 'searched'));
        }
      },
    );
    // "missing" and "refused" come from the flip itself (the path is absent, or leads out, at that instant); a directory is the outside's.
    expect([...answers].filter((a) => !['exists file', 'missing', 'refused', 'searched'].includes(a))).toEqual([]);
  }, 120_000);

  test('a file that grows (sparse, by 256 MiB at once) between its stat and its read is read only up to the size that was checked', async () => {
    mkdirSync(join(ws, 'grow'));
    // A command flips two files between a few bytes and 256 MiB of holes, as fast as it can.
    const before = peakRss(server.proc.pid);
    const outcomes = new Set<string>();
    await whileFlipping(
      [
        'import os',
        "files = ['grow/a.txt', 'grow/.gitignore']",
        "for f in files: open(f, 'w').write('hello\\n')",
        "print('ready', flush=True)",
        'while True:',
        '    for f in files: os.truncate(f, 6)',
        '    for f in files: os.truncate(f, 256 << 20)',
      ],
      async () => {
        for (let i = 0; i < 40; i++) {
          const [read, edit, search, list] = await Promise.all([
            alice('read_file', { path: 'grow/a.txt' }),
            alice('edit_file', { path: 'grow/a.txt', edits: [{ oldText: 'hello', newText: 'hello' }], dryRun: true }),
            alice('search_files', { pattern: 'hello', path: 'grow' }),
            alice('list_directory', { path: 'grow', respectGitignore: true }),
          ]);
          // A read that overlaps a shrink can see the holes: "binary" is a true answer about what it read.
          outcomes.add(`read:${read.error === null ? 'ok' : /limit|binary/.test(read.error) ? 'refused' : read.error}`);
          outcomes.add(`edit:${edit.error === null ? 'ok' : /limit|binary/.test(edit.error) ? 'refused' : edit.error}`);
          outcomes.add(`search:${search.error ?? 'ok'}`);
          outcomes.add(`list:${list.error ?? 'ok'}`);
        }
      },
    );
    const grown = peakRss(server.proc.pid) - before;
    // Whatever the reads saw, none of them took in more than a limit's worth; a raced read of the whole file costs 256 MiB.
    expect({ grownUnder64MiB: grown < 64 * 1024 * 1024, outcomes: [...outcomes].filter((o) => !/^(read|edit):(ok|refused)$|^(search|list):ok$/.test(o)) }).toEqual({
      grownUnder64MiB: true,
      outcomes: [],
    });
  }, 120_000);
});

describe('dense files', () => {
  test('reading a 10 MiB file of empty lines, three at once, grows the server\'s peak memory by less than 128 MiB', async () => {
    writeFileSync(join(ws, 'newlines.txt'), '\n'.repeat(10 * 1024 * 1024));
    const peak = peakRss(server.proc.pid);
    const reads = await Promise.all([1, 5_000_000, 10_485_760].map((offset) => alice('read_file', { path: 'newlines.txt', offset, limit: 3 })));
    expect(reads.map((r) => [r.error, r.totalLines, r.startLine, r.content])).toEqual([
      [null, 10_485_760, 1, '\n\n\n'],
      [null, 10_485_760, 5_000_000, '\n\n\n'],
      [null, 10_485_760, 10_485_760, '\n'],
    ]);
    // Storing every line's start took ~100 MB per read.
    expect((peakRss(server.proc.pid) - peak) / 1024 / 1024).toBeLessThan(128);
  }, 60_000);

  test('one-line edits in a 10 MiB file of 5 million short lines, three at once, grow the server\'s peak memory by less than 128 MiB', async () => {
    const half = 'a\n'.repeat(2_500_000);
    writeFileSync(join(ws, 'short-lines.txt'), `${half}UNIQUE\n${half}`);
    const peak = peakRss(server.proc.pid);
    const edits = await Promise.all(['ONE', 'TWO', 'THREE'].map((word) => alice('edit_file', { path: 'short-lines.txt', edits: [{ oldText: 'UNIQUE', newText: word }], dryRun: true })));
    expect(edits.map((e) => e.diff)).toEqual(
      ['ONE', 'TWO', 'THREE'].map((word) => `--- a/short-lines.txt\n+++ b/short-lines.txt\n@@ -2499998,7 +2499998,7 @@\n a\n a\n a\n-UNIQUE\n+${word}\n a\n a\n a\n`),
    );
    // Splitting both versions into lines and an operation each took ~500 MB per edit.
    expect((peakRss(server.proc.pid) - peak) / 1024 / 1024).toBeLessThan(128);
  }, 60_000);

  test('edits that change thousands of lines cost the server a bounded diff: three at once grow its peak memory by less than 64 MiB', async () => {
    const before = Array.from({ length: 5000 }, (_, i) => `line a ${i}`).join('\n');
    const after = Array.from({ length: 5000 }, (_, i) => `line b ${i}`).join('\n');
    expect((await alice('write_file', { path: 'wide.txt', content: `${before}\n` })).error).toBeNull();
    const peak = peakRss(server.proc.pid);
    const edits = await Promise.all([0, 1, 2].map(() => alice('edit_file', { path: 'wide.txt', edits: [{ oldText: before, newText: after }], dryRun: true })));
    expect(edits.map((e) => [e.error, e.diff.split('\n').length > 10_000])).toEqual([0, 1, 2].map(() => [null, true]));
    expect((peakRss(server.proc.pid) - peak) / 1024 / 1024).toBeLessThan(64);
  }, 60_000);
});

describe('huge directories', () => {
  // A command makes 100 000 files in ~2 s. A listing used to read, lstat and keep every entry before taking
  // its first 1000 (200 000 names of 200 characters, three listings at once: +537 MiB); it now streams the
  // names (getdents64; Bun's readdir and opendir read a whole directory at once) and keeps only the 1001
  // smallest accepted ones.
  test('listing a directory of 200 000 entries, three at once, grows the server\'s peak memory by less than 64 MiB', async () => {
    const made = await alice('shell_execute', {
      command: '/usr/bin/python3',
      arguments: ['-c', "import os\nos.mkdir('huge')\nfor i in range(200000): open('huge/%0200d' % i, 'w').close()"],
      timeoutSeconds: 120,
    });
    expect(made.exitCode).toBe(0);
    const peak = peakRss(server.proc.pid);
    const lists = await Promise.all([0, 1, 2].map(() => alice('list_directory', { path: 'huge' })));
    expect(lists.map((l) => [l.error, l.entries.length, l.truncated])).toEqual([0, 1, 2].map(() => [null, 1000, true]));
    expect((peakRss(server.proc.pid) - peak) / 1024 / 1024).toBeLessThan(64);
  }, 300_000);
});

describe('search output past its cap', () => {
  test('a file whose lines carry thousands of matches each fills ripgrep\'s output cap inside it: the lines found so far are still reported', async () => {
    mkdirSync(join(ws, 'dense'));
    // 1000 lines of 1000 "x": about 45 KiB of ripgrep JSON per line, so the output cap falls inside the file.
    writeFileSync(join(ws, 'dense', 'x.txt'), `${'x'.repeat(1000)}\n`.repeat(1000));
    const r = await alice('search_files', { pattern: 'x', path: 'dense', maxResults: 1000 });
    expect({ truncated: r.truncated, someFound: r.matches.length > 0, firstLines: r.matches.slice(0, 3).map((m: { path: string; line: number }) => `${m.path}:${m.line}`) }).toEqual({
      truncated: true,
      someFound: true,
      firstLines: ['dense/x.txt:1', 'dense/x.txt:2', 'dense/x.txt:3'],
    });
  }, 120_000);
});

describe('ended processes', () => {
  test('a client starting short processes one after another keeps only its newest ended ones readable, each with its output ring', async () => {
    const kept = KEPT_ENDED_PER_RUNNING * MAX_PER_CLIENT;
    const ids: string[] = [];
    for (let i = 0; i < kept + 8; i++) {
      const started = await bob('process_start', { command: 'head', arguments: ['-c', '65536', '/dev/zero'] });
      expect(started.error).toBeNull();
      ids.push(started.processId);
      await waitFor(async () => (await bob('process_read', { processId: started.processId, cursor: 2 ** 40, waitMs: 5000 })).status !== 'running', 20_000, 'the process to end');
    }
    const listed = (await bob('process_list', {})).processes as Array<{ processId: string; status: string }>;
    const oldest = await bob('process_read', { processId: ids[0]! });
    const newest = await bob('process_read', { processId: ids.at(-1)! });
    expect({ listed: listed.length, allEnded: listed.every((p) => p.status === 'exited'), oldestGone: oldest.isError && /not found/.test(oldest.error), newest: newest.status }).toEqual({
      listed: kept,
      allEnded: true,
      oldestGone: true,
      newest: 'exited',
    });
  }, 120_000);

  test('three such searches at once grow the server\'s peak memory by less than 256 MiB', async () => {
    mkdirSync(join(ws, 'dense3'));
    for (let i = 0; i < 3; i++) writeFileSync(join(ws, 'dense3', `x${i}.txt`), `${'x'.repeat(1000)}\n`.repeat(1000));
    const peak = peakRss(server.proc.pid);
    const searches = await Promise.all([0, 1, 2].map(() => alice('search_files', { pattern: 'x', path: 'dense3', maxResults: 1000 })));
    expect(searches.map((r) => [r.truncated, r.matches.length > 0])).toEqual([0, 1, 2].map(() => [true, true]));
    // The output travels from the launcher as base64 in one message and is parsed here: ~5× the cap each (32 MiB: +522 MiB for three).
    expect((peakRss(server.proc.pid) - peak) / 1024 / 1024).toBeLessThan(256);
  }, 120_000);
});
