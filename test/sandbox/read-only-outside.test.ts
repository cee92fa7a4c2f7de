/**
 * The read-only mounts a root launcher makes outside its read-write grants,
 * made in a mount namespace of the test's own. A grant is used only through
 * the descriptor checked to lead to itself: one swapped for a link to `/`
 * (by a command of a server whose workspace holds it) had the host's root
 * bound in its place, writable, by name.
 */
import { describe, expect, test } from 'bun:test';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/temp.ts';

const FIXTURE = join(import.meta.dir, 'fixtures', 'read-only-outside.ts');
const supported = process.platform === 'linux' && process.getuid?.() === 0 && Bun.which('unshare') !== null;

function run(grants: string[], probe: string[], readOnlyBinds: string[] = []): { outcome: string; writes: Record<string, string> } {
  const r = Bun.spawnSync(['unshare', '--mount', '--propagation', 'private', process.execPath, FIXTURE, ...grants], {
    env: { ...process.env, HIDE_PROBE_WRITE: probe.join(','), HIDE_PROBE_RO_BIND: readOnlyBinds.join(',') },
    stderr: 'pipe',
  });
  if (r.exitCode !== 0) throw new Error(`fixture failed (${r.exitCode}): ${r.stderr.toString()}`);
  return JSON.parse(r.stdout.toString());
}

describe.skipIf(!supported)('readOnlyOutside, in a mount namespace of its own', () => {
  test('the grants stay writable, nested ones too, but a mount in them that was read-only; everything else is read-only', () => {
    const dir = tempDir('hide-ro-outside-');
    try {
      const ws = join(dir, 'ws');
      const inner = join(ws, 'inner');
      const sealed = join(ws, 'sealed');
      const outside = join(dir, 'outside');
      for (const d of [ws, inner, sealed, outside]) mkdirSync(d);
      // A device reached through a link (a container's /dev/ptmx → pts/ptmx) needs no bind: left alone, not refused.
      symlinkSync('/dev/null', join(dir, 'device-link'));
      expect(run([ws, inner, '/dev/null', join(dir, 'device-link')], [ws, inner, sealed, outside, dir], [sealed])).toEqual({
        outcome: 'done',
        writes: { [ws]: 'written', [inner]: 'written', [sealed]: 'EROFS', [outside]: 'EROFS', [dir]: 'EROFS' },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a grant that is a link to / when the mounts are made is refused, and nothing is made writable', () => {
    const dir = tempDir('hide-ro-outside-');
    try {
      const ws = join(dir, 'ws');
      const swapped = join(dir, 'pkg');
      const outside = join(dir, 'outside');
      mkdirSync(ws);
      mkdirSync(outside);
      symlinkSync('/', swapped);
      const r = run([ws, swapped], [outside]);
      expect(r.outcome).toStartWith(`threw: cannot grant ${swapped}: it now leads to / (`);
      // Nothing was changed: the namespace is as the host's (writable where the host's is).
      expect(r.writes).toEqual({ [outside]: 'written' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a grant gone since the start is refused', () => {
    const dir = tempDir('hide-ro-outside-');
    try {
      const gone = join(dir, 'gone');
      expect(run([gone], []).outcome).toBe(`threw: cannot grant ${gone}: it is gone (renamed or removed since the server started); put it back, or restart the server`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
