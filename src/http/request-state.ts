/**
 * Per-request facts the pipeline's hooks hand to each other (client IP,
 * correlation id, identity, the parsed message, the admission to release),
 * keyed by the Request object so no hook depends on another's context shape.
 */
import type { Incoming } from '../mcp/core.ts';
import type { Admission } from '../mcp/gate.ts';
import type { JsonRpcId } from '../mcp/protocol.ts';
import type { Identity } from '../security/pipeline.ts';

export interface RequestState {
  path: string;
  /** An MCP endpoint (POST / or /mcp): the whole pipeline applies. */
  protectedPath: boolean;
  clientIp: string;
  correlationId: string;
  identity?: Identity;
  /** The MCP message, read and classified by the message core. */
  incoming?: Incoming;
  /** The id of the message, once read, so an error response can echo it. */
  rpcId: JsonRpcId | null;
  admission?: Admission;
}

const states = new WeakMap<Request, RequestState>();

export function stateOf(request: Request): RequestState | undefined {
  return states.get(request);
}

export function setState(request: Request, state: RequestState): void {
  states.set(request, state);
}

/** Path of a request URL without parsing the whole URL (hot path). */
export function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  if (start < 0) return '/';
  const q = url.indexOf('?', start);
  return q < 0 ? url.slice(start) : url.slice(start, q);
}
