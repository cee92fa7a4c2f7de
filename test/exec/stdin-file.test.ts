import { afterAll, expect, test } from 'bun:test';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCommand } from '../../src/exec/spawn.ts';
import { tempDir } from '../helpers/server.ts';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const catWith = (stdinFile: string, stdinMaxBytes?: number) =>
  startCommand({ argv: [Bun.which('cat')!], cwd: dir, env: {}, timeoutMs: 30_000, maxOutputBytes: 1 << 20, stdinFile, ...(stdinMaxBytes === undefined ? {} : { stdinMaxBytes }) }).result;

test('a regular file named as stdin is what the command reads', async () => {
  writeFileSync(join(dir, 'in.txt'), 'one\ntwo\n');
  const r = await catWith(join(dir, 'in.txt'));
  expect({ out: r.stdout, code: r.exitCode, error: r.spawnError }).toEqual({ out: 'one\ntwo\n', code: 0, error: null });
});

test('a FIFO, a symlink, a directory or nothing at that path: the command does not start, and the FIFO is not opened (no writer, so a blocking open would hang here)', async () => {
  Bun.spawnSync(['mkfifo', join(dir, 'fifo')]);
  symlinkSync(join(dir, 'in.txt'), join(dir, 'link'));
  mkdirSync(join(dir, 'sub'));
  const errors = await Promise.all(['fifo', 'link', 'sub', 'missing'].map(async (name) => (await catWith(join(dir, name))).spawnError));
  expect(errors).toEqual([
    'the input file is a FIFO; only a regular file is given to a command as its input',
    'the input file is a symlink; only a regular file is given to a command as its input',
    'the input file is a directory; only a regular file is given to a command as its input',
    'the input file does not exist',
  ]);
});

test('a file over the size bound, as seen on the inode opened, is not given: the command does not start', async () => {
  writeFileSync(join(dir, 'big.txt'), 'x'.repeat(100));
  const [over, at] = await Promise.all([catWith(join(dir, 'big.txt'), 99), catWith(join(dir, 'big.txt'), 100)]);
  expect([over.spawnError, at.spawnError, at.stdout.length]).toEqual(['the input file is 100 bytes, over the 99 this command may be given', null, 100]);
});
