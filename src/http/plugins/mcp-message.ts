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
import type { McpCore, ReadResult } from '../../mcp/core.ts';
import type { McpHeaders } from '../../mcp/era.ts';
import { type HeaderRecord, type RequestState, stateOf } from '../request-state.ts';
import { BodyBudget, type BodyRoom, callerSource } from '../../security/body-budget.ts';
import { BodyDeadlines, readBody } from './body-limit.ts';
import { parse as parseContentType } from 'content-type';

/**
 * application/json, or a `+json` type, with well-formed parameters if any (content-type's parse: a list of types,
 * `application/json;a=b, text/plain`, is none), not `application/json-seq`. JSON is UTF-8 (RFC 8259), so a
 * `charset` other than UTF-8 names text this server would misread; two of them (or the extended `charset*=`), a
 * reader in front that took the other one decoded another text.
 */
const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json$/;
const CHARSET_PARAMETER = /;[ \t]*charset\*?[ \t]*=/gi;

function isJsonType(type: string): boolean {
  let parsed: ReturnType<typeof parseContentType>;
  try {
    parsed = parseContentType(type);
  } catch {
    return false;
  }
  if (!JSON_TYPE.test(parsed.type) || 'charset*' in parsed.parameters || (type.match(CHARSET_PARAMETER)?.length ?? 0) > 1) return false;
  const charset = parsed.parameters.charset;
  return charset === undefined || /^utf-?8$/i.test(charset);
}

/** No content coding, or `identity`: a compressed body would be read as the bytes it is, and a gateway that decoded it saw another request. */
const isIdentityCoding = (coding: string | undefined): boolean => coding === undefined || /^[ \t]*identity[ \t]*$/i.test(coding);

/** Why the body is not JSON this server reads as sent (415), or null. */
function mediaProblem(headers: HeaderRecord): HideError | null {
  const type = headers['content-type'];
  // A page may POST a body with no Content-Type (a Uint8Array, a Blob with no type) to any origin without a CORS
  // preflight; the call would run though the page cannot read its answer. A browser's request carries an Origin:
  // asked for the JSON type, such a page must preflight, which is refused.
  if (type === undefined && headers.origin !== undefined) {
    return new HideError('Unsupported Media Type: a request with an Origin must send Content-Type: application/json', { status: 415, rpcCode: RpcCode.invalidRequest });
  }
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

function bodiesRefusal(perSource: number): RateLimitError {
  return new RateLimitError(`Too many request bodies arriving at once: at most ${perSource} bytes of them per client, fewer while the server reads many`, 1, { reason: 'request_bodies' });
}

export function mcpHeaders(headers: HeaderRecord): McpHeaders {
  return { protocolVersion: headers['mcp-protocol-version'] ?? null, method: headers['mcp-method'] ?? null, name: headers['mcp-name'] ?? null };
}

/**
 * Bodies one source (a client, or an address where nobody signs in) may have
 * in reading at once, and all sources together, in bodies of the largest
 * size: a client's concurrent calls carry far less.
 */
const BODIES_PER_SOURCE = 4;
const BODIES_OVERALL = 32;
/** Declared bodies up to this size (a quarter of the limit, if less) come from a room of their own, of 8 bodies of the limit. */
const SMALL_BODY = 64 * 1024;
const SMALL_ROOM_BODIES = 8;

/**
 * @param onBodiesRefused told of a body refused for want of room (BodyBudget), to audit it
 * @param onCallRefused told of a message read and refused (McpCore.refusedRead audits a tools/call)
 */
export function mcpMessage(
  core: McpCore,
  maxBytes: number,
  bodyTimeoutMs: number,
  onBodiesRefused: (request: Request, error: string) => void = () => {},
  onCallRefused: (request: Request, read: ReadResult, error: HideError) => void = () => {},
) {
  const deadlines = new BodyDeadlines(bodyTimeoutMs);
  const budget = new BodyBudget(BODIES_PER_SOURCE * maxBytes, { small: SMALL_ROOM_BODIES * maxBytes, large: BODIES_OVERALL * maxBytes });
  const small = Math.min(SMALL_BODY, maxBytes / 4);
  return new Elysia({ name: 'hide/mcp-message', seed: maxBytes }).onBeforeHandle({ as: 'global' }, ({ request, headers }) => {
    const state = stateOf(request);
    if (!state?.protectedPath || request.method !== 'POST') return;
    return read(request, headers, state);
  });

  async function read(request: Request, headers: HeaderRecord, state: RequestState): Promise<void> {
    const media = mediaProblem(headers);
    const source = callerSource(state.identity ?? { clientId: '', apiKeyHash: null }, () => state.clientIp);
    let reserved = 0;
    let room: BodyRoom = 'large';
    const reserve = (bytes: number, declared: boolean) => {
      room = declared && bytes <= small ? 'small' : 'large';
      if (!budget.take(source, bytes, room)) {
        const refusal = bodiesRefusal(budget.perSource);
        onBodiesRefused(request, refusal.message);
        throw refusal;
      }
      reserved += bytes;
    };
    let text: string;
    try {
      text = await readBody(request, maxBytes, deadlines, headers['content-length'] ?? null, reserve);
    } catch (err) {
      // UTF-16 or gzip bytes are not UTF-8: the media type is the refusal, not the bytes it predicted.
      throw media !== null && err instanceof ParseError ? media : err;
    } finally {
      budget.give(source, reserved, room);
    }
    const incoming = core.read(text, mcpHeaders(headers));
    state.rpcId = incoming.id;
    const refusal = media ?? (incoming.ok ? null : incoming.error);
    if (refusal !== null) {
      onCallRefused(request, incoming, refusal);
      throw refusal;
    }
    if (incoming.ok) state.incoming = incoming;
  }
}
