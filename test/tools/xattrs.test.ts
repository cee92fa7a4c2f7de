/**
 * edit_file and write_file replace a file with a new one: it keeps the old
 * one's ACL and user attributes. Without its ACL the new file would fall back
 * to the mode's group bits (under an ACL, its mask) and give the owning group
 * what the ACL denied.
 */
import { describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_CARRIED, MAX_CARRIED_BYTES } from '../../src/util/xattrs.ts';
import { startServer, tree } from './helpers.ts';

/** An access ACL as the kernel stores it: user::rw-, user:65534:r--, group::---, mask::r--, other::---. */
function acl(): string {
  const entry = (tag: number, perm: number, id: number) => [tag & 0xff, tag >> 8, perm, 0, id & 0xff, (id >> 8) & 0xff, (id >> 16) & 0xff, (id >>> 24) & 0xff];
  const none = 0xffffffff;
  return Buffer.from([2, 0, 0, 0, ...entry(0x01, 6, none), ...entry(0x02, 4, 65534), ...entry(0x04, 0, none), ...entry(0x10, 4, none), ...entry(0x20, 0, none)]).toString('hex');
}

const py = (code: string) => Bun.spawnSync(['python3', '-c', code], { stderr: 'pipe' });
const setXattr = (path: string, name: string, hex: string) => py(`import os; os.setxattr(${JSON.stringify(path)}, ${JSON.stringify(name)}, bytes.fromhex(${JSON.stringify(hex)}))`);
const getXattrs = (path: string) =>
  JSON.parse(py(`import os, json; p = ${JSON.stringify(path)}; print(json.dumps({n: os.getxattr(p, n).hex() for n in os.listxattr(p)}))`).stdout.toString());

describe.skipIf(process.platform !== 'linux')('a replaced file keeps its extended attributes', () => {
  test('edit_file and write_file keep its ACL (and so its mode) and its user attributes', async () => {
    using t = tree();
    await using s = await startServer(t);
    const file = join(t.ws, 'a.txt');
    writeFileSync(file, 'needle\n');
    const set = [setXattr(file, 'system.posix_acl_access', acl()), setXattr(file, 'user.origin', Buffer.from('kept').toString('hex')), setXattr(file, 'user.empty', '')];
    // A file system that keeps no ACL or user attributes has nothing to keep.
    if (set.some((r) => r.exitCode !== 0)) return;
    const before = { attrs: getXattrs(file), mode: statSync(file).mode & 0o777 };
    expect(Object.keys(before.attrs).sort()).toEqual(['system.posix_acl_access', 'user.empty', 'user.origin']);

    expect((await s.call('edit_file', { path: 'a.txt', edits: [{ oldText: 'needle', newText: 'thread' }] })).isError).toBe(false);
    expect({ attrs: getXattrs(file), mode: statSync(file).mode & 0o777 }).toEqual(before);
    expect((await s.call('write_file', { path: 'a.txt', content: 'rewritten\n' })).isError).toBe(false);
    expect({ attrs: getXattrs(file), mode: statSync(file).mode & 0o777 }).toEqual(before);
  });

  // Each carried attribute is read on the event loop: a file a command gave thousands of them (tmpfs and XFS take
  // 64 KiB values) held every client's requests for seconds on each edit. Past the bound the write is refused unread.
  // A command that cannot read a group's file sets a default ACL on its directory naming itself: a replacement made
  // there inherits it as its access ACL, unless it is taken off. The file had none; it keeps none.
  test('a replacement does not take an access ACL from its directory\'s default ACL', async () => {
    using t = tree();
    await using s = await startServer(t);
    mkdirSync(join(t.ws, 'd'));
    const file = join(t.ws, 'd', 's.txt');
    writeFileSync(file, 'line one\n');
    chmodSync(file, 0o660);
    const entry = (tag: number, perm: number, id = 0xffffffff) => [tag, 0, perm, 0, id & 0xff, (id >> 8) & 0xff, (id >> 16) & 0xff, (id >>> 24) & 0xff];
    const inviting = Buffer.from([2, 0, 0, 0, ...entry(0x01, 6), ...entry(0x02, 6, 4242), ...entry(0x04, 6), ...entry(0x10, 6), ...entry(0x20, 0)]).toString('hex');
    if (setXattr(join(t.ws, 'd'), 'system.posix_acl_default', inviting).exitCode !== 0) return; // no ACLs here
    for (const [tool, args] of [['edit_file', { path: 'd/s.txt', edits: [{ oldText: 'one', newText: 'two' }] }], ['write_file', { path: 'd/s.txt', content: 'line three\n' }]] as const) {
      expect((await s.call(tool, args)).isError).toBe(false);
      expect({ tool, attrs: Object.keys(getXattrs(file)), mode: statSync(file).mode & 0o777 }).toEqual({ tool, attrs: [], mode: 0o660 });
    }
  });

  // tmpfs (and XFS) keep values up to 64 KiB: a few of them pass the bytes a replacement carries, however few they are.
  test.skipIf(!existsSync('/dev/shm'))('a file whose attributes pass 256 KiB in all is refused, and kept as it was', async () => {
    using t = tree();
    const shm = mkdtempSync('/dev/shm/hide-xattrs-');
    try {
      await using s = await startServer({ ...t, ws: shm });
      const file = join(shm, 'fat.txt');
      writeFileSync(file, 'needle\n');
      const set = py(`import os\nfor i in range(5): os.setxattr(${JSON.stringify(file)}, 'user.big%d' % i, b'x' * 60000)`);
      if (set.exitCode !== 0) return; // this tmpfs keeps no user attributes
      const r = await s.call('write_file', { path: 'fat.txt', content: 'replaced\n' });
      expect({ isError: r.isError, error: r.error }).toEqual({ isError: true, error: expect.stringContaining(`its extended attributes pass ${MAX_CARRIED_BYTES / 1024} KiB; not written`) });
      expect(readFileSync(file, 'utf8')).toBe('needle\n');
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });

  test('a file with more attributes than a replacement carries is refused, and kept as it was', async () => {
    using t = tree();
    await using s = await startServer(t);
    const file = join(t.ws, 'many.txt');
    writeFileSync(file, 'needle\n');
    const set = py(`import os\nfor i in range(${MAX_CARRIED + 6}): os.setxattr(${JSON.stringify(file)}, 'user.n%d' % i, b'v')`);
    if (set.exitCode !== 0) return; // no user attributes on this file system
    const r = await s.call('edit_file', { path: 'many.txt', edits: [{ oldText: 'needle', newText: 'thread' }] });
    expect({ isError: r.isError, error: r.error }).toEqual({ isError: true, error: expect.stringMatching(new RegExp(`^cannot keep the extended attributes \\(ACL\\) of '[^']*many\\.txt': it has more than ${MAX_CARRIED} extended attributes; not written$`)) });
    expect(readFileSync(file, 'utf8')).toBe('needle\n');
    expect(Object.keys(getXattrs(file))).toHaveLength(MAX_CARRIED + 6);
  });
});
