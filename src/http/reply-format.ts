/**
 * Which of the two answer formats Streamable HTTP allows (JSON or an SSE
 * stream) a request's `Accept` header takes, by HTTP content negotiation:
 * media ranges, wildcards, parameters and `q` weights, `q=0` meaning "not
 * this one".
 */
import Negotiator from 'negotiator';
import { HideError, RpcCode } from '../core/errors.ts';

export type ReplyFormat = 'json' | 'sse';

/** What one Accept value allows: the plain answer's format, and whether a progress stream may be sent. */
export interface AcceptVerdict {
  format: ReplyFormat;
  streams: boolean;
}

// Both are UTF-8; naming the charset lets a range that names it (`application/json; charset=utf-8`) match.
const JSON_TYPE = 'application/json; charset=utf-8';
const SSE_TYPE = 'text/event-stream; charset=utf-8';
const OFFERED = [JSON_TYPE, SSE_TYPE];

/** Missing or empty Accept gets JSON, so the seeds' curl examples work as written. */
const NO_PREFERENCE: AcceptVerdict = { format: 'json', streams: false };

/**
 * JSON whenever the client takes it (it is the smaller answer and every
 * client reads it), SSE when that is all it takes. Throws 406 when it takes
 * neither.
 */
function negotiate(accept: string): AcceptVerdict {
  const taken = new Negotiator({ headers: { accept } }).mediaTypes(OFFERED);
  const streams = taken.includes(SSE_TYPE);
  if (taken.includes(JSON_TYPE)) return { format: 'json', streams };
  if (streams) return { format: 'sse', streams };
  throw new HideError('Not Acceptable: accept application/json or text/event-stream', { status: 406, rpcCode: RpcCode.invalidRequest });
}

/**
 * Verdicts by Accept value. A client sends the same value on every request,
 * and negotiating costs more than the rest of reading a tools/list's headers;
 * a refusal is not kept (it throws), so the map holds only what was allowed.
 */
const verdicts = new Map<string, AcceptVerdict>();
const MAX_KEPT = 64;
const MAX_KEPT_LENGTH = 256;

export function acceptVerdict(accept: string | null): AcceptVerdict {
  if (accept === null) return NO_PREFERENCE;
  const kept = verdicts.get(accept);
  if (kept !== undefined) return kept;
  const verdict = accept.trim() === '' ? NO_PREFERENCE : negotiate(accept);
  if (accept.length > MAX_KEPT_LENGTH) return verdict;
  if (verdicts.size >= MAX_KEPT) verdicts.clear();
  verdicts.set(accept, verdict);
  return verdict;
}
