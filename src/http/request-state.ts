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

/**
 * The state of one request. The client address is worked out on first use:
 * asking the socket for its peer costs a system call and an object, and a
 * request that no address rule, refusal or audit line reads (a keyed
 * tools/list with no allowlist) never needs it.
 */
export class RequestState {
  identity?: Identity;
  /** The MCP message, read and classified by the message core. */
  incoming?: Incoming;
  /** The id of the message, once read, so an error response can echo it. */
  rpcId: JsonRpcId | null = null;
  admission?: Admission;
  #clientIp: string | undefined;
  #clientGone = false;
  readonly #request: Request;
  readonly #resolveClientIp: (request: Request) => string | null;

  /**
   * @param resolveClientIp the client address, or null when the client has
   * closed its connection (the socket has no peer any more)
   */
  constructor(
    readonly path: string,
    /** An MCP endpoint (POST / or /mcp): the whole pipeline applies. */
    readonly protectedPath: boolean,
    public correlationId: string,
    request: Request,
    resolveClientIp: (request: Request) => string | null,
  ) {
    this.#request = request;
    this.#resolveClientIp = resolveClientIp;
  }

  /** Who the request is from (X-Forwarded-For counts only from a trusted proxy); `unknown` once the client has gone. */
  get clientIp(): string {
    return this.#clientIp ?? this.#resolve();
  }

  #resolve(): string {
    const ip = this.#resolveClientIp(this.#request);
    this.#clientGone = ip === null;
    return (this.#clientIp = ip ?? 'unknown');
  }

  /**
   * Resolves the address now, for a call about to start. A tool call's audit
   * line is written when the call ends and must name its client even if the
   * client hangs up before then; and a call whose client has already gone
   * must not start. False in that case. An address read earlier (by the
   * allowlist, or as the limits' key when auth is off) does not say the
   * client is still there: the socket is asked again.
   */
  pinClientIp(): boolean {
    if (this.#clientIp === undefined) this.#resolve();
    else if (!this.#clientGone) this.#clientGone = this.#resolveClientIp(this.#request) === null;
    return !this.#clientGone;
  }
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
