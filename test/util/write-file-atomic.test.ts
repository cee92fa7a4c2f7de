/**
 * The server's own small files (the keys file `hide keys generate` rewrites) replaced whole: an existing file keeps
 * its exact mode whatever the umask of whoever rewrites it, a new one gets the mode asked for.
 */
import { expect, test } from 'bun:test';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../../src/util/write-file-atomic.ts';
import { disposableTempDir } from '../helpers/temp.ts';

// Under umask 077 a keys file the server read through its group (0640) became 0600: the server kept its last good
// keys, the new client got 401, and every later revocation missed the server.
test('an existing file keeps its mode under a narrow umask; a new one gets the mode asked for', () => {
  using dir = disposableTempDir('hide-atomic-');
  const file = join(dir.path, 'keys.json');
  writeFileSync(file, '{"clients":[]}');
  chmodSync(file, 0o640);
  const before = process.umask(0o077);
  try {
    writeFileAtomicSync(file, '{"clients":[1]}');
    writeFileAtomicSync(join(dir.path, 'new.json'), '{}', { mode: 0o644 });
  } finally {
    process.umask(before);
  }
  expect([readFileSync(file, 'utf8'), statSync(file).mode & 0o777, statSync(join(dir.path, 'new.json')).mode & 0o777]).toEqual(['{"clients":[1]}', 0o640, 0o644]);
});

// A keys file left writable by every local user stayed so through every keys generate.
test('write for group and others is never kept', () => {
  using dir = disposableTempDir('hide-atomic-');
  const file = join(dir.path, 'keys.json');
  writeFileSync(file, '{"clients":[]}');
  chmodSync(file, 0o666);
  writeFileAtomicSync(file, '{"clients":[1]}');
  expect(statSync(file).mode & 0o777).toBe(0o644);
});
