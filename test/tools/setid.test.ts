/**
 * write_file and edit_file keep a file's permission bits but never its
 * set-uid, set-gid or sticky bits: a set-uid file planted by a command (as
 * root) must not stay set-uid once the file tools have rewritten it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Server, startServer, type Tree, tree } from './helpers.ts';

let t: Tree;
let s: Server;
beforeAll(async () => {
  t = tree();
  s = await startServer(t);
});
afterAll(async () => {
  await s.stop();
  t[Symbol.dispose]();
});

const modeOf = (path: string) => statSync(path).mode & 0o7777;

/** A workspace file with exactly `mode`, checked, so a filesystem that drops the bits cannot pass the test vacuously. */
function planted(name: string, mode: number): string {
  const path = join(t.ws, name);
  writeFileSync(path, '#!/bin/sh\necho planted\n');
  chmodSync(path, mode);
  expect(modeOf(path)).toBe(mode);
  return path;
}

// [file name, mode before, mode after]; test titles print the modes in octal via the name.
const cases: Array<[string, number, number]> = [
  ['setuid-4755-to-0755', 0o4755, 0o755],
  ['setgid-2750-to-0750', 0o2750, 0o750],
  ['setuid-setgid-6755-to-0755', 0o6755, 0o755],
  ['sticky-1644-to-0644', 0o1644, 0o644],
  ['plain-0640-kept', 0o640, 0o640],
];

describe('edit_file', () => {
  test.each(cases)('%s', async (label, before, after) => {
    const name = `edit-${label}.sh`;
    const path = planted(name, before);
    const r = await s.call('edit_file', { path: name, edits: [{ oldText: 'planted', newText: 'edited' }] });
    expect(r).toMatchObject({ applied: 1, error: null, isError: false });
    expect({ mode: modeOf(path), content: readFileSync(path, 'utf8') }).toEqual({ mode: after, content: '#!/bin/sh\necho edited\n' });
  });
});

describe('write_file', () => {
  test.each(cases)('%s', async (label, before, after) => {
    const name = `write-${label}.sh`;
    const path = planted(name, before);
    const r = await s.call('write_file', { path: name, content: '#!/bin/sh\necho written\n' });
    expect(r).toMatchObject({ created: false, error: null, isError: false });
    expect({ mode: modeOf(path), content: readFileSync(path, 'utf8') }).toEqual({ mode: after, content: '#!/bin/sh\necho written\n' });
  });
});
