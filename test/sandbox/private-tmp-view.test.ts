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

  test('a read-only grant repointed within what another grant held at the start is left to that grant', () => {
    const zone = join(parent, 'zone');
    symlinkSync(join(ws, 'sub'), zone);
    try {
      // It led to ws/sub-old at the start (say); ws is granted: what it shows now is in the view already.
      expect(pathsToKeep(parent, own, [ws, zone], { [ws]: ws, [zone]: join(ws, 'sub-old') })).toEqual([ws, own]);
      expect(() => pathsToKeep(parent, own, [ws, zone], { [zone]: join(ws, 'sub-old') })).toThrow('it now leads to');
    } finally {
      rmSync(zone);
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
