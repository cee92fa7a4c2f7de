/**
 * The one message core both transports share. A transport hands it the text
 * of one message plus the facts only the transport knows (HTTP's MCP headers,
 * the caller's identity, a disconnect signal, a way to send notifications);
 * the core parses and classifies the message, decides its era, answers it
 * through the dispatcher, tracks the requests in flight so a cancellation can
 * reach them, wires progress reporting, and turns every refusal into a
 * JSON-RPC error with the request's id echoed. HTTP and stdio are thin
 * adapters over `read` and `answer`; nothing here knows about either.
 */
import type { CallContext, ProgressUpdate } from '../core/context.ts';
import { AccessRevoked, HideError, InvalidRequestError, ParseError, RpcCode, UnsupportedProtocolVersionError } from '../core/errors.ts';
import { logger } from '../core/log.ts';
import { type ToolDefinition, toolPermitted } from '../tools/types.ts';
import type { Request as DispatchRequest, McpDispatcher, Reply } from './dispatcher.ts';
import { type Era, eraOf, LEGACY_ERA, type McpHeaders } from './era.ts';
import type { Admission } from './gate.ts';
import { InflightCalls } from './inflight.ts';
import { ALL_PROTOCOL_VERSIONS, asJsonRpcId, errorJson, idKey, type JsonRpcId, type JsonRpcMessage, NestedTooDeepError, parseMessageText, TooManyValuesError, readId, repeatedName, repeatedNameError, toMessage } from './protocol.ts';

/** A message that parsed, classified and passed the era checks. */
export interface Incoming {
  message: JsonRpcMessage;
  /** The request's id; null for a notification or response. */
  id: JsonRpcId | null;
  era: Era;
  /** `params._meta.progressToken` of a request that asked for progress. */
  progressToken?: string | number;
}

/** A refused message; `call` holds the params of one that was a tools/call, for the audit log. */
export type ReadResult = ({ ok: true } & Incoming) | { ok: false; id: JsonRpcId | null; error: HideError; call?: { params: unknown } };

/** The params of a parsed value whose method is tools/call (of a batch, its first such), else undefined. */
function callOf(value: unknown): { params: unknown } | undefined {
  if (Array.isArray(value)) {
    for (const item of value.slice(0, 100)) {
      const call = callOf(item);
      if (call !== undefined) return call;
    }
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const { method, params } = value as Record<string, unknown>;
  return method === 'tools/call' ? { params } : undefined;
}

export interface AnswerOptions {
  /** Taken by the transport's own limits step (HTTP); without it the core asks the gate. */
  admission?: Admission;
  /** Sends one serialised notification ahead of the reply; present when the transport can stream. */
  notify?: (json: string) => void;
  /**
   * An id names one request in flight: a second request with the same id is
   * refused and the first runs on (stdio, where one peer owns every id).
   */
  exclusiveIds?: boolean;
  /**
   * A call that `notifications/cancelled` reached gets no reply (the body is
   * null), as the protocol asks: its client has stopped waiting for one
   * (stdio). HTTP leaves this off: its response must still end.
   */
  silenceCancelled?: boolean;
}

const NO_CONTENT = (ctx: CallContext): Reply => ({ body: null, status: 202, correlationId: ctx.correlationId });

/** Tokens are echoed in every notification: a longer one asks for nothing rather than multiply its size. */
const MAX_PROGRESS_TOKEN_CHARS = 256;
const isProgressToken = (x: unknown): x is string | number =>
  (typeof x === 'string' && x.length <= MAX_PROGRESS_TOKEN_CHARS) || Number.isSafeInteger(x);

/** Progress messages are the newest output; the cap keeps each notification small. */
const PROGRESS_MESSAGE_CHARS = 1024;

/** What a call in flight is kept with: its tool (null: unknown name), and the key it came with, for a reload to judge. */
interface CallTag {
  tool: ToolDefinition | null;
  apiKeyHash: string | null;
  /** Who holds the credential it came with (see holderOf). */
  holder: string;
}

/**
 * The credential's holder, within a client id: an OAuth client of the issuer (one user's two apps are two), else the
 * API key (one client id may hold several). Without sessions nothing else tells two MCP clients of one caller apart,
 * and each numbers its requests from 0: a cancellation, or an id in flight, counts only within one holder.
 */
function holderOf(ctx: CallContext): string {
  return ctx.oauth ? `oauth\0${ctx.oauth.issuer}\0${ctx.oauth.clientId ?? ''}` : `key\0${ctx.apiKeyHash ?? ''}`;
}

export class McpCore {
  /** Requests being answered, by owner and id, so `notifications/cancelled` from the same owner reaches them. */
  private readonly inflight = new InflightCalls<CallTag>();
  private readonly log = logger.withTag('mcp');

  constructor(readonly dispatcher: McpDispatcher) {}

  /**
   * Parses and classifies one message and decides its era. Never throws:
   * a refusal comes back with the id as far as it could be read.
   */
  read(text: string, headers: McpHeaders | null): ReadResult {
    if (text.trim() === '') return { ok: false, id: null, error: new InvalidRequestError('Invalid Request: empty message; send one JSON-RPC message') };
    let value: unknown;
    try {
      value = parseMessageText(text);
    } catch (err) {
      return { ok: false, id: err instanceof NestedTooDeepError || err instanceof TooManyValuesError ? err.id : null, error: err instanceof HideError ? err : new ParseError() };
    }
    const id = readId(value);
    try {
      const message = toMessage(value);
      // What runs, or what is stopped: a reader in front that took the other of a repeated name saw something else.
      if ((message.kind === 'request' && message.method === 'tools/call') || (message.kind === 'notification' && message.method === 'notifications/cancelled')) {
        const twice = repeatedName(text, value);
        if (twice !== null) return { ok: false, id: twice.idRepeated ? null : id, error: repeatedNameError(twice.path), call: callOf(value) };
      }
      if (message.kind === 'response') {
        // Answered with a 202 and otherwise ignored, but not under a version no other message could name. Its id
        // is one the client's peer chose, not one of the client's requests: an error must not echo it.
        const version = headers?.protocolVersion ?? null;
        if (version !== null && !ALL_PROTOCOL_VERSIONS.includes(version)) {
          return { ok: false, id: null, error: new UnsupportedProtocolVersionError(version.slice(0, 80), ALL_PROTOCOL_VERSIONS) };
        }
        return { ok: true, message, id, era: LEGACY_ERA };
      }
      const era = eraOf(message.method, message.params, headers, message.kind === 'request');
      const meta = message.params._meta;
      const token = meta !== null && typeof meta === 'object' ? (meta as Record<string, unknown>).progressToken : undefined;
      return isProgressToken(token) ? { ok: true, message, id, era, progressToken: token } : { ok: true, message, id, era };
    } catch (err) {
      if (err instanceof HideError) return { ok: false, id, error: err, call: callOf(value) };
      throw err;
    }
  }

  /**
   * Records a tools/call refused once its message was read — by `read`
   * (`error` is its refusal), or by the transport for what it read (an
   * unsupported media type) — with the gate, as the dispatcher records the
   * calls it refuses itself. Anything but a tools/call is left out.
   */
  refusedRead(ctx: CallContext, read: ReadResult, error: HideError): void {
    const call = read.ok ? (read.message.kind === 'request' && read.message.method === 'tools/call' ? { params: read.message.params } : undefined) : read.call;
    if (call !== undefined) this.dispatcher.refusedCall(ctx, call.params, error.message, error.rpcCode, error.status);
  }

  /**
   * Answers a message that `read` accepted. A notification gets a 202 with no
   * body; a request gets its result, or an error reply whose status and
   * headers come from the refusal. Never throws a HideError.
   */
  answer(incoming: Incoming, ctx: CallContext, opts: AnswerOptions = {}): Reply | Promise<Reply> {
    const { message } = incoming;
    if (message.kind !== 'request') {
      opts.admission?.release();
      if (message.kind === 'notification' && message.method === 'notifications/cancelled') this.cancel(ctx, message.params.requestId);
      return NO_CONTENT(ctx);
    }
    const request: DispatchRequest = message;
    if (opts.exclusiveIds && this.inflight.has(ctx.clientId, idKey(message.id), ({ holder }) => holder === holderOf(ctx))) {
      opts.admission?.release();
      const shown = idKey(message.id);
      return this.refusal(
        message.id,
        ctx,
        new InvalidRequestError(
          `Invalid Request: id ${shown.length > 80 ? `${shown.slice(0, 80)}…` : shown} belongs to a request still in flight; use a new id for each request`,
        ),
      );
    }
    // Only a tools/call runs long enough to be cancelled or to report progress;
    // the listing path stays synchronous and allocation-light.
    if (message.method !== 'tools/call') return this.guarded(request, incoming.era, ctx, opts.admission);
    const controller = new AbortController();
    const progress = opts.notify && incoming.progressToken !== undefined ? progressReporter(incoming.progressToken, opts.notify) : undefined;
    const tag: CallTag = { tool: this.dispatcher.toolFor(message.params), apiKeyHash: ctx.apiKeyHash, holder: holderOf(ctx) };
    const untrack = this.inflight.add(ctx.clientId, idKey(message.id), tag, (reason) => {
      // Nothing more about a request once it is cancelled: no progress while its process is being killed.
      progress?.close();
      controller.abort(reason);
    });
    const callCtx: CallContext = {
      ...ctx,
      signal: AbortSignal.any([ctx.signal, controller.signal]),
      ...(progress ? { progress: progress.report } : {}),
    };
    const done = (reply: Reply): Reply => {
      progress?.close();
      untrack();
      return opts.silenceCancelled && controller.signal.aborted ? { ...reply, body: null } : reply;
    };
    const out = this.guarded(request, incoming.era, callCtx, opts.admission);
    return out instanceof Promise ? out.then(done) : done(out);
  }

  /**
   * Aborts the caller's requests with that id; an id the caller has not in
   * flight is ignored. A caller stops only a call it could have started: one
   * client id may hold tokens of different scopes (every OAuth token with the
   * same `sub`), and one that may not run a tool must not stop it either.
   */
  private cancel(ctx: CallContext, requestId: unknown): void {
    const id = asJsonRpcId(requestId);
    if (id === null) return;
    const holder = holderOf(ctx);
    this.inflight.abort(ctx.clientId, idKey(id), (tag) => tag.holder === holder && (tag.tool === null || toolPermitted(tag.tool, ctx)));
  }

  /**
   * Stops the running calls `revoked` gives a reason for (a keys-file reload
   * took their client's right to make them): their processes are killed, and
   * their results say why. How many.
   */
  endRevoked(revoked: (clientId: string, apiKeyHash: string | null, tool: ToolDefinition | null) => string | null): number {
    return this.inflight.abortWhere((owner, { tool, apiKeyHash }) => {
      const reason = revoked(owner, apiKeyHash, tool);
      return reason === null ? null : new AccessRevoked(reason);
    });
  }

  /** The error reply for a refusal: the HideError's status, code, data and headers, the id echoed. */
  refusal(id: JsonRpcId | null, ctx: Pick<CallContext, 'correlationId'>, err: HideError): Reply {
    return { body: errorJson(id, err.rpcCode, err.message, err.data), status: err.status, headers: err.headers, correlationId: ctx.correlationId };
  }

  /** Dispatches with every failure turned into an error reply; a synchronous answer stays synchronous. */
  private guarded(request: DispatchRequest, era: Era, ctx: CallContext, admission: Admission | undefined): Reply | Promise<Reply> {
    try {
      const out = this.dispatcher.dispatch(request, era, ctx, admission);
      return out instanceof Promise ? out.catch((err: unknown) => this.failure(request.id, ctx, err)) : out;
    } catch (err) {
      return this.failure(request.id, ctx, err);
    }
  }

  private failure(id: JsonRpcId, ctx: CallContext, err: unknown): Reply {
    if (err instanceof HideError) return this.refusal(id, ctx, err);
    this.log.error(`unexpected error (correlation ${ctx.correlationId}):`, err instanceof Error ? err.stack || String(err) : err);
    return { body: errorJson(id, RpcCode.internalError, `Internal error; correlation id ${ctx.correlationId}`), status: 500, correlationId: ctx.correlationId };
  }
}

/**
 * Turns a tool's progress reports into `notifications/progress` messages:
 * strictly increasing `progress` (a report that does not advance is dropped,
 * as the protocol requires), a capped message, and nothing after the reply.
 */
function progressReporter(token: string | number, notify: (json: string) => void) {
  let last = -Infinity;
  let open = true;
  const tokenJson = JSON.stringify(token);
  return {
    report(update: ProgressUpdate) {
      if (!open || !(update.progress > last)) return;
      last = update.progress;
      const params: Record<string, unknown> = { progress: update.progress };
      if (update.total !== undefined) params.total = update.total;
      if (update.message !== undefined) params.message = update.message.length > PROGRESS_MESSAGE_CHARS ? update.message.slice(-PROGRESS_MESSAGE_CHARS) : update.message;
      notify(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":${tokenJson},${JSON.stringify(params).slice(1)}}`);
    },
    close() {
      open = false;
    },
  };
}
