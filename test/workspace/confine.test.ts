/**
 * The confinement module on its own: path checks (confine.ts), opening what
 * was checked (open.ts) and the atomic writer (atomic-write.ts), including a
 * parent directory swapped or moved between the checks and the use.
 */
import { describe, expect, test } from 'bun:test';
import { chmodSync, chownSync, closeSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomic } from '../../src/workspace/atomic-write.ts';
import { Confiner, PathRefusedError } from '../../src/workspace/confine.ts';
import { isWithin } from '../../src/util/path-within.ts';
import { hasProcFd, openDirectory, openFileForRead } from '../../src/workspace/open.ts';
import { carriedXattrs, setXattrs } from '../../src/util/xattrs.ts';
import { tree } from '../tools/helpers.ts';

async function refusal(p: Promise<unknown>): Promise<PathRefusedError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof PathRefusedError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

const bytes = (s: string) => new TextEncoder().encode(s);

describe('Confiner', () => {
  test('segments, not prefixes: /ws-evil is not inside /ws', () => {
    expect(isWithin('/a/ws', '/a/ws')).toBe(true);
    expect(isWithin('/a/ws', '/a/ws/x')).toBe(true);
    expect(isWithin('/a/ws', '/a/ws-evil/x')).toBe(false);
    expect(isWithin('/', '/etc')).toBe(true);
  });

  test('relative and absolute-inside paths resolve; escapes, /proc and NUL are refused with their kind', async () => {
    using t = tree();
    writeFileSync(join(t.ws, 'a.txt'), 'a');
    mkdirSync(join(t.dir, 'ws-evil'));
    writeFileSync(join(t.dir, 'ws-evil', 'x'), 'x');
    symlinkSync(t.outside, join(t.ws, 'out'));
    const c = new Confiner(t.ws);
    expect(await c.resolveExisting('a.txt')).toBe(join(t.ws, 'a.txt'));
    expect(await c.resolveExisting(join(t.ws, 'a.txt'))).toBe(join(t.ws, 'a.txt'));
    expect((await refusal(c.resolveExisting('../outside'))).kind).toBe('outside');
    expect((await refusal(c.resolveExisting(join(t.dir, 'ws-evil', 'x')))).kind).toBe('outside');
    expect((await refusal(c.resolveExisting('out'))).kind).toBe('outside');
    // Missing below a symlink out: "outside", so probing learns nothing about what exists there.
    expect((await refusal(c.resolveExisting('out/nope'))).kind).toBe('outside');
    expect((await refusal(c.resolveExisting('nope'))).kind).toBe('missing');
    // A trailing slash names a directory, as the kernel reads it.
    for (const spelled of ['a.txt/', 'a.txt/.', `${t.ws}/a.txt/`]) expect((await refusal(c.resolveExisting(spelled))).kind).toBe('type');
    expect((await refusal(openFileForRead(c, 'a.txt/'))).kind).toBe('type');
    expect(await c.resolveExisting('./')).toBe(t.ws);
    expect((await refusal(c.resolveExisting(`/proc/self/root${t.ws}/a.txt`))).message).toContain('/proc');
    expect((await refusal(c.resolveExisting('/proc/self/cwd'))).kind).toBe('outside');
    expect((await refusal(c.resolveExisting('a.txt\0/../../etc/passwd'))).message).toContain('NUL');
    expect((await refusal(c.resolveForCreate('out/new.txt'))).kind).toBe('outside');
    expect(await c.resolveForCreate('new/deeper/x.txt')).toBe(join(t.ws, 'new/deeper/x.txt'));
  });

  test('a dangling symlink is judged by where its target is, never by whether the target exists', async () => {
    using t = tree();
    writeFileSync(join(t.outside, 'there'), 'x');
    symlinkSync(join(t.outside, 'there'), join(t.ws, 'to-there'));
    symlinkSync(join(t.outside, 'gone'), join(t.ws, 'to-gone'));
    symlinkSync('../outside/gone/deeper', join(t.ws, 'rel-gone'));
    symlinkSync('nowhere', join(t.ws, 'inside-gone'));
    symlinkSync('loop-b', join(t.ws, 'loop-a'));
    symlinkSync('loop-a', join(t.ws, 'loop-b'));
    const c = new Confiner(t.ws);
    const kinds = [];
    for (const p of ['to-there', 'to-gone', 'rel-gone', 'to-gone/x', 'inside-gone', 'inside-gone/x', 'loop-a']) kinds.push([p, (await refusal(c.resolveExisting(p))).kind]);
    expect(kinds).toEqual([
      ['to-there', 'outside'],
      ['to-gone', 'outside'],
      ['rel-gone', 'outside'],
      ['to-gone/x', 'outside'],
      ['inside-gone', 'missing'],
      ['inside-gone/x', 'missing'],
      ['loop-a', 'invalid'],
    ]);
    expect(await c.locate(join(t.ws, 'rel-gone'), 'rel-gone')).toBe(join(t.outside, 'gone', 'deeper'));
  });

  test('display paths are workspace-relative', () => {
    using t = tree();
    const c = new Confiner(t.ws);
    expect(c.display(join(t.ws, 'src/a.ts'))).toBe('src/a.ts');
    expect(c.display(t.ws)).toBe('.');
  });

  test('an allowed path inside /proc grants nothing', () => {
    using t = tree();
    const c = new Confiner(t.ws, ['/proc/self', t.outside]);
    expect(c.roots).toEqual([t.ws, t.outside]);
  });
});

describe('openFileForRead / openDirectory', () => {
  test('opens regular files; refuses directories, FIFOs, hard links and symlinks swapped in after the check', async () => {
    using t = tree();
    writeFileSync(join(t.ws, 'a.txt'), 'inside');
    writeFileSync(join(t.outside, 'secret'), 'TOPSECRET');
    linkSync(join(t.outside, 'secret'), join(t.ws, 'hard'));
    Bun.spawnSync(['mkfifo', join(t.ws, 'fifo')]);
    const c = new Confiner(t.ws);
    const ok = await openFileForRead(c, 'a.txt');
    expect(await ok.handle.readFile('utf8')).toBe('inside');
    await ok.handle.close();
    expect((await refusal(openFileForRead(c, '.'))).kind).toBe('type');
    expect((await refusal(openFileForRead(c, 'fifo'))).message).toContain('FIFO');
    expect((await refusal(openFileForRead(c, 'hard'))).kind).toBe('hardlink');
    // Checked while a.txt was a file; swapped for a symlink to a file outside before the open.
    const swapped = openFileForRead(c, 'a.txt', {
      beforeOpen: () => {
        renameSync(join(t.ws, 'a.txt'), join(t.ws, 'a.old'));
        symlinkSync(join(t.outside, 'secret'), join(t.ws, 'a.txt'));
      },
    });
    expect((await refusal(swapped)).kind).toBe('symlink');
  });

  test('a parent directory swapped for a symlink between check and open is caught: the open never follows it', async () => {
    using t = tree();
    mkdirSync(join(t.ws, 'd'));
    writeFileSync(join(t.ws, 'd', 'f'), 'inside');
    mkdirSync(join(t.outside, 'd'));
    writeFileSync(join(t.outside, 'd', 'f'), 'TOPSECRET');
    const c = new Confiner(t.ws);
    const swap = () => {
      renameSync(join(t.ws, 'd'), join(t.ws, 'd.old'));
      symlinkSync(join(t.outside, 'd'), join(t.ws, 'd'));
    };
    // The checked real path is ws/d/f; after the swap its parent component is a link out, which the
    // component-by-component open refuses (without /proc, asking the descriptor catches it: outside).
    const err = await refusal(openFileForRead(c, 'd/f', { beforeOpen: swap }));
    expect(['outside', 'symlink']).toContain(err.kind);
    renameSync(join(t.ws, 'd'), join(t.ws, 'd.link'));
    renameSync(join(t.ws, 'd.old'), join(t.ws, 'd'));
    const dirErr = await refusal(openDirectory(c, 'd', undefined, { beforeOpen: swap }));
    expect(['outside', 'symlink']).toContain(dirErr.kind);
  });

  test('with /proc, a parent swapped for a symlink to another directory inside is refused too: the walk follows no symlink, wherever it leads', async () => {
    // Without /proc the descriptor check alone guards, and a link that stays inside is no escape: nothing to pin there.
    if (!hasProcFd()) return;
    using t = tree();
    mkdirSync(join(t.ws, 'd'));
    writeFileSync(join(t.ws, 'd', 'f'), 'checked');
    mkdirSync(join(t.ws, 'other'));
    writeFileSync(join(t.ws, 'other', 'f'), 'not the file that was checked');
    const c = new Confiner(t.ws);
    const swap = () => {
      renameSync(join(t.ws, 'd'), join(t.ws, 'd.old'));
      symlinkSync(join(t.ws, 'other'), join(t.ws, 'd'));
    };
    expect((await refusal(openFileForRead(c, 'd/f', { beforeOpen: swap }))).kind).toBe('symlink');
  });
});

describe('writeAtomic', () => {
  test('creates parents, replaces atomically, keeps the mode, and leaves no temp file', async () => {
    using t = tree();
    const c = new Confiner(t.ws);
    const r = await writeAtomic(c, 'a/b/c.txt', bytes('one'));
    expect(r).toEqual({ real: join(t.ws, 'a/b/c.txt'), created: true });
    Bun.spawnSync(['chmod', '0750', join(t.ws, 'a/b/c.txt')]);
    const r2 = await writeAtomic(c, 'a/b/c.txt', bytes('two'));
    expect(r2.created).toBe(false);
    expect(readFileSync(join(t.ws, 'a/b/c.txt'), 'utf8')).toBe('two');
    expect(statSync(join(t.ws, 'a/b/c.txt')).mode & 0o777).toBe(0o750);
    expect(readdirSync(join(t.ws, 'a/b'))).toEqual(['c.txt']);
  });

  test('createOnly refuses an existing file and keeps it', async () => {
    using t = tree();
    writeFileSync(join(t.ws, 'x'), 'old');
    const c = new Confiner(t.ws);
    expect((await refusal(writeAtomic(c, 'x', bytes('new'), { createOnly: true }))).kind).toBe('exists');
    expect(readFileSync(join(t.ws, 'x'), 'utf8')).toBe('old');
    // The file appears between the checks and the commit: link() refuses, nothing is replaced.
    const racing = writeAtomic(c, 'y', bytes('mine'), { createOnly: true, beforeCommit: () => writeFileSync(join(t.ws, 'y'), 'theirs') });
    expect((await refusal(racing)).kind).toBe('exists');
    expect(readFileSync(join(t.ws, 'y'), 'utf8')).toBe('theirs');
    expect(readdirSync(t.ws).sort()).toEqual(['x', 'y']);
  });

  // A command swaps a file of its own, carrying an ACL of its choosing, into the name just while the replaced file's
  // attributes are read, and back: read by name they were the swapped-in file's, and its ACL (mode 0666) went onto the
  // replacement of a 0600 file the command could not read. Read from the file that was looked at, they are its own.
  test.skipIf(process.platform !== 'linux')('a replacement takes the attributes of the file it replaces, not of one swapped into its name meanwhile', async () => {
    using t = tree();
    const c = new Confiner(t.ws);
    const [secret, decoy] = [join(t.ws, 'secret'), join(t.ws, 'decoy')];
    writeFileSync(secret, 'private');
    chmodSync(secret, 0o600);
    writeFileSync(decoy, 'decoy');
    const entry = (tag: number, perm: number) => [tag, 0, perm, 0, 0xff, 0xff, 0xff, 0xff];
    const wide = Buffer.from([2, 0, 0, 0, ...entry(0x01, 6), ...entry(0x04, 0), ...entry(0x10, 6), ...entry(0x20, 6)]).toString('hex');
    const set = Bun.spawnSync(['python3', '-c', `import os; os.setxattr(${JSON.stringify(decoy)}, 'system.posix_acl_access', bytes.fromhex('${wide}'))`]);
    if (set.exitCode !== 0) return; // no ACLs on this file system
    const exchange = () => {
      const r = Bun.spawnSync(['python3', '-c', `import ctypes; l = ctypes.CDLL(None, use_errno=True); assert l.renameat2(-100, ${JSON.stringify(secret)}.encode(), -100, ${JSON.stringify(decoy)}.encode(), 2) == 0`]);
      expect(r.exitCode).toBe(0);
    };
    // Of the version read, as edit_file writes.
    const read = statSync(secret);
    const expect_ = { ino: read.ino, size: read.size, mtimeMs: read.mtimeMs, bytes: readFileSync(secret) };
    const outcome = await writeAtomic(c, 'secret', bytes('private, edited'), { expect: expect_, beforeAttributes: exchange, beforeCommit: exchange }).then(
      () => 'written',
      (err: PathRefusedError) => err.kind,
    );
    // Refused as changed (the names stay swapped), or written: either way the private content, under whichever name,
    // is still 0600.
    expect(['changed', 'written']).toContain(outcome);
    const holder = [secret, decoy].find((f) => readFileSync(f, 'utf8').startsWith('private'))!;
    expect(statSync(holder).mode & 0o777).toBe(0o600);
  });

  // Commands on a root server run as uid 0, the server's uid: a new file under a name, the server's until it gets the
  // replaced file's owner and mode, could be opened by one in that moment, and what was written after read through it.
  test.skipIf(process.platform !== 'linux')('the replacement has no name until it has the owner, mode and content it keeps', async () => {
    using t = tree();
    const c = new Confiner(t.ws);
    writeFileSync(join(t.ws, 'secret'), 'private');
    chmodSync(join(t.ws, 'secret'), 0o600);
    const named: string[][] = [];
    const look = () => void named.push(readdirSync(t.ws).filter((n) => n !== 'secret'));
    await writeAtomic(c, 'secret', bytes('private, edited'), { beforeAttributes: look });
    // Named only at the end, with the kept mode: nothing to open while it was being made.
    expect(named).toEqual([[]]);
    expect([readFileSync(join(t.ws, 'secret'), 'utf8'), statSync(join(t.ws, 'secret')).mode & 0o777]).toEqual(['private, edited', 0o600]);
  });

  test('created says whether the file was there at the commit, not when the write began', async () => {
    using t = tree();
    const c = new Confiner(t.ws);
    // Another writer creates the file while this one writes its copy: this one replaces it, it did not create it.
    const replaced = await writeAtomic(c, 'z', bytes('mine'), { beforeCommit: () => writeFileSync(join(t.ws, 'z'), 'theirs') });
    expect([replaced.created, readFileSync(join(t.ws, 'z'), 'utf8')]).toEqual([false, 'mine']);
    // The file goes away meanwhile: this write creates it.
    const made = await writeAtomic(c, 'z', bytes('again'), { beforeCommit: () => rmSync(join(t.ws, 'z')) });
    expect([made.created, readFileSync(join(t.ws, 'z'), 'utf8')]).toEqual([true, 'again']);
  });

  // The replacement carries the mode read before its content was written: a chmod 600 made in between (its owner
  // closing the file to others while an edit ran) was undone by the rename, in an edit and in a plain write alike.
  test('a mode or owner changed while the new content is written refuses the write; the change stands', async () => {
    using t = tree();
    const c = new Confiner(t.ws);
    const file = join(t.ws, 'secret.env');
    for (const edit of [true, false]) {
      writeFileSync(file, 'TOKEN=abc\n');
      chmodSync(file, 0o644);
      const read = statSync(file);
      const version = { ino: read.ino, size: read.size, mtimeMs: read.mtimeMs, bytes: readFileSync(file) };
      const tighten = () => chmodSync(file, 0o600);
      const outcome = await refusal(writeAtomic(c, 'secret.env', bytes('TOKEN=abd\n'), { expect: edit ? version : undefined, beforeCommit: tighten }));
      expect([edit, outcome.kind, readFileSync(file, 'utf8'), statSync(file).mode & 0o777]).toEqual([edit, 'changed', 'TOKEN=abc\n', 0o600]);
    }
    // A file of another mode moved into its place (an editor's save, install -m 600) refuses it too.
    writeFileSync(file, 'TOKEN=abc\n');
    chmodSync(file, 0o644);
    const moveIn = () => {
      writeFileSync(`${file}.new`, 'TOKEN=abc\n', { mode: 0o600 });
      chmodSync(`${file}.new`, 0o600);
      renameSync(`${file}.new`, file);
    };
    const moved = await refusal(writeAtomic(c, 'secret.env', bytes('TOKEN=abd\n'), { beforeCommit: moveIn }));
    expect([moved.kind, statSync(file).mode & 0o777]).toEqual(['changed', 0o600]);
    // A name free at the start and taken meanwhile by a file of another mode: refused too, where one made alike is
    // replaced (last writer wins, as before).
    const fresh = join(t.ws, 'fresh.env');
    const makePrivate = () => writeFileSync(fresh, 'mine\n', { mode: 0o600 });
    const taken = await refusal(writeAtomic(c, 'fresh.env', bytes('agent\n'), { beforeCommit: makePrivate }));
    expect([taken.kind, readFileSync(fresh, 'utf8'), statSync(fresh).mode & 0o777]).toEqual(['changed', 'mine\n', 0o600]);
    if (process.getuid?.() !== 0) return;
    // And a chown that keeps the mode (same tick or not: the owner is compared as it is).
    writeFileSync(file, 'TOKEN=abc\n');
    const outcome = await refusal(writeAtomic(c, 'secret.env', bytes('TOKEN=abd\n'), { beforeCommit: () => chownSync(file, 65534, 65534) }));
    expect([outcome.kind, statSync(file).uid]).toEqual(['changed', 65534]);
  });

  // An ACL or user attribute set in the window changes neither the mode nor the content, so only the attributes
  // themselves tell; a status-change time that moved tells nothing (an access-time update, a hard link made and
  // taken away again move it too), and refusing on it refused writes for what changes nothing the file keeps.
  test.skipIf(process.platform !== 'linux')('an ACL or user attribute set while the new content is written refuses the write; an access-time update or a passing link does not', async () => {
    using t = tree();
    const c = new Confiner(t.ws);
    const file = join(t.ws, 'notes.txt');
    // Through libc in this process: a python3 per call failed now and then on a loaded machine.
    const setXattr = (name: string, hex: string) => {
      const fd = openSync(file, 'r');
      try {
        setXattrs(fd, new Map([[name, Buffer.from(hex, 'hex')]]));
        return true;
      } catch {
        return false;
      } finally {
        closeSync(fd);
      }
    };
    const getXattrs = () => `[${[...carriedXattrs(file).keys()].sort().map((n) => `'${n}'`).join(', ')}]`;
    // user::rw-, user:65534:r--, group::r--, mask::r--, other::r--: the mode stays 0644.
    const entry = (tag: number, perm: number, id: number) => [tag, 0, perm, 0, id & 0xff, (id >> 8) & 0xff, (id >> 16) & 0xff, (id >>> 24) & 0xff];
    const none = 0xffffffff;
    const acl = Buffer.from([2, 0, 0, 0, ...entry(0x01, 6, none), ...entry(0x02, 4, 65534), ...entry(0x04, 4, none), ...entry(0x10, 4, none), ...entry(0x20, 4, none)]).toString('hex');
    const fresh = () => {
      rmSync(file, { force: true });
      writeFileSync(file, 'v1\n');
      chmodSync(file, 0o644);
    };
    fresh();
    if (!setXattr('user.probe', '')) return; // no extended attributes on this file system
    for (const [name, hex] of [['system.posix_acl_access', acl], ['user.origin', '6b657074']] as const) {
      fresh();
      const outcome = await refusal(writeAtomic(c, 'notes.txt', bytes('v2\n'), { beforeCommit: () => expect(setXattr(name, hex)).toBe(true) }));
      expect([name, outcome.kind, readFileSync(file, 'utf8'), statSync(file).mode & 0o777, getXattrs()]).toEqual([name, 'changed', 'v1\n', 0o644, `['${name}']`]);
    }
    const wait = () => Bun.sleepSync(20);
    const moves: Array<[string, () => void]> = [
      ['access time', () => (wait(), utimesSync(file, new Date(), statSync(file).mtime))],
      ['passing link', () => (wait(), linkSync(file, `${file}.bak`), rmSync(`${file}.bak`))],
    ];
    for (const [what, move] of moves) {
      fresh();
      const before = statSync(file);
      const r = await writeAtomic(c, 'notes.txt', bytes('v2\n'), { beforeCommit: () => (move(), expect(statSync(file).ctimeMs).not.toBe(before.ctimeMs)) }).then(
        () => 'written',
        (err: PathRefusedError) => err.kind,
      );
      expect([what, r, readFileSync(file, 'utf8')]).toEqual([what, 'written', 'v2\n']);
    }
  });

  test('refuses a symlink (even dangling) at the last component, hard links, directories', async () => {
    using t = tree();
    writeFileSync(join(t.outside, 'secret'), 'TOPSECRET');
    symlinkSync(join(t.outside, 'secret'), join(t.ws, 'link'));
    symlinkSync(join(t.outside, 'new'), join(t.ws, 'dangling'));
    linkSync(join(t.outside, 'secret'), join(t.ws, 'hard'));
    mkdirSync(join(t.ws, 'dir'));
    const c = new Confiner(t.ws);
    expect((await refusal(writeAtomic(c, 'link', bytes('x')))).kind).toBe('symlink');
    expect((await refusal(writeAtomic(c, 'dangling', bytes('x')))).kind).toBe('symlink');
    expect((await refusal(writeAtomic(c, 'hard', bytes('x')))).kind).toBe('hardlink');
    expect((await refusal(writeAtomic(c, 'dir', bytes('x')))).kind).toBe('type');
    expect((await refusal(writeAtomic(c, '.', bytes('x')))).kind).toBe('type');
    expect(readdirSync(t.outside)).toEqual(['secret']);
    expect(readFileSync(join(t.outside, 'secret'), 'utf8')).toBe('TOPSECRET');
  });

  test('a parent swapped for a symlink out after the checks: the write lands in the directory that was checked', async () => {
    using t = tree();
    mkdirSync(join(t.ws, 'p'));
    const c = new Confiner(t.ws);
    const r = await writeAtomic(c, 'p/f.txt', bytes('data'), {
      beforeCommit: () => {
        renameSync(join(t.ws, 'p'), join(t.ws, 'p.moved'));
        symlinkSync(t.outside, join(t.ws, 'p'));
      },
    });
    expect(r.real).toBe(join(t.ws, 'p.moved', 'f.txt'));
    expect(readFileSync(join(t.ws, 'p.moved', 'f.txt'), 'utf8')).toBe('data');
    expect(readdirSync(t.outside)).toEqual([]);
  });

  test('a parent moved out of the workspace after the checks: refused, nothing written there', async () => {
    using t = tree();
    mkdirSync(join(t.ws, 'p'));
    const c = new Confiner(t.ws);
    const err = await refusal(writeAtomic(c, 'p/f.txt', bytes('data'), { beforeCommit: () => renameSync(join(t.ws, 'p'), join(t.outside, 'p')) }));
    expect(err.kind).toBe('outside');
    expect(readdirSync(join(t.outside, 'p'))).toEqual([]);
  });

  test('missing parents are created level by level: a level swapped for a link out is refused, nothing created outside', async () => {
    using t = tree();
    const c = new Confiner(t.ws);
    symlinkSync(t.outside, join(t.ws, 'l'));
    expect((await refusal(writeAtomic(c, 'l/new/f.txt', bytes('x')))).kind).toBe('outside');
    expect(readdirSync(t.outside)).toEqual([]);
  });

  test('expect: a file changed since it was read is not replaced', async () => {
    using t = tree();
    writeFileSync(join(t.ws, 'f'), 'v1');
    const c = new Confiner(t.ws);
    const st = statSync(join(t.ws, 'f'));
    const err = await refusal(
      writeAtomic(c, 'f', bytes('mine'), {
        expect: { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, bytes: bytes('v1') },
        beforeCommit: () => {
          renameSync(join(t.ws, 'f'), join(t.ws, 'f.tmp'));
          writeFileSync(join(t.ws, 'f'), 'v2 by someone else');
        },
      }),
    );
    expect(err.kind).toBe('changed');
    expect(readFileSync(join(t.ws, 'f'), 'utf8')).toBe('v2 by someone else');
  });

  test('expect: a same-size rewrite in place with the mtime set back (same inode, size and mtime) is seen by its bytes and not replaced', async () => {
    using t = tree();
    const f = join(t.ws, 'f');
    writeFileSync(f, 'value=1\n');
    const c = new Confiner(t.ws);
    const st = statSync(f, { bigint: true });
    const err = await refusal(
      writeAtomic(c, 'f', bytes('mine'), {
        expect: { ino: Number(st.ino), size: Number(st.size), mtimeMs: statSync(f).mtimeMs, bytes: bytes('value=1\n') },
        beforeCommit: () => {
          const fd = openSync(f, 'r+');
          writeSync(fd, 'value=2\n', 0);
          closeSync(fd);
          // To the nanosecond, as touch -d sets it: a Date would round the mtime to the millisecond.
          const ns = st.mtimeNs;
          Bun.spawnSync(['touch', '-m', '-d', `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`, f]);
        },
      }),
    );
    const now = statSync(f, { bigint: true });
    expect({ kind: err.kind, text: readFileSync(f, 'utf8'), same: [now.ino, now.size, now.mtimeNs] }).toEqual({ kind: 'changed', text: 'value=2\n', same: [st.ino, st.size, st.mtimeNs] });
  });

  test('expect: the file still holding the bytes it was read with is replaced', async () => {
    using t = tree();
    const f = join(t.ws, 'f');
    writeFileSync(f, 'value=1\n');
    const st = statSync(f);
    await writeAtomic(new Confiner(t.ws), 'f', bytes('mine'), { expect: { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, bytes: bytes('value=1\n') } });
    expect(readFileSync(f, 'utf8')).toBe('mine');
  });
});
