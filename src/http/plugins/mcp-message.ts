/**
 * Reads the MCP request body once authentication has passed and hands it to
 * the message core (mcp/core.ts), with the MCP headers it must check against
 * the body. The body is read before the Content-Type and Content-Encoding
 * verdict so that every refusal after authentication can echo the request's
 * id (where the body is UTF-8 enough to read it). Errors map to the
 * table in DESIGN.md.
 */
import { Elysia } from 'elysia';
import { HideError, ParseError, RateLimitError, RpcCode } from '../../core/errors.ts';
import type { McpCore } from '../../mcp/core.ts';
import type { McpHeaders } from '../../mcp/era.ts';
import { type HeaderRecord, type RequestState, stateOf } from '../request-state.ts';
import { BodyBudget } from '../../security/body-budget.ts';
import { BodyDeadlines, declaredLength, readBody } from './body-limit.ts';

/**
 * application/json, or a `+json` type, with parameters if any: not
 * `application/json-seq` or a list of types. JSON is UTF-8 (RFC 8259), so a
 * `charset` other than UTF-8 names text this server would misread.
 */
const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json[ \t]*(?:;|$)/i;
// `charset*=` too (RFC 8187's extended form): a reader that honours it would decode another text.
const CHARSET = /;[ \t]*charset\*?[ \t]*=[ \t]*"?([^";\s]*)/i;

function isJsonType(type: string): boolean {
  const t = type.trim();
  if (!JSON_TYPE.test(t)) return false;
  const charset = CHARSET.exec(t);
  if (charset === null) return true;
  // Two charsets: a reader in front that took the other one decoded another text.
  return /^utf-?8$/i.test(charset[1]!) && !CHARSET.test(t.slice(charset.index + charset[0].length));
}

/** No content coding, or `identity`: a compressed body would be read as the bytes it is, and a gateway that decoded it saw another request. */
const isIdentityCoding = (coding: string | undefined): boolean => coding === undefined || /^[ \t]*identity[ \t]*$/i.test(coding);

/** Why the body is not JSON this server reads as sent (415), or null. */
function mediaProblem(headers: HeaderRecord): HideError | null {
  const type = headers['content-type'];
  if (type !== undefined && !isJsonType(type)) {
    return new HideError('Unsupported Media Type: send Content-Type: application/json (UTF-8)', { status: 415, rpcCode: RpcCode.invalidRequest });
  }
  if (!isIdentityCoding(headers['content-encoding'])) {
    return new HideError('Unsupported Media Type: send the body without a Content-Encoding (uncompressed)', {
      status: 415,
      rpcCode: RpcCode.invalidRequest,
      headers: { 'Accept-Encoding': 'identity' },
    });
  }
  return null;
}

function bodiesRefusal(perClient: number): RateLimitError {
  return new RateLimitError(`Too many request bodies arriving at once: at most ${perClient} bytes of them per client, fewer while the server reads many`, 1, { reason: 'request_bodies' });
}

export function mcpHeaders(headers: HeaderRecord): McpHeaders {
  return { protocolVersion: headers['mcp-protocol-version'] ?? null, method: headers['mcp-method'] ?? null, name: headers['mcp-name'] ?? null };
}

/**
 * Bodies one client may have in reading at once, and all clients together, in
 * bodies of the largest size: a client's concurrent calls carry far less, and
 * nothing one client holds open leaves the others without room.
 */
const BODIES_PER_CLIENT = 4;
const BODIES_OVERALL = 32;
/** Bodies up to this size count against their client's share only (BodyBudget). */
const SMALL_BODY = 64 * 1024;

/**
 * @param onBodiesRefused told of a body refused for want of room (BodyBudget), to audit it
 */
export function mcpMessage(core: McpCore, maxBytes: number, bodyTimeoutMs: number, onBodiesRefused: (request: Request, error: string) => void = () => {}) {
  const deadlines = new BodyDeadlines(bodyTimeoutMs);
  const budget = new BodyBudget(BODIES_PER_CLIENT * maxBytes, BODIES_OVERALL * maxBytes, Math.min(SMALL_BODY, maxBytes / 4));
  return new Elysia({ name: 'hide/mcp-message', seed: maxBytes }).onBeforeHandle({ as: 'global' }, ({ request, headers }) => {
    const state = stateOf(request);
    if (!state?.protectedPath || request.method !== 'POST') return;
    return read(request, headers, state);
  });

  async function read(request: Request, headers: HeaderRecord, state: RequestState): Promise<void> {
    const media = mediaProblem(headers);
    const contentLength = headers['content-length'] ?? null;
    // What the body will hold in memory: its declared length (over the limit it was refused already), else the limit.
    const bytes = Math.min(declaredLength(contentLength) ?? maxBytes, maxBytes);
    const client = state.identity?.clientId ?? state.clientIp;
    if (!budget.take(client, bytes)) {
      const refusal = bodiesRefusal(budget.perClient);
      onBodiesRefused(request, refusal.message);
      throw refusal;
    }
    let text: string;
    try {
      text = await readBody(request, maxBytes, deadlines, contentLength);
    } catch (err) {
      // UTF-16 or gzip bytes are not UTF-8: the media type is the refusal, not the bytes it predicted.
      throw media !== null && err instanceof ParseError ? media : err;
    } finally {
      budget.give(client, bytes);
    }
    const incoming = core.read(text, mcpHeaders(headers));
    state.rpcId = incoming.id;
    if (media !== null) throw media;
    if (!incoming.ok) throw incoming.error;
    state.incoming = incoming;
  }
}
