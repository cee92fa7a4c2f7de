/**
 * The MCP Streamable HTTP endpoints (POST / and /mcp), stateless: each POST
 * carries one JSON-RPC message, already read by the message core, and gets its
 * answer as JSON — or as SSE when the client accepts only text/event-stream,
 * or when a tools/call that asked for progress accepts SSE at all: then the
 * progress notifications stream ahead of the result, each event flushed as it
 * is written. Other methods: 405.
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

const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

const sseEvent = (json: string) => `event: message\ndata: ${json}\n\n`;

/**
 * Events queued for a client that does not read its stream, at most. Beyond
 * it progress notifications are dropped (a later one supersedes them); the
 * reply never is. A flooding command reports every few KiB of output, and
 * without this a client that stops reading would grow the server's memory.
 */
export const MAX_QUEUED_EVENT_BYTES = 256 * 1024;

function respond(format: ReplyFormat, out: Reply): Response {
  // The common answer (JSON, no extra headers) builds its header object once.
  if (format === 'json' && out.body !== null && out.headers === undefined) {
    // A cached result goes out as its answer built once: encoding or copying 30 kB per request cost more than the whole pipeline.
    const body = out.blob?.() ?? out.body;
    return new Response(body, { status: out.status, headers: { 'content-type': 'application/json', 'x-correlation-id': out.correlationId } });
  }
  const headers: Record<string, string> = { 'x-correlation-id': out.correlationId, ...out.headers };
  if (out.body === null) return new Response(null, { status: out.status, headers });
  if (format === 'sse' && out.status === 200) return new Response(sseEvent(out.body), { headers: { ...headers, ...SSE_HEADERS } });
  return jsonResponse(out.status, out.body, headers);
}

/**
 * A tools/call that asked for progress, answered as an event stream: each
 * notification is one event written as it comes, then the reply, then the
 * end. The stream (and its 200) opens with the first notification; a reply
 * that comes before any is answered as a client accepting SSE gets any other
 * reply, so a refusal keeps its status and headers (429 and Retry-After).
 */
function streamed(core: McpCore, incoming: Incoming, ctx: CallContext, admission: Admission | undefined): Promise<Response> {
  const encoder = new TextEncoder();
  let sink: ReadableStreamDefaultController<Uint8Array> | null = null;
  let opened: (response: Response) => void = () => {};
  const response = new Promise<Response>((resolve) => {
    opened = resolve;
  });
  const send = (json: string, reply = false) => {
    if (!reply && (sink?.desiredSize ?? 0) <= 0) return;
    try {
      sink?.enqueue(encoder.encode(sseEvent(json)));
    } catch {
      // The client went away; its disconnect already cancelled the call.
    }
  };
  const open = () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        sink = controller;
      },
    }, { highWaterMark: MAX_QUEUED_EVENT_BYTES, size: (chunk) => chunk?.byteLength ?? 0 });
    const params = incoming.message.kind === 'request' ? incoming.message.params : {};
    const correlationId = callLabels(params, ctx.correlationId).correlationId;
    opened(new Response(body, { headers: { 'x-correlation-id': correlationId, ...SSE_HEADERS } }));
  };
  const notify = (json: string) => {
    if (sink === null) open();
    send(json);
  };
  void Promise.resolve(core.answer(incoming, ctx, { admission, notify })).then((out) => {
    if (sink === null) {
      opened(respond('sse', out));
      return;
    }
    if (out.body !== null) send(out.body, true);
    try {
      sink.close();
    } catch {
      // already closed by a disconnect
    }
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
    if (reportsProgress && streams) {
      return streamed(core, incoming, contextOf(request), state.admission);
    }
    const out = core.answer(incoming, contextOf(request), { admission: state.admission });
    return out instanceof Promise ? out.then((o) => respond(format, o)) : respond(format, out);
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
