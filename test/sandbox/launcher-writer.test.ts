import { describe, expect, test } from 'bun:test';
import { LauncherWriter } from '../../src/sandbox/launcher-writer.ts';

/** A writer whose writes complete only when the test says so. */
function harness() {
  const written: string[] = [];
  const pending: (() => void)[] = [];
  const writer = new LauncherWriter((text, done) => {
    written.push(text);
    pending.push(done);
  });
  const messages = () => written.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { writer, messages, complete: () => pending.shift()?.() };
}

const bytes = (s: string) => new TextEncoder().encode(s);

describe('LauncherWriter', () => {
  test('output held while a write is on its way leaves before the control message that followed it', () => {
    const h = harness();
    h.writer.send({ t: 'started', id: 1 });
    h.writer.output(1, bytes('a'), 1024);
    h.writer.output(1, bytes('b'), 1024);
    h.writer.send({ t: 'exit', id: 1 });
    h.complete();
    const types = h.messages().map((m) => m.t);
    expect(types).toEqual(['started', 'output', 'exit']);
    expect(Buffer.from(h.messages()[1].data, 'base64').toString()).toBe('ab');
  });

  test('a control message\'s onWritten runs once the write that carries it has completed, not before', () => {
    const h = harness();
    const said: string[] = [];
    h.writer.send({ t: 'ready' }, () => said.push('ready'));
    // Queued behind the write on its way: it goes out with the next one.
    h.writer.send({ t: 'accepted', id: 1 }, () => said.push('accepted 1'));
    h.writer.send({ t: 'accepted', id: 2 }, () => said.push('accepted 2'));
    expect(said).toEqual([]);
    h.complete();
    expect(said).toEqual(['ready']);
    expect(h.messages().map((m) => m.t)).toEqual(['ready', 'accepted', 'accepted']);
    h.complete();
    expect(said).toEqual(['ready', 'accepted 1', 'accepted 2']);
  });

  test('past its cap a process loses its oldest held output, and the next message counts it', () => {
    const h = harness();
    h.writer.send({ t: 'ready' });
    for (let i = 0; i < 10; i++) h.writer.output(7, bytes('0123456789'), 25);
    h.complete();
    const out = h.messages().find((m) => m.t === 'output');
    expect(out.lost).toBe(75);
    expect(Buffer.from(out.data, 'base64').toString()).toBe('56789012345678901234567890123456789'.slice(-25));
  });
});
