/**
 * A configured workspace, allowed path or read-only path is granted wherever
 * its name leads when the server starts: whoever can put a link in its place
 * (a user who may write a directory on its way) picks what the next start
 * grants. Each case builds the directories and asks who could.
 */
import { describe, expect, test } from 'bun:test';
import { chmodSync, chownSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { replaceableRootWarnings } from '../../src/config/replaceable-roots.ts';
import { runCli } from '../helpers/cli.ts';
import { disposableTempDir as tempDir } from '../helpers/temp.ts';
import { configDir } from './helpers.ts';

const isRoot = process.getuid?.() === 0;
const accounts = { passwd: '', group: '' };

function settings(workspace: string, more: { allowedPaths?: string[]; readOnlyPaths?: string[]; mode?: 'off' | 'auto' } = {}) {
  return { workspace, allowedPaths: more.allowedPaths ?? [], sandbox: { mode: more.mode ?? 'auto', readOnlyPaths: more.readOnlyPaths ?? [] } } as const;
}

describe('configured paths another user could replace', () => {
  test('a directory on the way that others may write, or one another user owns, is named; the workspace\'s own mode is not', () => {
    using dir = tempDir('hide-replaceable-');
    const open = join(dir.path, 'open');
    mkdirSync(join(open, 'ws'), { recursive: true });
    chmodSync(join(open, 'ws'), 0o777);
    expect(replaceableRootWarnings(settings(join(open, 'ws')), { accounts })).toEqual([]);
    chmodSync(open, 0o777);
    expect(replaceableRootWarnings(settings(join(open, 'ws')), { accounts })).toEqual([
      `the workspace ${join(open, 'ws')} could be replaced by another user (the directory ${open} is writable by group and others (mode 0777)): ` +
        'a start gives commands and file tools read-write access to wherever that name leads then, a link to / included; ' +
        "make the directories on its path writable only by root or the server's user (chmod go-w, or the sticky bit with the name owned by one of them)",
    ]);
    // The server's own user is trusted as root is.
    chmodSync(open, 0o755);
    if (!isRoot) return;
    chownSync(open, 65521, 65521);
    expect(replaceableRootWarnings(settings(join(open, 'ws')), { accounts, serverUid: 0 })[0]).toContain(`(the directory ${open} is owned by uid 65521)`);
    expect(replaceableRootWarnings(settings(join(open, 'ws')), { accounts, serverUid: 65521 })).toEqual([]);
  });

  test('in a sticky directory only a name another user owns counts; a link on the way counts where the link lies', () => {
    using dir = tempDir('hide-replaceable-');
    const sticky = join(dir.path, 'sticky');
    const real = join(dir.path, 'real');
    mkdirSync(join(sticky, 'ro'), { recursive: true });
    mkdirSync(real);
    chmodSync(sticky, 0o1777);
    symlinkSync(real, join(sticky, 'lnk'));
    const config = settings(dir.path, { allowedPaths: [join(sticky, 'lnk')], readOnlyPaths: [join(sticky, 'ro')] });
    expect(replaceableRootWarnings(config, { accounts })).toEqual([]);
    // Without the sticky bit, anyone may rename either away.
    chmodSync(sticky, 0o777);
    expect(replaceableRootWarnings(config, { accounts }).map((w) => w.split(' could')[0])).toEqual([`the allowed path ${join(sticky, 'lnk')}`, `the read-only path ${join(sticky, 'ro')}`]);
    // Read-only paths are granted only by the sandbox.
    expect(replaceableRootWarnings({ ...config, sandbox: { ...config.sandbox, mode: 'off' } }, { accounts }).map((w) => w.split(' could')[0])).toEqual([`the allowed path ${join(sticky, 'lnk')}`]);
    if (!isRoot) return;
    chmodSync(sticky, 0o1777);
    chownSync(join(sticky, 'ro'), 65521, 65521);
    expect(replaceableRootWarnings(config, { accounts })).toEqual([
      `the read-only path ${join(sticky, 'ro')} could be replaced by another user (${join(sticky, 'ro')}, in the sticky directory ${sticky}, is owned by uid 65521): ` +
        'a start gives commands read access to wherever that name leads then, a link to / included; ' +
        "make the directories on its path writable only by root or the server's user (chmod go-w, or the sticky bit with the name owned by one of them)",
    ]);
  });

  // Landlock adds rights and never takes one back: a read-only path inside the workspace was as writable as the rest,
  // by commands and by write_file, and nothing said so.
  test.concurrent('a read-only path that leads into the workspace or an allowed path is named; one outside, or with the sandbox off, is not', async () => {
    using dir = configDir({ 'ws/tools/.keep': '', 'other/.keep': '' });
    const ws = join(dir.path, 'ws');
    const env = { HIDE_WORKSPACE: ws, HIDE_SANDBOX_READ_ONLY_PATHS: `/usr,${join(ws, 'tools')},${join(dir.path, 'other')}` };
    const [on, off] = await Promise.all([runCli(['check-config'], dir.path, env), runCli(['check-config'], dir.path, { ...env, HIDE_SANDBOX: 'off' })]);
    const warnings = (r: { stdout: string }) => (JSON.parse(r.stdout) as { warnings: string[] }).warnings;
    expect([on.code, warnings(on)]).toEqual([
      0,
      [`the read-only path ${join(ws, 'tools')} lies in the workspace (${ws}): commands and file tools can write it as they write the rest of it; keep read-only paths outside the workspace and allowed paths`],
    ]);
    expect([off.code, warnings(off)]).toEqual([0, []]);
  });

  test.concurrent('check-config lists them with its warnings; the defaults give none', async () => {
    using dir = configDir({ 'open/ws/.keep': '' });
    chmodSync(join(dir.path, 'open'), 0o777);
    const [replaceable, plain] = await Promise.all([
      runCli(['check-config'], dir.path, { HIDE_WORKSPACE: join(dir.path, 'open', 'ws') }),
      runCli(['check-config'], dir.path, { HIDE_WORKSPACE: dir.workspace }),
    ]);
    const warnings = (r: { stdout: string }) => (JSON.parse(r.stdout) as { warnings: string[] }).warnings;
    expect([replaceable.code, warnings(replaceable).map((w) => w.split(' (')[0])]).toEqual([0, [`the workspace ${join(dir.path, 'open', 'ws')} could be replaced by another user`]]);
    expect([plain.code, warnings(plain)]).toEqual([0, []]);
  });
});
