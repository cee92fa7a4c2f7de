/**
 * Per-request facts the pipeline's hooks hand to each other (client IP,
 * correlation id, identity, the parsed message, the admission to release),
 * carried by the Request object itself so no hook depends on another's
 * context shape. A symbol-keyed property rather than a WeakMap, so no request
 * leaves a weak entry behind for the collector to sweep.
 */
import type { Incoming } from '../mcp/core.ts';
import type { Admission } from '../mcp/gate.ts';
import type { JsonRpcId } from '../mcp/protocol.ts';
import type { Identity } from '../security/pipeline.ts';

/**
 * The request headers as Elysia hands them to hooks after routing: names in
 * lower case, repeated headers joined as Headers.get joins them. Elysia builds
 * this object once per request anyway (the bearer plugin asks for it), and a
 * property read costs far less than another Headers.get (~35 ns each).
 */
export type HeaderRecord = Record<string, string | undefined>;

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

const STATE = Symbol('hide.requestState');

type Carrier = Request & { [STATE]?: RequestState };

export function stateOf(request: Request): RequestState | undefined {
  return (request as Carrier)[STATE];
}

export function setState(request: Request, state: RequestState): void {
  (request as Carrier)[STATE] = state;
}

/** Path of a request URL without parsing the whole URL (hot path). */
export function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  if (start < 0) return '/';
  const q = url.indexOf('?', start);
  return q < 0 ? url.slice(start) : url.slice(start, q);
}
