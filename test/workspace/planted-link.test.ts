/**
 * A granted path reached through a link that lies in another granted
 * directory and leads out of it is refused at start: a command may have put
 * it there (renamed a directory above the workspace and linked its name to
 * anywhere), and following it would grant wherever it leads.
 */
import { expect, test } from 'bun:test';
import { mkdirSync, realpathSync, renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Confiner } from '../../src/workspace/confine.ts';
import { tempDir } from '../helpers/temp.ts';

function layout() {
  const dir = realpathSync(tempDir());
  const mono = join(dir, 'mono');
  mkdirSync(join(mono, 'a', 'proj'), { recursive: true });
  mkdirSync(join(dir, 'outside', 'proj'), { recursive: true });
  return { dir, mono, workspace: join(mono, 'a', 'proj') };
}

test('the workspace under an allowed path, a directory above it swapped for a link out: refused, naming the link', () => {
  const { dir, mono, workspace } = layout();
  expect(new Confiner(workspace, [mono]).workspace).toBe(workspace);
  // What a command granted `mono` can do between two starts.
  renameSync(join(mono, 'a'), join(mono, 'a-moved'));
  symlinkSync(join(dir, 'outside'), join(mono, 'a'));
  expect(() => new Confiner(workspace, [mono])).toThrow(
    `the workspace ${workspace} is reached through the link ${join(mono, 'a')}, in the granted directory ${mono}, leading to ${join(dir, 'outside')}`,
  );
});

// The link's own grant made `/` (or an ancestor of the allowed path) a root, and a root that holds everything let the
// link through: the restart granted `/` read-write.
test('the workspace under an allowed path swapped for a link to / or to an ancestor, itself or with another allowed path: refused', () => {
  for (const to of ['/', 'ancestor', 'both']) {
    const { dir, mono, workspace } = layout();
    mkdirSync(join(mono, 'b'));
    renameSync(join(mono, 'a'), join(mono, 'a-moved'));
    mkdirSync(join(mono, 'a'));
    symlinkSync(to === 'ancestor' ? dir : '/', join(mono, 'a', 'proj'));
    // A second allowed path in the same directory, swapped the same way: each made root holds the other's link.
    if (to === 'both') symlinkSync('/', join(mono, 'b', 'other'));
    const allowed = to === 'both' ? [mono, join(mono, 'b', 'other')] : [mono];
    expect(() => new Confiner(workspace, allowed)).toThrow(`the workspace ${workspace} is reached through the link ${join(mono, 'a', 'proj')}, in the granted directory ${mono}`);
  }
});

test('an allowed path reached through a link in the workspace that leads out: refused', () => {
  const { dir, workspace } = layout();
  symlinkSync(join(dir, 'outside'), join(workspace, 'vendor'));
  expect(() => new Confiner(workspace, [join(workspace, 'vendor', 'proj')])).toThrow('is reached through the link');
});

test("a link outside every grant whose target runs through a link planted in one: refused, naming the planted link", async () => {
  const { dir, mono } = layout();
  // The operator's "current project" link, outside every grant, into the allowed path.
  mkdirSync(join(dir, 'home'));
  symlinkSync(join(mono, 'a', 'proj'), join(dir, 'home', 'current'));
  expect(new Confiner(join(dir, 'home', 'current'), [mono]).workspace).toBe(join(mono, 'a', 'proj'));
  // A command granted `mono` swaps the project for a link out; the start goes through both links.
  renameSync(join(mono, 'a', 'proj'), join(mono, 'a', 'proj-moved'));
  symlinkSync(join(dir, 'outside', 'proj'), join(mono, 'a', 'proj'));
  expect(() => new Confiner(join(dir, 'home', 'current'), [mono])).toThrow(
    `is reached through the link ${join(mono, 'a', 'proj')}, in the granted directory ${mono}, leading to ${join(dir, 'outside', 'proj')}`,
  );
  // A relative link in the chain, and `..` inside a link's target, are followed the same way.
  symlinkSync('../home/current', join(dir, 'outside', 'rel'));
  expect(() => new Confiner(join(dir, 'outside', 'rel'), [mono])).toThrow('is reached through the link');
});

test('links that stay in their granted directory, or lie outside every one, are followed as before', () => {
  const { dir, mono } = layout();
  // In an allowed path inside the workspace, to elsewhere in the workspace: within a directory granted by its own name.
  mkdirSync(join(mono, 'team'));
  mkdirSync(join(mono, 'shared'));
  symlinkSync(join(mono, 'shared'), join(mono, 'team', 'data'));
  expect(new Confiner(mono, [join(mono, 'team'), join(mono, 'team', 'data')]).roots).toEqual([mono, join(mono, 'team'), join(mono, 'shared')]);
  // A deploy-style "current" link inside the allowed path, to a directory inside it.
  symlinkSync(join(mono, 'a'), join(mono, 'current'));
  expect(new Confiner(join(mono, 'current', 'proj'), [mono]).workspace).toBe(join(mono, 'a', 'proj'));
  // A link outside every grant (the operator's own) is the operator's to make.
  symlinkSync(join(dir, 'outside'), join(dir, 'link-to-outside'));
  expect(new Confiner(join(dir, 'link-to-outside', 'proj')).workspace).toBe(join(dir, 'outside', 'proj'));
});

test('a directory and a link swapped back and forth during starts: no start grants where the link leads', async () => {
  const { dir, mono, workspace } = layout();
  symlinkSync(join(dir, 'outside', 'proj'), join(mono, 'a', 'swap'));
  // RENAME_EXCHANGE swaps the project and the link in one step, as a command granted `mono` can, for at most 20 s.
  const swapper = Bun.spawn(
    [
      'python3',
      '-c',
      [
        'import ctypes, os, sys, time',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'nr = {"x86_64": 316, "aarch64": 276}[os.uname().machine]',
        'a, b = sys.argv[1].encode(), sys.argv[2].encode()',
        'end = time.time() + 20',
        'while time.time() < end: libc.syscall(nr, -100, a, -100, b, 2)',
      ].join('\n'),
      join(mono, 'a', 'proj'),
      join(mono, 'a', 'swap'),
    ],
    { stdout: 'ignore', stderr: 'inherit' },
  );
  const seen = { granted: 0, outside: 0, refused: 0 };
  try {
    await Bun.sleep(200);
    // On until the starts have met the path both ways (a busy machine can starve the swapper for seconds), with
    // a pause now and then for it; at least 2.5 s of starts either way.
    const least = performance.now() + 2500;
    const most = performance.now() + 15_000;
    for (let i = 1; performance.now() < most && (performance.now() < least || seen.refused === 0 || seen.granted === 0); i++) {
      try {
        const root = new Confiner(workspace, [mono]).workspace;
        if (root.startsWith(join(dir, 'outside'))) seen.outside++;
        else seen.granted++;
      } catch {
        seen.refused++;
      }
      if (i % 100 === 0) await Bun.sleep(5);
    }
  } finally {
    swapper.kill();
    await swapper.exited;
  }
  expect(seen.refused).toBeGreaterThan(0);
  expect(seen.outside).toBe(0);
}, 30_000);

test('each root given through a link is named with where it leads now, for the start to say what it grants', () => {
  const { dir, mono, workspace } = layout();
  symlinkSync(join(mono, 'a'), join(dir, 'shared'));
  const confiner = new Confiner(workspace, [mono, join(dir, 'shared')]);
  expect(confiner.throughLinks).toEqual([{ what: 'allowed path', path: join(dir, 'shared'), real: join(mono, 'a') }]);
});
