/**
 * The MCP Streamable HTTP endpoints (POST / and /mcp), stateless: each POST
 * carries one JSON-RPC message, already read by the message core, and gets its
 * answer as JSON — or as SSE when the client accepts only text/event-stream,
 * or when a tools/call that asked for progress accepts SSE at all: then the
 * progress notifications stream ahead of the result, each event flushed as it
 * is written. A tools/call admitted here keeps its concurrency slot until its
 * answer has been taken by the connection, not only until it ends (a large
 * answer goes out as the client reads it: src/http/taken-body.ts). Other
 * methods: 405.
 */
import { Elysia } from 'elysia';
import type { CallContext } from '../../core/context.ts';
import { MethodNotAllowedError } from '../../core/errors.ts';
import type { Incoming, McpCore } from '../../mcp/core.ts';
import type { Reply } from '../../mcp/dispatcher.ts';
import { type Admission, callLabels } from '../../mcp/gate.ts';
import { jsonResponse } from '../error-response.ts';
import { acceptVerdict, type ReplyFormat } from '../reply-format.ts';
import { type HeaderRecord, stateOf } from '../request-state.ts';
import { SENT_AT_ONCE_CHARS, TakenBody } from '../taken-body.ts';

const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

const sseEvent = (json: string) => `event: message\ndata: ${json}\n\n`;

/**
 * Events queued for a client that does not read its stream, at most (in
 * characters of their JSON). Beyond it progress notifications are dropped (a
 * later one supersedes them); the reply never is. A flooding command reports
 * every few KiB of output, and without this a client that stops reading would
 * grow the server's memory.
 */
export const MAX_QUEUED_EVENT_BYTES = 256 * 1024;

/**
 * A tools/call's concurrency slot on HTTP: given back once the call has ended
 * and its answer has been taken whole or its client has hung up, whichever
 * comes last. A hang-up while the call runs cancels the call, which then
 * ends; the slot is not free before that.
 */
class AnswerSlot {
  private ended = false;
  private gone = false;
  private released = false;

  constructor(
    private readonly admission: Admission,
    signal: AbortSignal,
  ) {
    if (signal.aborted) this.gone = true;
    else signal.addEventListener('abort', () => this.answerGone(), { once: true });
  }

  readonly callEnded = (): void => {
    this.ended = true;
    this.settle();
  };

  /** The answer was taken whole, or will never be. */
  readonly answerGone = (): void => {
    this.gone = true;
    this.settle();
  };

  private settle(): void {
    if (!this.ended || !this.gone || this.released) return;
    this.released = true;
    this.admission.release();
  }
}

/** What an answer with no slot to give back does once taken. */
const takenNothing = (): void => {};

/** The admission the core is given on HTTP: the route, not the call's end alone, gives the slot back. */
const HELD: Admission = { release() {} };

/** `text` as a body the connection takes as the client reads; `onTaken` once it has all been taken or abandoned. */
function taken(text: string, onTaken: () => void): ReadableStream<Uint8Array> {
  const body = new TakenBody(onTaken);
  body.push(text);
  body.end();
  return body.stream;
}

function respond(format: ReplyFormat, out: Reply, slot?: AnswerSlot): Response {
  const large = out.body !== null && out.body.length > SENT_AT_ONCE_CHARS;
  const onTaken = slot?.answerGone ?? takenNothing;
  // A small answer fits the socket's buffer: it is taken as it is handed over.
  if (!large) onTaken();
  // The common answer (JSON, no extra headers) builds its header object once.
  if (format === 'json' && out.body !== null && out.headers === undefined) {
    // A cached result goes out as its answer built once: encoding or copying 30 kB per request cost more than the whole pipeline.
    const body = large ? taken(out.body, onTaken) : (out.blob?.() ?? out.body);
    return new Response(body, { status: out.status, headers: { 'content-type': 'application/json', 'x-correlation-id': out.correlationId } });
  }
  const headers: Record<string, string> = { 'x-correlation-id': out.correlationId, ...out.headers };
  if (out.body === null) return new Response(null, { status: out.status, headers });
  if (format === 'sse' && out.status === 200) {
    const event = sseEvent(out.body);
    return new Response(large ? taken(event, onTaken) : event, { headers: { ...headers, ...SSE_HEADERS } });
  }
  return jsonResponse(out.status, large ? taken(out.body, onTaken) : out.body, headers);
}

/**
 * A tools/call that asked for progress, answered as an event stream: each
 * notification is one event written as it comes, then the reply, then the
 * end. The stream (and its 200) opens with the first notification; a reply
 * that comes before any is answered in `format`, as any other reply to this
 * Accept, so a refusal keeps its status and headers (429 and Retry-After).
 */
function streamed(core: McpCore, incoming: Incoming, ctx: CallContext, slot: AnswerSlot | undefined, format: ReplyFormat): Promise<Response> {
  let body: TakenBody | null = null;
  let opened: (response: Response) => void = () => {};
  const response = new Promise<Response>((resolve) => {
    opened = resolve;
  });
  const open = () => {
    body = new TakenBody(slot?.answerGone ?? takenNothing);
    const params = incoming.message.kind === 'request' ? incoming.message.params : {};
    const correlationId = callLabels(params, ctx.correlationId).correlationId;
    opened(new Response(body.stream, { headers: { 'x-correlation-id': correlationId, ...SSE_HEADERS } }));
  };
  const notify = (json: string) => {
    if (body === null) open();
    if (body!.unsentChars < MAX_QUEUED_EVENT_BYTES) body!.push(sseEvent(json));
  };
  void Promise.resolve(core.answer(incoming, ctx, { admission: slot && HELD, notify })).then((out) => {
    slot?.callEnded();
    if (body === null) {
      // No notification came: the answer goes out as it would have without a token.
      opened(respond(format, out, slot));
      return;
    }
    // Dropped by a body its client hung up on (the hang-up cancelled the call).
    if (out.body !== null) body.push(sseEvent(out.body));
    body.end();
  });
  return response;
}

export function mcpRoutes(core: McpCore, contextOf: (request: Request) => CallContext) {
  // Not async: a tools/list is answered without a promise in between.
  const handle = ({ request, headers }: { request: Request; headers: HeaderRecord }) => {
    const state = stateOf(request)!;
    const { format, streams } = acceptVerdict(headers.accept ?? null);
    const incoming = state.incoming!;
    // Only a tools/call reports progress; anything else keeps its own status (202, a 2026-07-28 404) instead of a 200 stream.
    const reportsProgress = incoming.progressToken !== undefined && incoming.message.kind === 'request' && incoming.message.method === 'tools/call';
    const slot = state.admission && new AnswerSlot(state.admission, request.signal);
    if (reportsProgress && streams) return streamed(core, incoming, contextOf(request), slot, format);
    if (slot === undefined) {
      const out = core.answer(incoming, contextOf(request));
      return out instanceof Promise ? out.then((o) => respond(format, o)) : respond(format, out);
    }
    return Promise.resolve(core.answer(incoming, contextOf(request), { admission: HELD })).then((o) => {
      slot.callEnded();
      return respond(format, o, slot);
    });
  };
  const notAllowed = () => {
    throw new MethodNotAllowedError('POST');
  };
  let app = new Elysia({ name: 'hide/mcp-routes' });
  for (const path of ['/', '/mcp']) {
    app = app
      .post(path, handle, { parse: 'none' })
      .get(path, notAllowed)
      .put(path, notAllowed, { parse: 'none' })
      .patch(path, notAllowed, { parse: 'none' })
      .delete(path, notAllowed, { parse: 'none' })
      .options(path, notAllowed);
  }
  return app;
}
