/**
 * The MCP Streamable HTTP endpoints (POST / and /mcp), stateless: each POST
 * carries one JSON-RPC message and gets its answer as JSON — or as one SSE
 * event when the client accepts only text/event-stream. Other methods: 405.
 */
import { Elysia } from 'elysia';
import type { CallContext } from '../../core/context.ts';
import { HideError, MethodNotAllowedError, RpcCode } from '../../core/errors.ts';
import type { DispatchOutput, McpDispatcher } from '../../mcp/dispatcher.ts';
import { jsonResponse } from '../error-response.ts';
import { stateOf } from '../request-state.ts';

type Reply = 'json' | 'sse';

/** Missing or wildcard Accept gets JSON, so the seed's curl examples work as written. */
export function replyFormat(accept: string | null): Reply {
  if (accept === null) return 'json';
  const a = accept.toLowerCase();
  if (a.trim() === '' || a.includes('application/json') || a.includes('*/*') || a.includes('application/*')) return 'json';
  if (a.includes('text/event-stream')) return 'sse';
  throw new HideError('Not Acceptable: accept application/json or text/event-stream', { status: 406, rpcCode: RpcCode.invalidRequest });
}

export function mcpRoutes(dispatcher: McpDispatcher, contextOf: (request: Request) => CallContext) {
  const respond = (format: Reply, out: DispatchOutput): Response => {
    const headers: Record<string, string> = { 'x-correlation-id': out.correlationId };
    if (out.body === null) return new Response(null, { status: 202, headers });
    if (format === 'sse') {
      return new Response(`event: message\ndata: ${out.body}\n\n`, {
        headers: { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
      });
    }
    return jsonResponse(200, out.body, headers);
  };
  // Not async: a tools/list is answered without a promise in between.
  const handle = ({ request }: { request: Request }) => {
    const state = stateOf(request)!;
    const format = replyFormat(request.headers.get('accept'));
    const out = dispatcher.dispatch(state.message!, contextOf(request), state.admission);
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
