/**
 * An event the writer cannot serialise is dropped on its own: it is no disk
 * failure, so under HIDE_AUDIT_ON_ERROR=refuse (a writer that retries) it
 * does not mark the log failing — which would refuse every client's calls.
 */
import { afterEach, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEvent } from '../../src/audit/event.ts';
import { Redactor } from '../../src/audit/redact.ts';
import { AuditWriter } from '../../src/audit/writer.ts';
import { tempDir } from '../helpers/temp.ts';
import { toolCallEvent } from '../helpers/audit-event.ts';

let writer: AuditWriter | null = null;
afterEach(() => writer?.close());

const event = (id: string, args: unknown): AuditEvent => toolCallEvent(id, args, null);

test('an event that cannot be serialised is dropped without marking the log failing', () => {
  const file = join(tempDir('hide-audit-unserialisable-'), 'audit.jsonl');
  const errors: string[] = [];
  writer = new AuditWriter({ file, redactor: new Redactor([]), chain: true, retryMs: 50, onError: (e) => errors.push(e.message) });
  const poison = {
    toJSON() {
      throw new Error('cannot be serialised');
    },
  };
  writer.write(event('poison', { command: 'echo', arguments: [poison] }));
  writer.flush();
  expect([writer.failing, writer.linesDropped, errors]).toEqual([false, 1, ['cannot be serialised']]);
  writer.write(event('next', { command: 'echo', arguments: ['x'] }));
  writer.flush();
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event_type: string; correlation_id: string });
  expect(lines.map((l) => `${l.event_type}:${l.correlation_id}`)).toEqual(['tool_call:next']);
});
