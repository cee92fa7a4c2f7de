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
 * Longest Accept value negotiated. Real ones name a few types; negotiating
 * costs per range against each offered type, so a 16 KB value of ranges cost
 * 40 times what an ignored header of that size does.
 */
export const MAX_ACCEPT_LENGTH = 1024;

/**
 * JSON whenever the client takes it (it is the smaller answer and every
 * client reads it), SSE when that is all it takes; null when it takes
 * neither.
 */
function negotiate(accept: string): AcceptVerdict | null {
  if (accept.trim() === '') return NO_PREFERENCE;
  const taken = new Negotiator({ headers: { accept } }).mediaTypes(OFFERED);
  const streams = taken.includes(SSE_TYPE);
  if (taken.includes(JSON_TYPE)) return { format: 'json', streams };
  if (streams) return { format: 'sse', streams };
  return null;
}

/**
 * Verdicts by Accept value, refusals (null) included. A client sends the
 * same value on every request, and negotiating costs more than the rest of
 * reading a tools/list's headers.
 */
const verdicts = new Map<string, AcceptVerdict | null>();
const MAX_KEPT = 64;
const MAX_KEPT_LENGTH = 256;

/** Throws 406 for an Accept that takes neither format, or is longer than MAX_ACCEPT_LENGTH. */
export function acceptVerdict(accept: string | null): AcceptVerdict {
  if (accept === null) return NO_PREFERENCE;
  if (accept.length > MAX_ACCEPT_LENGTH) throw notAcceptable(`Not Acceptable: the Accept header is longer than ${MAX_ACCEPT_LENGTH} characters`);
  let verdict = verdicts.get(accept);
  if (verdict === undefined) {
    verdict = negotiate(accept);
    if (accept.length <= MAX_KEPT_LENGTH) {
      if (verdicts.size >= MAX_KEPT) verdicts.clear();
      verdicts.set(accept, verdict);
    }
  }
  if (verdict === null) throw notAcceptable('Not Acceptable: accept application/json or text/event-stream');
  return verdict;
}

function notAcceptable(message: string): HideError {
  return new HideError(message, { status: 406, rpcCode: RpcCode.invalidRequest });
}
