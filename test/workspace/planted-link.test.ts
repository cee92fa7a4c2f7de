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

test('an allowed path reached through a link in the workspace that leads out: refused', () => {
  const { dir, workspace } = layout();
  symlinkSync(join(dir, 'outside'), join(workspace, 'vendor'));
  expect(() => new Confiner(workspace, [join(workspace, 'vendor', 'proj')])).toThrow('is reached through the link');
});

test('links that stay in their granted directory, or lie outside every one, are followed as before', () => {
  const { dir, mono } = layout();
  // A deploy-style "current" link inside the allowed path, to a directory inside it.
  symlinkSync(join(mono, 'a'), join(mono, 'current'));
  expect(new Confiner(join(mono, 'current', 'proj'), [mono]).workspace).toBe(join(mono, 'a', 'proj'));
  // A link outside every grant (the operator's own) is the operator's to make.
  symlinkSync(join(dir, 'outside'), join(dir, 'link-to-outside'));
  expect(new Confiner(join(dir, 'link-to-outside', 'proj')).workspace).toBe(join(dir, 'outside', 'proj'));
});
