/**
 * Answers one JSON-RPC request in the era it speaks (era.ts). It handles the
 * methods a tools-only server needs directly, so no per-request server or
 * transport object is built: server/discover in both eras; initialize and
 * ping in the handshake era only; tools/list and tools/call in both, shaped
 * for the era (2026-07-28 adds `resultType`, caching hints and the server's
 * identity in `_meta`). Every message it builds from input is bounded
 * (bounded-validation.ts), a tool call's correlationId is checked before
 * anything runs (it ends up in a response header), and every call it takes
 * is timed.
 */
import * as v from 'valibot';
import type { CallContext } from '../core/context.ts';
import { HideError, MethodNotFoundError, RpcCode, ToolLimitError, UnavailableError } from '../core/errors.ts';
import { logger } from '../core/log.ts';
import type { ToolRegistry } from '../tools/registry.ts';
import { argumentNames, type ToolDefinition, type ToolOutcome } from '../tools/types.ts';
import { ILL_FORMED_TEXT } from '../tools/files/common.ts';
import { CachedAnswers, CachedJson } from '../util/cached-json.ts';
import { noteTransientBytes } from '../util/gc-pressure.ts';
import { InflightMap } from '../util/inflight-map.ts';
import { jsonLength } from '../util/json-measure.ts';
import { VERSION } from '../core/version.ts';
import { type Checked, checkBounded, illFormedAt, shownPath } from './bounded-validation.ts';
import { correlationIdProblem } from './correlation.ts';
import type { Era } from './era.ts';
import { type Admission, callLabels, openGate, type ToolCallGate, type ToolCallRecord } from './gate.ts';
import {
  ALL_PROTOCOL_VERSIONS,
  errorJson,
  type JsonRpcId,
  LATEST_PROTOCOL_VERSION,
  PlainObject,
  resultJson,
  SUPPORTED_PROTOCOL_VERSIONS,
} from './protocol.ts';

/** One answer: the serialised JSON-RPC response (null for a notification) and the HTTP status it goes with. */
export interface Reply {
  body: string | null;
  /** HTTP status; stdio ignores it. */
  status: number;
  /** Extra HTTP headers (Retry-After, WWW-Authenticate). */
  headers?: Record<string, string>;
  /** The correlation id in force for this message (a tool's argument wins). */
  correlationId: string;
  /** The same body as a Blob kept for its id, when it is a cached result's: HTTP sends it and never encodes the long string. */
  blob?: () => Blob;
}

export interface DispatcherOptions {
  /**
   * `cacheScope` of tools/list under 2026-07-28: "private" when callers can
   * see different lists (authentication on), so shared caches keep them apart.
   */
  listCacheScope: 'public' | 'private';
}

/** How long a client may cache tools/list and server/discover (2026-07-28 `ttlMs`): the list only changes with a keys file's reload. */
const LIST_TTL_MS = 60_000;

const CallParams = v.object({
  name: v.pipe(v.string(), v.maxLength(256)),
  arguments: v.optional(PlainObject),
  _meta: v.optional(v.unknown()),
});

const INSTRUCTIONS =
  'Headless IDE tools for one workspace. Use shell_get_available_tools to see which CLIs exist, shell_execute to run ' +
  'them (argv, no shell), and the file tools to read, search and edit files. Paths are relative to the workspace.';


/** The arguments as the audit log may keep them: sensitive values become their size (measured without recursion: any depth). */
function auditable(tool: ToolDefinition, args: Record<string, unknown>): Record<string, unknown> {
  const known = argumentNames(tool);
  const quiet = tool.sensitiveArguments ?? [];
  let copy: Record<string, unknown> | null = null;
  for (const key of Object.keys(args)) {
    // A name the tool does not take is kept as a size too: the call is refused, and a file's content sent as
    // `Content` or a password typed to a process as `data` would otherwise reach the log of a call that did nothing.
    if (quiet.includes(key) || (known !== null && !known.has(key))) {
      copy ??= { ...args };
      copy[key] = { omitted: true, jsonBytes: jsonLength(args[key]) };
    }
  }
  return copy ?? args;
}

/** The arguments as the tool takes them, or why not (what the audit log never keeps is never quoted). */
function takenArguments(tool: ToolDefinition, raw: Record<string, unknown>): Checked<Record<string, unknown>> {
  // The arguments as sent, names too, before the schema: an issue's path would quote a name that is not text.
  const at = illFormedAt(raw);
  if (at !== null) return { success: false, message: `× ${ILL_FORMED_TEXT} → at ${shownPath(at)}` };
  return checkBounded(tool.inputSchema, raw, tool.sensitiveArguments ?? []) as Checked<Record<string, unknown>>;
}

/** Labels of a call, not what it does: the line shows them, and one action sent under many labels is one digest. */
const LABELS = ['correlationId', 'user'];

/**
 * What the audit line's keyed digest covers: the arguments the tool took,
 * less the labels and those it never audits.
 */
function digestable(tool: ToolDefinition, taken: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...taken };
  for (const key of [...LABELS, ...(tool.sensitiveArguments ?? [])]) delete copy[key];
  return copy;
}

/** Answers above this size count towards the collector nudge (util/gc-pressure.ts). */
const LARGE_ANSWER_CHARS = 1024 * 1024;

/** Methods 2026-07-28 removed: named as such in the 404, so a confused client learns why. */
const REMOVED_IN_MODERN = new Set(['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);

const SERVER_INFO = { name: 'hide', title: 'Headless IDE MCP', version: VERSION };
const CAPABILITIES = { tools: { listChanged: false } };

/** A request as the dispatcher takes it: already classified and its era decided. */
export interface Request {
  id: JsonRpcId;
  method: string;
  params: Record<string, unknown>;
}

function toolResultJson(outcome: ToolOutcome): string {
  const text = JSON.stringify(outcome.structured);
  return `{"content":[{"type":"text","text":${JSON.stringify(text)}}],"structuredContent":${text},"isError":${outcome.isError}}`;
}

export class McpDispatcher {
  /** `"resultType":"complete","_meta":{serverInfo}` — the fields every 2026-07-28 result starts with. */
  private readonly modernPrefix = `"resultType":"complete","_meta":${JSON.stringify({ 'io.modelcontextprotocol/serverInfo': SERVER_INFO })}`;
  private readonly cacheHints: string;
  private readonly discoverJson: string;
  private readonly initializeResults = new Map<string, string>();
  /** tools/list results shaped for 2026-07-28, per listing text (the registry keeps one text per view). */
  private readonly modernLists = new Map<CachedJson, CachedJson>();
  private readonly answers = new CachedAnswers();
  /** Tool calls running now, each as the way to record it interrupted (a flat list: a Set every call passes through held native memory). */
  private readonly unfinished = new InflightMap<() => void, true>();
  /** Set once the server is exiting (recordUnfinished): a call admitted after that does not run. */
  private exiting = false;

  constructor(
    private readonly registry: ToolRegistry,
    private readonly gate: ToolCallGate = openGate,
    opts: DispatcherOptions = { listCacheScope: 'public' },
  ) {
    this.cacheHints = `"ttlMs":${LIST_TTL_MS},"cacheScope":"${opts.listCacheScope}"`;
    this.discoverJson = this.modern(
      JSON.stringify({ supportedVersions: ALL_PROTOCOL_VERSIONS, capabilities: CAPABILITIES, instructions: INSTRUCTIONS }),
      `"ttlMs":${LIST_TTL_MS},"cacheScope":"public"`,
    );
  }

  /** A serialised result object with the 2026-07-28 fields added in front. */
  private modern(resultJsonText: string, extra?: string): string {
    const fields = extra === undefined ? this.modernPrefix : `${this.modernPrefix},${extra}`;
    return resultJsonText === '{}' ? `{${fields}}` : `{${fields},${resultJsonText.slice(1)}`;
  }

  private ok(id: JsonRpcId, resultJsonText: string, ctx: CallContext): Reply {
    return { body: resultJson(id, resultJsonText), status: 200, correlationId: ctx.correlationId };
  }

  /** A cached result: the string (concatenated, flattened only if a transport writes it) and, for HTTP, the whole answer kept as a Blob for its id. */
  private cached(id: JsonRpcId, result: CachedJson, ctx: CallContext): Reply {
    const idJson = JSON.stringify(id);
    return { body: `{"jsonrpc":"2.0","id":${idJson},"result":${result.text}}`, blob: () => this.answers.get(idJson, result), status: 200, correlationId: ctx.correlationId };
  }

  /**
   * Answers one request. Refusals that belong to the transport (403, 429,
   * 404 under 2026-07-28) are thrown as HideError; everything else is a
   * JSON-RPC response.
   */
  dispatch(req: Request, era: Era, ctx: CallContext, admission?: Admission): Reply | Promise<Reply> {
    // Only tools/call is asynchronous; everything else answers synchronously
    // so the hot listing path never waits on a promise.
    const { id, method, params } = req;
    switch (method) {
      case 'tools/list': {
        const list = this.registry.listJson(ctx);
        return this.cached(id, era.modern ? this.modernList(list) : list, ctx);
      }
      case 'tools/call':
        return this.callTool(id, params, era, ctx, admission);
      case 'server/discover':
        return this.ok(id, this.discoverJson, ctx);
    }
    admission?.release();
    if (era.modern) {
      const why = REMOVED_IN_MODERN.has(method)
        ? `${method} does not exist in MCP ${era.version}: send the protocol version in each request's _meta; server/discover lists what this server speaks`
        : `Method not found: ${method}`;
      throw new MethodNotFoundError(why, 404);
    }
    if (method === 'initialize') return this.ok(id, this.initializeResult(params.protocolVersion), ctx);
    if (method === 'ping') return this.ok(id, '{}', ctx);
    return { body: errorJson(id, RpcCode.methodNotFound, `Method not found: ${method}`), status: 200, correlationId: ctx.correlationId };
  }

  /** The 2026-07-28 form of a listing, built once per listing rather than on every request. */
  private modernList(list: CachedJson): CachedJson {
    let json = this.modernLists.get(list);
    if (json === undefined) {
      json = new CachedJson(this.modern(list.text, this.cacheHints));
      if (this.modernLists.size < 1000) this.modernLists.set(list, json);
    }
    return json;
  }

  private initializeResult(requested: unknown): string {
    const protocolVersion = typeof requested === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
    let json = this.initializeResults.get(protocolVersion);
    if (json === undefined) {
      json = JSON.stringify({ protocolVersion, capabilities: CAPABILITIES, serverInfo: SERVER_INFO, instructions: INSTRUCTIONS });
      this.initializeResults.set(protocolVersion, json);
    }
    return json;
  }

  /**
   * Finds the tool a tools/call names, or null (unknown tool, malformed
   * params). Null exactly when callTool refuses the params before admission
   * (-32602): HTTP admits through this before the dispatcher runs, and such a
   * call must not take an RPM count or a slot there when it takes none on stdio.
   */
  toolFor(params: Record<string, unknown>): ToolDefinition | null {
    return v.is(CallParams, params) ? (this.registry.get(params.name) ?? null) : null;
  }

  /**
   * Records a tools/call refused before admission (RefusedCall), with the name
   * its params gave and the JSON-RPC code: a refusal of its own, or the
   * answer to `params` that the transport could not take.
   */
  refusedCall(ctx: CallContext, params: unknown, error: string, code: number = RpcCode.invalidParams, status = 200): void {
    const name = params !== null && typeof params === 'object' ? (params as Record<string, unknown>).name : undefined;
    const labels = params !== null && typeof params === 'object' && !Array.isArray(params) ? callLabels(params as Record<string, unknown>, ctx.correlationId) : null;
    this.gate.refused(ctx, { toolName: typeof name === 'string' ? name : null, correlationId: labels?.correlationId ?? ctx.correlationId, error, code, status });
  }

  private async callTool(
    id: JsonRpcId,
    params: Record<string, unknown>,
    era: Era,
    ctx: CallContext,
    admission: Admission | undefined,
  ): Promise<Reply> {
    const p = checkBounded(CallParams, params);
    if (!p.success) {
      admission?.release();
      const message = `Invalid params: ${p.message}`;
      this.refusedCall(ctx, params, message);
      return { body: errorJson(id, RpcCode.invalidParams, message), status: 200, correlationId: ctx.correlationId };
    }
    const { name, arguments: rawArgs } = p.output;
    const { correlationId, user } = callLabels(params, ctx.correlationId);
    const tool = this.registry.get(name);
    if (!tool) {
      admission?.release();
      this.refusedCall(ctx, params, `Unknown tool: ${name}`);
      return { body: errorJson(id, RpcCode.invalidParams, `Unknown tool: ${name}`), status: 200, correlationId };
    }
    // Admission may throw (403 / 429): nothing to release then.
    const ticket = admission ?? (await this.gate.admit(ctx, tool, correlationId, user));
    try {
      this.gate.stillGranted?.(ctx, tool, correlationId, user);
      // Admitted after the server began to exit (a limit store slow to answer, past the drain): its line could no
      // longer be written, so it does not run.
      if (this.exiting) throw new UnavailableError('Service unavailable: the server is shutting down; retry on another instance', 1);
    } catch (err) {
      ticket.release();
      throw err;
    }
    const started = performance.now();
    let recorded = false;
    const record = (r: Omit<ToolCallRecord, 'toolName' | 'user' | 'correlationId' | 'durationMs'>) => {
      if (recorded) return;
      recorded = true;
      this.gate.record(ctx, { ...r, toolName: name, user, correlationId, durationMs: performance.now() - started });
    };
    let argumentsTaken: Record<string, unknown> | undefined;
    const interrupted = () => record({ arguments: auditable(tool, rawArgs ?? {}), argumentsTaken, result: { interrupted: true }, error: 'the server exited before the call ended' });
    this.unfinished.set(interrupted, true);
    try {
      // The correlation id ends up in a response header: refuse a bad one before anything runs.
      const problem = correlationIdProblem(rawArgs?.correlationId);
      const args = problem === null ? takenArguments(tool, rawArgs ?? {}) : { success: false as const, message: problem };
      let outcome: ToolOutcome;
      if (!args.success) {
        // A tool result, not a protocol error: the model reads it and can fix its call.
        outcome = { structured: { error: `Invalid arguments for tool ${name}: ${args.message}` }, isError: true, auditArguments: auditable(tool, rawArgs ?? {}) };
      } else {
        argumentsTaken = digestable(tool, args.output as Record<string, unknown>);
        try {
          outcome = await tool.handler({ args: args.output, ctx, correlationId });
        } catch (err) {
          if (err instanceof ToolLimitError) this.gate.limited(ctx, { toolName: name, user, correlationId, result: { ...err.data }, error: err.message });
          if (err instanceof HideError) throw err;
          logger.withTag('mcp').error(`tool ${name} failed unexpectedly (correlation ${correlationId}):`, err);
          outcome = { structured: { error: `internal error while running ${name}; see server log, correlation id ${correlationId}` }, isError: true };
        }
      }
      const error = outcome.isError ? String((outcome.structured as { error?: unknown }).error ?? 'tool reported an error') : null;
      record({ arguments: outcome.auditArguments ?? auditable(tool, rawArgs ?? {}), argumentsTaken, result: outcome.auditResult ?? {}, error });
      const result = toolResultJson(outcome);
      const body = resultJson(id, era.modern ? this.modern(result) : result);
      // A large answer and its intermediate strings are garbage once sent.
      if (body.length > LARGE_ANSWER_CHARS) noteTransientBytes(body.length * 2);
      return { body, status: 200, correlationId };
    } finally {
      this.unfinished.delete(interrupted);
      ticket.release();
    }
  }

  /**
   * Records every tool call still running as interrupted, once: the server is
   * exiting and they will never reach their own line. Every admitted call
   * leaves a line, even when a second signal skips the drain.
   */
  recordUnfinished(): number {
    this.exiting = true;
    const pending = this.unfinished.keys();
    this.unfinished.clear();
    for (const r of pending) r();
    return pending.length;
  }
}
