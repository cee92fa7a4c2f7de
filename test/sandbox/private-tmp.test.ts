/**
 * Private TMPDIRs left behind by servers that died without removing them: a
 * server killed with SIGKILL leaves its commands' temp files, and the next
 * server's start removes them, while a live server's directory, another
 * user's, a link, or a directory without a lock (an older version's) stays.
 * Each test uses its own temp directory (TMPDIR), never the machine's.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, chownSync, closeSync, constants, existsSync, lstatSync, openSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openUp, PrivateTmp, sweepStaleTmp } from '../../src/sandbox/private-tmp.ts';
import { O_PATH } from '../../src/workspace/open.ts';
import { startServerProcess } from '../helpers/process.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

const MODULE = join(import.meta.dir, '..', '..', 'src', 'sandbox', 'private-tmp.ts');
const isRoot = process.getuid?.() === 0;

let base: string;
beforeAll(() => {
  base = tempDir('hide-private-tmp-');
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

let count = 0;
/** A fresh parent directory, as TMPDIR would be. */
function parentDir(): string {
  const dir = join(base, `t${++count}`);
  mkdirSync(dir);
  return dir;
}

/** Another process that makes a private TMPDIR under `parent`, writes a file in it, prints its path and stays alive. */
async function holder(parent: string): Promise<{ proc: ReturnType<typeof Bun.spawn>; path: string }> {
  const script = `const { PrivateTmp } = await import(${JSON.stringify(MODULE)});
const t = PrivateTmp.create(${JSON.stringify(parent)});
require('node:fs').writeFileSync(t.path + '/scratch', 'left by a command');
console.log(t.path);
setInterval(() => {}, 1000);`;
  const proc = Bun.spawn([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'inherit' });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = '';
  while (!text.includes('\n')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`holder exited: ${text}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { proc, path: text.trim() };
}

describe('private TMPDIR', () => {
  test('made with its lock beside it, 0700; kept from a sweep while held; remove() takes both', async () => {
    const parent = parentDir();
    const t = PrivateTmp.create(parent);
    expect(t.path.startsWith(join(parent, 'hide-sandbox-'))).toBe(true);
    expect(statSync(t.path).mode & 0o777).toBe(0o700);
    expect(existsSync(`${t.path}.lock`)).toBe(true);
    expect(await sweepStaleTmp(parent)).toEqual([]);
    expect(existsSync(t.path)).toBe(true);
    expect(await t.remove()).toBeNull();
    expect(readdirSync(parent)).toEqual([]);
  });

  test("a killed process's directory and what it held are swept; a live one's stays", async () => {
    const parent = parentDir();
    const dead = await holder(parent);
    const live = await holder(parent);
    try {
      dead.proc.kill('SIGKILL');
      await dead.proc.exited;
      expect(existsSync(join(dead.path, 'scratch'))).toBe(true);
      expect(await sweepStaleTmp(parent)).toEqual([dead.path]);
      expect([existsSync(dead.path), existsSync(`${dead.path}.lock`)]).toEqual([false, false]);
      expect(existsSync(join(live.path, 'scratch'))).toBe(true);
      expect(await sweepStaleTmp(parent)).toEqual([]);
    } finally {
      live.proc.kill('SIGKILL');
      await live.proc.exited;
    }
  });

  test('what is not ours stays: no lock, a linked lock, a lock whose directory is a link, another user’s lock', async () => {
    const parent = parentDir();
    const elsewhere = join(parent, 'elsewhere');
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, 'keep'), 'x');
    // An older version's directory: no lock beside it.
    mkdirSync(join(parent, 'hide-sandbox-AAAAAA'));
    // A lock that is a link (to a file we own).
    writeFileSync(join(parent, 'target'), '');
    mkdirSync(join(parent, 'hide-sandbox-BBBBBB'));
    symlinkSync(join(parent, 'target'), join(parent, 'hide-sandbox-BBBBBB.lock'));
    // A free lock whose "directory" is a link to another directory.
    writeFileSync(join(parent, 'hide-sandbox-CCCCCC.lock'), '');
    symlinkSync(elsewhere, join(parent, 'hide-sandbox-CCCCCC'));
    if (isRoot) {
      writeFileSync(join(parent, 'hide-sandbox-DDDDDD.lock'), '');
      mkdirSync(join(parent, 'hide-sandbox-DDDDDD'));
      chownSync(join(parent, 'hide-sandbox-DDDDDD.lock'), 65532, 65532);
    }
    const before = readdirSync(parent).sort();
    expect(await sweepStaleTmp(parent)).toEqual([]);
    expect(readdirSync(parent).sort()).toEqual(before);
    expect(existsSync(join(elsewhere, 'keep'))).toBe(true);
  });

  test('a free lock with no directory (a server killed between the two) is removed', async () => {
    const parent = parentDir();
    writeFileSync(join(parent, 'hide-sandbox-EEEEEE.lock'), '');
    expect(await sweepStaleTmp(parent)).toEqual([join(parent, 'hide-sandbox-EEEEEE')]);
    expect(readdirSync(parent)).toEqual([]);
  });
});

describe('through the server', () => {
  test("a server's start removes the private TMPDIR of one killed with SIGKILL, with what its command left there", async () => {
    const dir = parentDir();
    const tmp = join(dir, 'tmp');
    const workspace = join(dir, 'ws');
    mkdirSync(tmp);
    mkdirSync(workspace);
    const env = { TMPDIR: tmp, HIDE_WORKSPACE: workspace, HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'), HIDE_SANDBOX: 'required' };
    const call = async (url: string, command: string, args: string[]) => {
      const res = await fetch(`${url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command, arguments: args } } }),
      });
      return ((await res.json()) as { result: { structuredContent: { stdout: string; exitCode: number } } }).result.structuredContent;
    };
    const first = await startServerProcess({ cwd: dir, env });
    let killedTmp: string;
    try {
      const out = await call(first.url, 'sh', ['-c', 'echo scratch > "$TMPDIR/left" && echo "$TMPDIR"']);
      expect(out.exitCode).toBe(0);
      killedTmp = out.stdout.trim();
      expect(killedTmp.startsWith(join(tmp, 'hide-sandbox-'))).toBe(true);
    } finally {
      first.proc.kill('SIGKILL');
      await first.proc.exited;
    }
    // The launcher notices its server is gone and exits; the directory stays.
    expect(existsSync(join(killedTmp, 'left'))).toBe(true);
    const second = await startServerProcess({ cwd: dir, env });
    try {
      // The directory goes first, its lock a moment after (the sweep removes the tree, then the lock).
      await waitFor(() => !existsSync(killedTmp) && !existsSync(`${killedTmp}.lock`), 10_000, 'the killed server’s TMPDIR and its lock to go');
      // Logged once the sweep is done, and read from the server's stderr a moment later still.
      await waitFor(() => second.logs().includes('the private TMPDIR of a server that ended without removing it'), 10_000, 'the sweep’s log line');
      // The new server's own directory works.
      expect((await call(second.url, 'sh', ['-c', 'echo ok > "$TMPDIR/x" && cat "$TMPDIR/x"'])).stdout).toBe('ok\n');
    } finally {
      await second.stop();
    }
    expect(readdirSync(tmp)).toEqual([]);
  });
});

// A command of the client may still run while its TMPDIR is opened up for removal, and swap a directory for a
// symlink between the look and the chmod: a chmod by path would then change what the link points to (as root,
// any file of the host). Bounded: 300 rounds, stopped at the first hit.
describe('opening up a locked tree for removal', () => {
  test('a directory flipping to a symlink never gets the chmod onto the link target', async () => {
    const dir = parentDir();
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'not to be touched');
    chmodSync(victim, 0o600);
    const root = join(dir, 'tmp');
    mkdirSync(root);
    const flipper = Bun.spawn(
      ['python3', '-c', `import os\nos.chdir(${JSON.stringify(root)})\nos.mkdir('real', 0)\nos.symlink(${JSON.stringify(victim)}, 'link')\nwhile True:\n  os.rename('real', 'd'); os.rename('d', 'real'); os.rename('link', 'd'); os.rename('d', 'link')`],
      { stdout: 'ignore', stderr: 'ignore' },
    );
    try {
      await waitFor(() => existsSync(join(root, 'link')), 5000, 'the flipper');
      let rounds = 0;
      let opened = 0;
      for (; rounds < 300 && (statSync(victim).mode & 0o777) === 0o600; rounds++) {
        await openUp(root);
        if ((lstatSync(join(root, 'real'), { throwIfNoEntry: false })?.mode ?? 0) & 0o700) opened++;
        // Locked again for the next round (it may be `d` at this moment: then the round looks at it under that name).
        for (const name of ['real', 'd']) {
          // Through a pinned descriptor, as the server must: a chmod by path here could land on the victim too.
          let fd: number | null = null;
          try {
            fd = openSync(join(root, name), O_PATH | constants.O_NOFOLLOW | constants.O_DIRECTORY);
            chmodSync(`/proc/self/fd/${fd}`, 0);
          } catch {
          } finally {
            if (fd !== null) closeSync(fd);
          }
        }
      }
      expect({ rounds, mode: (statSync(victim).mode & 0o777).toString(8) }).toEqual({ rounds: 300, mode: '600' });
      // The race really ran: the real directory was opened up in some rounds.
      expect(opened).toBeGreaterThan(0);
    } finally {
      flipper.kill('SIGKILL');
      await flipper.exited;
    }
  });
});
