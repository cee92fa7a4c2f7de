/** The route a lookup takes: each link met, where it lies, and where the path leads, as the kernel resolves it. */
import { expect, test } from 'bun:test';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { routeTo } from '../../src/util/path-links.ts';
import { disposableTempDir as tempDir } from '../helpers/temp.ts';

test('links on the way, relative and absolute, a link to a link, .. after a link, and a missing tail', () => {
  using dir = tempDir('hide-path-links-');
  const root = dir.path;
  mkdirSync(join(root, 'real', 'sub'), { recursive: true });
  writeFileSync(join(root, 'real', 'sub', 'f'), '');
  symlinkSync('real', join(root, 'rel'));
  symlinkSync(join(root, 'rel'), join(root, 'abs'));
  symlinkSync('sub/f', join(root, 'real', 'to-f'));
  expect(routeTo(join(root, 'abs', 'sub', 'f'))).toMatchObject({ links: [join(root, 'abs'), join(root, 'rel')], target: join(root, 'real', 'sub', 'f') });
  // `..` goes up from where the link led, as the kernel does, not from the link's own directory.
  expect(routeTo(`${root}/abs/sub/../to-f`)).toMatchObject({ links: [join(root, 'abs'), join(root, 'rel'), join(root, 'real', 'to-f')], target: join(root, 'real', 'sub', 'f') });
  expect(routeTo(join(root, 'rel', 'new', 'file'))).toMatchObject({ links: [join(root, 'rel')], target: join(root, 'real', 'new', 'file') });
  expect(routeTo(join(root, 'real', 'sub', 'f'))).toMatchObject({ links: [], target: join(root, 'real', 'sub', 'f') });
  // Every name looked up counts, a directory a `..` climbs out of again included.
  expect(routeTo(`${root}/real/sub/../to-f`).passed.slice(-4)).toEqual([join(root, 'real', 'sub'), join(root, 'real', 'to-f'), join(root, 'real', 'sub'), join(root, 'real', 'sub', 'f')]);
});

test('a loop of links ends', () => {
  using dir = tempDir('hide-path-links-');
  symlinkSync(join(dir.path, 'b'), join(dir.path, 'a'));
  symlinkSync(join(dir.path, 'a'), join(dir.path, 'b'));
  expect(routeTo(join(dir.path, 'a', 'x')).links.length).toBe(40);
});
