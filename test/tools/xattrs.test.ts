/**
 * edit_file and write_file replace a file with a new one: it keeps the old
 * one's ACL and user attributes. Without its ACL the new file would fall back
 * to the mode's group bits (under an ACL, its mask) and give the owning group
 * what the ACL denied.
 */
import { describe, expect, test } from 'bun:test';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
    const set = [setXattr(file, 'system.posix_acl_access', acl()), setXattr(file, 'user.origin', Buffer.from('kept').toString('hex'))];
    // A file system that keeps no ACL or user attributes has nothing to keep.
    if (set.some((r) => r.exitCode !== 0)) return;
    const before = { attrs: getXattrs(file), mode: statSync(file).mode & 0o777 };
    expect(Object.keys(before.attrs).sort()).toEqual(['system.posix_acl_access', 'user.origin']);

    expect((await s.call('edit_file', { path: 'a.txt', edits: [{ oldText: 'needle', newText: 'thread' }] })).isError).toBe(false);
    expect({ attrs: getXattrs(file), mode: statSync(file).mode & 0o777 }).toEqual(before);
    expect((await s.call('write_file', { path: 'a.txt', content: 'rewritten\n' })).isError).toBe(false);
    expect({ attrs: getXattrs(file), mode: statSync(file).mode & 0o777 }).toEqual(before);
  });
});
