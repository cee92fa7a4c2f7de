/**
 * Redaction measured on a corpus (./redact-corpus.ts): every secret form a
 * client can put in an audited call is masked on the way to the audit file,
 * and plain values — paths, commit ids, UUIDs, ports, words — come through
 * exactly as sent.
 */
import { expect, test } from 'bun:test';
import { join } from 'node:path';
import { auditThrough, CORPUS, eventFor, PLAIN, survivors } from './redact-corpus.ts';

const ROOT = join(import.meta.dir, '..', '..');

test('no secret of the corpus survives into the audit log', async () => {
  expect({ forms: CORPUS.length >= 40, survivors: await survivors(ROOT) }).toEqual({ forms: true, survivors: [] });
});

test('plain values are audited exactly as sent', async () => {
  const lines = await auditThrough(ROOT, PLAIN.map((p) => eventFor(p)));
  const audited = lines.map((l) => {
    const { timestamp: _t, prev_hash: _p, hash: _h, file_start: _s, ...rest } = JSON.parse(l);
    return rest;
  });
  expect(audited).toEqual(PLAIN.map((p) => eventFor(p)));
});
