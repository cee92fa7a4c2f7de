/**
 * Answers are bounded by their size as JSON text, not only by how many
 * entries or matches they hold: a control character is six characters of JSON
 * (`\u0001`), and an answer carries its content twice (structured and as
 * text). File names and lines of them, which any command can write into the
 * shared workspace, made 17-32 MB answers to requests of 120-140 bytes.
 */
import { describe, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, tree } from './helpers.ts';

const CONTROL = '\u0001';

describe('answers held to their size as JSON text', () => {
  test('list_directory: names of control characters end the listing past 1 MiB of JSON, said as truncated', async () => {
    using t = tree();
    await using s = await startServer(t);
    mkdirSync(join(t.ws, 'd'));
    for (let i = 0; i < 900; i++) writeFileSync(join(t.ws, 'd', `${String(i).padStart(3, '0')}${CONTROL.repeat(240)}`), '');
    const r = await s.call('list_directory', { path: 'd' });
    expect(r.isError).toBe(false);
    expect(r.truncated).toBe(true);
    expect(JSON.stringify(r.entries.map((e: { path: string }) => e.path)).length).toBeLessThan(1024 * 1024 + 10_000);
    expect(r.entries.length).toBeGreaterThan(100);
    // Ordinary names: every one, not truncated.
    mkdirSync(join(t.ws, 'plain'));
    for (let i = 0; i < 900; i++) writeFileSync(join(t.ws, 'plain', `${String(i).padStart(3, '0')}${'a'.repeat(240)}`), '');
    const plain = await s.call('list_directory', { path: 'plain' });
    expect([plain.entries.length, plain.truncated]).toEqual([900, false]);
  });

  test('search_files: matching lines of control characters end the matches past 2 MiB of JSON, saying so', async () => {
    using t = tree();
    await using s = await startServer(t);
    writeFileSync(join(t.ws, 'noise.txt'), `needle${CONTROL.repeat(600)}\n`.repeat(1000));
    const r = await s.call('search_files', { pattern: 'needle', maxResults: 1000 });
    expect(r.truncated).toBe(true);
    expect(r.error).toMatch(/^the matches passed 2 MiB as JSON text \(a control character takes six\): the first \d+ are shown$/);
    expect(JSON.stringify(r.matches).length).toBeLessThan(2 * 1024 * 1024 + 100_000);
    expect(r.matches.length).toBeGreaterThan(100);
    // Ordinary lines: all 1000.
    writeFileSync(join(t.ws, 'noise.txt'), `needle${'a'.repeat(600)}\n`.repeat(1000));
    const plain = await s.call('search_files', { pattern: 'needle', maxResults: 1000 });
    expect([plain.matches.length, plain.truncated, plain.error]).toEqual([1000, false, null]);
  });
});
