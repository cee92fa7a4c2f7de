import { describe, expect, test } from 'bun:test';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnreachableGrantError } from '../../src/sandbox/landlock.ts';
import { pathsToKeep } from '../../src/sandbox/private-tmp-view.ts';
import { tempDir } from '../helpers/temp.ts';

describe('pathsToKeep: what stays visible in the temp directory', () => {
  const parent = tempDir('hide-tmp-view-');
  const own = join(parent, 'hide-sandbox-own');
  const ws = join(parent, 'ws');
  const other = join(parent, 'hide-sandbox-other');
  for (const d of [own, ws, join(ws, 'sub'), other]) mkdirSync(d);
  writeFileSync(join(parent, 'file'), '');
  symlinkSync(ws, join(parent, 'ws-link'));

  test('its own TMPDIR and the granted paths inside, outermost only, by their real paths; paths elsewhere or missing are left out', () => {
    const granted = [join(ws, 'sub'), ws, join(parent, 'ws-link'), join(parent, 'file'), join(parent, 'missing'), '/usr', '/dev/null'];
    expect(pathsToKeep(parent, own, granted)).toEqual([ws, join(parent, 'file'), own]);
  });

  test('a read-write grant gone since the server started refuses the view, naming it: left out, it would be hidden', () => {
    const gone = join(parent, 'renamed-away');
    expect(() => pathsToKeep(parent, own, [ws, gone], { [ws]: ws, [gone]: gone })).toThrow(new UnreachableGrantError(`cannot grant ${gone}: it is gone (renamed or removed since the server started); put it back, or restart the server`));
    // Missing at the start too: left out, as Landlock leaves it out.
    expect(pathsToKeep(parent, own, [ws, gone], { [ws]: ws })).toEqual([ws, own]);
  });

  test('a grant that now leads elsewhere than at the start (a link to / put in its place) refuses the view: it would vanish from it, or bind / there', () => {
    const swapped = join(parent, 'swapped');
    symlinkSync('/', swapped);
    try {
      expect(() => pathsToKeep(parent, own, [swapped], { [swapped]: swapped })).toThrow(`cannot grant ${swapped}: it now leads to / (it, or a directory on its path, was replaced since the server started)`);
      // A read-only grant is held to where it led at the start.
      expect(() => pathsToKeep(parent, own, [join(parent, 'ws-link')], { [join(parent, 'ws-link')]: join(parent, 'file') })).toThrow(`cannot grant ${join(parent, 'ws-link')}: it now leads to ${ws}, not to ${join(parent, 'file')}`);
      expect(pathsToKeep(parent, own, [join(parent, 'ws-link')], { [join(parent, 'ws-link')]: ws })).toEqual([ws, own]);
    } finally {
      rmSync(swapped);
    }
  });

  test('a grant with no place at the start (a read-only path missing then) is left out, wherever a link made since leads', () => {
    const planted = join(parent, 'planted');
    symlinkSync(other, planted);
    try {
      // Another client's TMPDIR would be bound into the view; a link to / would take the view away.
      expect(pathsToKeep(parent, own, [ws, planted], { [ws]: ws })).toEqual([ws, own]);
      rmSync(planted);
      symlinkSync('/', planted);
      expect(pathsToKeep(parent, own, [ws, planted], { [ws]: ws })).toEqual([ws, own]);
    } finally {
      rmSync(planted);
    }
  });

  test('a read-only link repointed within what another read-only grant led to at the start is left to that grant; nothing else is let off', () => {
    const tree = join(parent, 'tree');
    const zone = join(parent, 'zone');
    const dir = join(parent, 'dir');
    mkdirSync(join(tree, 'b'), { recursive: true });
    symlinkSync(join(tree, 'b'), zone);
    symlinkSync(join(tree, 'b'), dir);
    try {
      // zone was a link to tree/a at the start (/etc/localtime to one zone), the tree a read-only grant.
      const ledTo = { [ws]: ws, [tree]: tree, [zone]: join(tree, 'a'), [dir]: dir };
      const readOnlyPlaces = [tree, join(tree, 'a'), dir];
      expect(pathsToKeep(parent, own, [ws, tree, zone], ledTo, readOnlyPlaces)).toEqual([ws, tree, own]);
      // dir was a directory of its own at the start: a link in its place, even into the tree, is a command's doing.
      expect(() => pathsToKeep(parent, own, [ws, tree, dir], ledTo, readOnlyPlaces)).toThrow(`cannot grant ${dir}: it now leads to ${join(tree, 'b')}`);
      // Into what only a read-write grant holds: refused too.
      rmSync(zone);
      symlinkSync(join(ws, 'sub'), zone);
      expect(() => pathsToKeep(parent, own, [ws, tree, zone], ledTo, readOnlyPlaces)).toThrow(`cannot grant ${zone}: it now leads to ${join(ws, 'sub')}`);
    } finally {
      rmSync(tree, { recursive: true });
      rmSync(zone);
      rmSync(dir);
    }
  });

  test('a rule granting the temp directory itself, or a directory holding it, leaves the view as it is', () => {
    expect(pathsToKeep(parent, own, [parent])).toBeNull();
    expect(pathsToKeep(parent, own, ['/'])).toBeNull();
  });

  test('a name that only begins like the temp directory is not inside it', () => {
    mkdirSync(`${parent}-beside`);
    try {
      expect(pathsToKeep(parent, own, [`${parent}-beside`])).toEqual([own]);
    } finally {
      rmSync(`${parent}-beside`, { recursive: true });
    }
  });
});
