/**
 * Per-client limits as an onBeforeHandle hook: a tools/call takes its RPM
 * count and concurrency slot here (refusal: 429 with Retry-After), once its
 * Accept header allows an answer (406 otherwise, nothing counted), and the
 * slot is released when the call ends — by the dispatcher in its finally, or
 * by the app's error mapping when an error ends the request first.
 */
import { Elysia } from 'elysia';
import type { CallContext } from '../../core/context.ts';
import { ClientClosedError } from '../../core/errors.ts';
import type { McpDispatcher } from '../../mcp/dispatcher.ts';
import { callLabels } from '../../mcp/gate.ts';
import type { SecurityPipeline } from '../../security/pipeline.ts';
import { type RequestState, stateOf } from '../request-state.ts';
import { acceptVerdict } from '../reply-format.ts';

export function limits(security: SecurityPipeline, dispatcher: McpDispatcher, contextOf: (request: Request) => CallContext) {
  async function admit(request: Request, state: RequestState, params: Record<string, unknown>): Promise<void> {
    const tool = dispatcher.toolFor(params);
    if (!tool) return; // the dispatcher answers "unknown tool"
    // Gone: its request has been aborted, or its socket has no peer.
    if (request.signal.aborted || !state.pinClientIp()) throw new ClientClosedError('Client closed the connection before the call started; nothing was run');
    const { correlationId, user } = callLabels(params, state.correlationId);
    // The tool's own correlation id is the call's from here on: a refusal's X-Correlation-ID must name the id its
    // audit line records.
    state.correlationId = correlationId;
    state.admission = await security.admit(contextOf(request), tool, correlationId, user);
  }

  // Not async: only a tools/call pays for a promise.
  return new Elysia({ name: 'hide/limits' }).onBeforeHandle({ as: 'global' }, ({ request, headers }) => {
    const state = stateOf(request);
    const msg = state?.incoming?.message;
    if (!state || msg?.kind !== 'request' || msg.method !== 'tools/call') return;
    // A call whose answer the client cannot take (406) is refused before it spends a request of its minute.
    acceptVerdict(headers.accept ?? null);
    return admit(request, state, msg.params);
  });
}
