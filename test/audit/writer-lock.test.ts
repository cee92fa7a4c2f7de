/**
 * The audit writer's lock on the log's directory, held by another process:
 * anything that can open the directory can flock it (a command, when the log
 * lies in the workspace), so a tick's batch waits for it without stopping the
 * event loop, and a holder that never lets go is said once, not per batch.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEvent } from '../../src/audit/event.ts';
import { Redactor } from '../../src/audit/redact.ts';
import { AuditWriter } from '../../src/audit/writer.ts';
import { tempDir, waitFor } from '../helpers/server.ts';
import { toolCallEvent } from '../helpers/audit-event.ts';

const event = (i: number): AuditEvent => toolCallEvent(`lock-${i}`);

/** A process holding flock(2) on `dir` until killed; resolves once it holds it. */
async function holdLock(dir: string) {
  // One process (the shell becomes the sleep), so killing it lets go of the lock.
  const p = Bun.spawn(['sh', '-c', 'exec 9<"$1" && flock --exclusive 9 && echo locked && exec sleep 600', 'sh', dir], { stdout: 'pipe', stderr: 'ignore' });
  const reader = p.stdout.getReader();
  const first = await reader.read();
  expect(new TextDecoder().decode(first.value)).toBe('locked\n');
  return p;
}

const nextImmediate = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('audit writer: the directory lock held by another process', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanup.splice(0)) c();
  });
  /** A chained writer in a fresh directory whose lock another process holds; undone after the test. */
  async function writerBesideHolder() {
    const dir = tempDir('audit-lock-');
    const warnings: string[] = [];
    const w = new AuditWriter({ file: join(dir, 'audit.jsonl'), redactor: new Redactor(), chain: true, onError: (e) => warnings.push(e.message) });
    const holder = await holdLock(dir);
    cleanup.push(() => {
      holder.kill('SIGKILL');
      w.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return { dir, warnings, w, holder };
  }

  test("a batch waits for it with the event loop running, then is written under it once it is let go", async () => {
    const { dir, warnings, w, holder } = await writerBesideHolder();
    w.write(event(0));
    // Queued after the writer's own end-of-turn batch: it runs once that batch has yielded (or been written).
    await nextImmediate();
    expect(w.linesWritten).toBe(0);
    holder.kill('SIGKILL');
    await holder.exited;
    await waitFor(() => w.linesWritten === 1, 5000, 'the batch to be written');
    expect(warnings).toEqual([]);
    expect(readFileSync(join(dir, 'audit.jsonl'), 'utf8')).toContain('"lock-0"');
  });

  test('a holder that keeps it: each batch goes out after the bounded wait, said once', async () => {
    const { warnings, w } = await writerBesideHolder();
    for (let i = 0; i < 2; i++) {
      w.write(event(i));
      await waitFor(() => w.linesWritten === i + 1, 10_000, `batch ${i} to be written`);
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('stayed locked by another process');
  }, 30_000);
});
