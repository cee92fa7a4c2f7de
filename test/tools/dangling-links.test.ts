/**
 * A symlink in the workspace pointing outside says nothing about its target:
 * check_file_exists (and read_file, which resolves paths the same way) gives
 * one answer whether the target exists or not — "outside the workspace" —
 * while a dangling link that stays inside is simply missing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Server, startServer, type Tree, tree } from './helpers.ts';

let t: Tree;
let s: Server;

beforeAll(async () => {
  t = tree();
  writeFileSync(join(t.outside, 'there.txt'), 'exists outside\n');
  mkdirSync(join(t.outside, 'dir'));
  mkdirSync(join(t.ws, 'sub'));
  symlinkSync(join(t.outside, 'there.txt'), join(t.ws, 'to-existing'));
  symlinkSync(join(t.outside, 'gone.txt'), join(t.ws, 'to-missing'));
  // Relative targets, a chain, and a dangling link to a directory used as a parent.
  symlinkSync('../../outside/gone.txt', join(t.ws, 'sub', 'rel-to-missing'));
  symlinkSync('../../outside/there.txt', join(t.ws, 'sub', 'rel-to-existing'));
  symlinkSync(join(t.ws, 'to-missing'), join(t.ws, 'chain-to-missing'));
  symlinkSync(join(t.ws, 'to-existing'), join(t.ws, 'chain-to-existing'));
  symlinkSync(join(t.outside, 'gone-dir'), join(t.ws, 'dir-missing'));
  symlinkSync(join(t.outside, 'dir'), join(t.ws, 'dir-existing'));
  // A dangling link that stays inside, through a ".." that climbs back in.
  symlinkSync('../sub/../nothing-here.txt', join(t.ws, 'sub', 'inside-missing'));
  s = await startServer(t);
});

afterAll(async () => {
  await s.stop();
  t[Symbol.dispose]();
});

const outside = (path: string) => ({ exists: false, path, type: null, error: `path '${path}' is outside the workspace (${t.ws})`, isError: true });

describe('check_file_exists on a symlink out of the workspace', () => {
  test('the same answer whether the target exists or not', async () => {
    const pairs = [
      ['to-existing', 'to-missing'],
      ['sub/rel-to-existing', 'sub/rel-to-missing'],
      ['chain-to-existing', 'chain-to-missing'],
      ['dir-existing/x.txt', 'dir-missing/x.txt'],
    ];
    const answers = [];
    for (const [existing, missing] of pairs) {
      answers.push([await s.call('check_file_exists', { fileName: existing! }), await s.call('check_file_exists', { fileName: missing! })]);
    }
    expect(answers).toEqual(pairs.map(([existing, missing]) => [outside(existing!), outside(missing!)]));
  });

  test('a dangling link that stays inside is missing, not refused', async () => {
    expect(await s.call('check_file_exists', { fileName: 'sub/inside-missing' })).toEqual({ exists: false, path: 'sub/inside-missing', type: null, error: null, isError: false });
  });

  test('read_file answers the two cases alike too', async () => {
    const read = async (path: string) => (await s.call('read_file', { path })).error;
    expect([await read('to-existing'), await read('to-missing')]).toEqual([outside('to-existing').error, outside('to-missing').error]);
  });
});
