/**
 * write_file under contention and under a crash: 50 concurrent writers to
 * one path leave exactly one writer's complete content; a server killed with
 * SIGKILL in the middle of a large write leaves the old file intact.
 */
import { describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rpcAt, startServer, startServerProcess, tree } from './helpers.ts';

describe('text with no UTF-8 form', () => {
  test('a lone surrogate in content, oldText or newText is an input error; the file and the character it would split stay', async () => {
    using t = tree();
    await using s = await startServer(t);
    writeFileSync(join(t.ws, 'e.txt'), '\u{1F600} smile\n');
    const results = [
      await s.call('edit_file', { path: 'e.txt', edits: [{ oldText: '\ude00', newText: 'X' }] }),
      await s.call('edit_file', { path: 'e.txt', edits: [{ oldText: 'smile', newText: 'half \ud83d' }] }),
      await s.call('write_file', { path: 'w.txt', content: 'a\ud83d' }),
    ];
    for (const r of results) expect({ isError: r.isError, error: r.error }).toEqual({ isError: true, error: expect.stringContaining('well-formed Unicode') });
    expect(readFileSync(join(t.ws, 'e.txt'), 'utf8')).toBe('\u{1F600} smile\n');
    expect(readdirSync(t.ws)).toEqual(['e.txt']);
  });
});

describe('edit_file under contention', () => {
  test('concurrent edits of one file, each retried while told the file changed, lose none that reported success', async () => {
    using t = tree();
    await using s = await startServer(t);
    const N = 12;
    writeFileSync(join(t.ws, 'shared.txt'), Array.from({ length: N }, (_, i) => `line ${i}: old\n`).join(''));
    const outcomes = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        // Bounded: an edit that keeps losing the race gives up, and is then no success to look for.
        for (let attempt = 0; attempt < 100; attempt++) {
          const r = await s.call('edit_file', { path: 'shared.txt', edits: [{ oldText: `line ${i}: old`, newText: `line ${i}: new` }] });
          if (!r.isError) return 'ok';
          // Told the file changed: before the write (it was replaced while opened, or since it was read). Anything else is a finding.
          if (!/changed while it was being (edited|opened)/.test(String(r.error))) return String(r.error);
        }
        return 'gave up';
      }),
    );
    const final = readFileSync(join(t.ws, 'shared.txt'), 'utf8');
    const lost = outcomes.flatMap((o, i) => (o === 'ok' && !final.includes(`line ${i}: new`) ? [i] : []));
    expect({ lost, others: outcomes.filter((o) => o !== 'ok') }).toEqual({ lost: [], others: [] });
    expect(readdirSync(t.ws)).toEqual(['shared.txt']);
  });
});

describe('write_file atomicity', () => {
  test('50 concurrent writes to one path leave exactly one complete content from one caller', async () => {
    using t = tree();
    await using s = await startServer(t, { HIDE_MAX_BODY_BYTES: String(16 * 1024 * 1024) });
    // Large, distinct contents: a mix or a partial write would show in the bytes.
    const contents = Array.from({ length: 50 }, (_, i) => `writer ${i}\n`.repeat(20_000 + i));
    const results = await Promise.all(contents.map((content) => s.call('write_file', { path: 'shared/target.txt', content })));
    expect(results.filter((r) => r.isError)).toEqual([]);
    const final = readFileSync(join(t.ws, 'shared/target.txt'), 'utf8');
    expect(contents.filter((c) => c === final)).toHaveLength(1);
    expect(readdirSync(join(t.ws, 'shared'))).toEqual(['target.txt']);
  });

  test('50 concurrent createOnly writes: exactly one wins, the others are told the file exists', async () => {
    using t = tree();
    await using s = await startServer(t);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => s.call('write_file', { path: 'once.txt', content: `caller ${i}`, createOnly: true })));
    const winners = results.filter((r) => !r.isError);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => r.isError).every((r) => r.error.includes('already exists'))).toBe(true);
    expect(readFileSync(join(t.ws, 'once.txt'), 'utf8')).toBe(`caller ${results.indexOf(winners[0]!)}`);
    expect(readdirSync(t.ws)).toEqual(['once.txt']);
  });

  test('a server killed (SIGKILL) in the middle of a large write leaves the old file intact', async () => {
    using t = tree();
    const old = 'the old content\n'.repeat(1000);
    const big = 'N'.repeat(9 * 1024 * 1024);
    let interrupted = false;
    // The kill must land while the new file is being written: made with no name, it shows only among the server's
    // open descriptors (`<dir>/#<inode> (deleted)`), then as a named temp file just before the rename. Each attempt
    // waits for one of them (a condition, not a delay); if the write finished first, try again.
    for (let attempt = 0; attempt < 10 && !interrupted; attempt++) {
      writeFileSync(join(t.ws, 'f.txt'), old);
      const server = await startServerProcess(t, { PATH: process.env.PATH ?? '/usr/bin:/bin', HIDE_MAX_BODY_BYTES: String(32 * 1024 * 1024) });
      let done = false;
      const call = rpcAt(server.url, 'tools/call', { name: 'write_file', arguments: { path: 'f.txt', content: big } })
        .catch(() => null)
        .finally(() => {
          done = true;
        });
      const temp = () => readdirSync(t.ws).find((n) => n.startsWith('.hide-write-'));
      const unnamed = () => {
        try {
          return readdirSync(`/proc/${server.proc.pid}/fd`).some((fd) => {
            try {
              return /\/#\d+ \(deleted\)$/.test(readlinkSync(`/proc/${server.proc.pid}/fd/${fd}`));
            } catch {
              return false;
            }
          });
        } catch {
          return false;
        }
      };
      const writing = () => temp() !== undefined || unnamed();
      // A timer, not setImmediate: a loop of immediates can keep the call's answer from ever being taken in, and
      // with the write already renamed (nothing to see) the loop then never ends.
      while (!done && !writing()) await Bun.sleep(1);
      const caught = !done && writing();
      if (caught) server.proc.kill('SIGKILL');
      await server.proc.exited;
      await call;
      await server[Symbol.asyncDispose]();
      const content = readFileSync(join(t.ws, 'f.txt'), 'utf8');
      // Either whole version is acceptable when the write was not caught; caught, the old file is intact.
      expect(content === old || content === big).toBe(true);
      if (caught) {
        interrupted = true;
        expect(content).toBe(old);
      }
    }
    expect(interrupted).toBe(true);
  }, 120_000);
});
