/**
 * One audit line: an event's fields redacted and bounded in a fixed order,
 * timestamp first, sealed into the hash chain when it is on. Every value is
 * redacted and bounded: no string over 4 KiB, no line over 64 KiB, whatever a
 * client sends. Plain functions: the writer decides when lines are sealed and
 * where the chain goes on from.
 */
import { inertJson } from '../core/inert-text.ts';
import { sealRecord } from './chain.ts';
import type { ArgumentsDigest } from './arguments-digest.ts';
import type { AuditEvent } from './event.ts';
import type { Budget, Redactor } from './redact.ts';

/** No audit line is longer than this (bytes, newline included). */
export const MAX_LINE_BYTES = 64 * 1024;
// Characters the values of one line may hold at first; the rest of the room
// is for names, quotes, escaping and the chain fields. A line that still
// comes out too long (escapes, multi-byte text) is rebuilt with less.
const LINE_BUDGET = 48 * 1024;

export interface Line {
  text: string;
  bytes: number;
  hash: string | null;
  /** The hash the line was sealed after (its prev_hash); null when the chain is off. */
  prev: string | null;
  /** The retry's own `audit_recovered` line: not counted as a line lost when it cannot be written. */
  probe?: boolean;
}

/** The event's fields, redacted and bounded by a budget shared by all of them; fixed order. */
function fieldsFor(r: Redactor, hmac: string | null, at: number, event: AuditEvent, budget: number): Record<string, unknown> {
  const b: Budget = { left: budget };
  const text = (s: string | null) => (s === null ? null : (r.redact(s, b) as string));
  // Small fields first, so a huge argument list cannot crowd out who, what and the outcome.
  const envelope = {
    correlation_id: text(event.correlation_id),
    client_id: text(event.client_id),
    client_ip: text(event.client_ip),
    api_key_hash: text(event.api_key_hash),
    user: text(event.user),
    tool_name: text(event.tool_name),
  };
  const error = text(event.error);
  const result = r.redact(event.result, b) ?? null;
  const args = r.redact(event.arguments, b) ?? null;
  // Built field by field so the order on disk is fixed and nothing unknown slips in.
  const oauth = event.oauth ? { oauth: r.redact({ ...event.oauth, scopes: [...event.oauth.scopes] }, b) } : {};
  return { timestamp: new Date(at).toISOString(), event_type: event.event_type, ...envelope, ...oauth, arguments: args, ...(hmac === null ? {} : { arguments_hmac: hmac }), result, error };
}

/**
 * The line for one event, sealed after `lastHash` when the chain is on (null:
 * off), with the arguments' keyed digest when `digest` is given. Over
 * MAX_LINE_BYTES, the values are cut further until it fits.
 */
export function lineFor(redactor: Redactor, digest: ArgumentsDigest | null, at: number, event: AuditEvent, lastHash: string | null, startsFile: boolean): Line {
  // Once, whatever the tries below: of the arguments the tool took, before redaction and cutting.
  const hmac = digest !== null && event.event_type === 'tool_call' && event.digestedArguments !== undefined ? digest.of(event.digestedArguments) : null;
  let budget = LINE_BUDGET;
  for (let attempt = 0; ; attempt++) {
    let fields = fieldsFor(redactor, hmac, at, event, budget);
    if (attempt === 4) fields = { ...fields, arguments: '[dropped: too large]', result: '[dropped: too large]' };
    const sealed = lastHash === null ? { line: JSON.stringify(fields), hash: null } : sealRecord(fields, lastHash, startsFile);
    // Inert: a line separator, a C1 control or a bidirectional override from a client is written as its escape (the
    // same JSON), so no reader splitting on Unicode line breaks, and no terminal showing the file, takes it raw.
    const text = `${inertJson(sealed.line)}\n`;
    const bytes = Buffer.byteLength(text);
    if (bytes <= MAX_LINE_BYTES || attempt === 4) return { text, bytes, hash: sealed.hash, prev: lastHash };
    budget = Math.floor((budget * MAX_LINE_BYTES * 0.8) / bytes);
  }
}

/**
 * The hash the chain goes on from after `lines` failed to be written and
 * `kept` bytes of them stayed on disk (a full disk took what fit and it could
 * not be taken back): the whole lines among them stay in the chain, a torn one
 * after them does not, and lines that never reached the disk leave no gap that
 * verify would stop at as a deletion.
 */
export function lastKeptHash(lines: readonly Line[], kept: number): string | null {
  let hash = lines[0]!.prev;
  let bytes = 0;
  for (const l of lines) {
    bytes += l.bytes;
    if (bytes > kept) break;
    hash = l.hash;
  }
  return hash;
}
