/**
 * The long-lived MCP core: answers one JSON-RPC message for a caller. Both
 * transports (HTTP and stdio) feed it parsed messages; it never sees a socket.
 * It handles the methods a tools-only server needs directly, so no per-request
 * server or transport object is built. Every message it builds from input is
 * bounded (bounded-validation.ts), a tool call's correlationId is checked
 * before anything runs (it ends up in a response header), and every call it
 * takes is timed.
 */
import * as v from 'valibot';
import type { CallContext } from '../core/context.ts';
import { HideError, RpcCode } from '../core/errors.ts';
import { logger } from '../core/log.ts';
import type { ToolRegistry } from '../tools/registry.ts';
import type { ToolDefinition, ToolOutcome } from '../tools/types.ts';
import { noteTransientBytes } from '../util/gc-pressure.ts';
import { VERSION } from '../core/version.ts';
import { checkBounded } from './bounded-validation.ts';
import { correlationIdProblem, isCorrelationId } from './correlation.ts';
import {
  errorJson,
  type JsonRpcId,
  type JsonRpcMessage,
  LATEST_PROTOCOL_VERSION,
  PlainObject,
  resultJson,
  SUPPORTED_PROTOCOL_VERSIONS,
} from './protocol.ts';

/** What the audit log records of a finished tool call. */
export interface ToolCallRecord {
  toolName: string;
  arguments: unknown;
  user: string | null;
  correlationId: string;
  /**
   * The dispatcher always passes an object, even for a refused or erroring
   * call: the gate adds the call's duration to it, and /metrics reads every
   * tool's duration from there.
   */
  result: Record<string, unknown> | null;
  error: string | null;
  /** Measured by the dispatcher for every call it takes (after admission), up to its answer. */
  durationMs: number;
}

/** A permission to run one tool call; release exactly once when it ends. */
export interface Admission {
  release(): void;
}

/**
 * Admission and record-keeping around each tools/call: permissions, limits,
 * audit. The security pipeline implements it; `openGate` admits everything.
 */
export interface ToolCallGate {
  /** Throws a HideError (403, 429, 503) to refuse. */
  admit(ctx: CallContext, tool: ToolDefinition, correlationId: string, user: string | null): Promise<Admission> | Admission;
  record(ctx: CallContext, record: ToolCallRecord): void;
}

export const openGate: ToolCallGate = {
  admit: () => ({ release() {} }),
  record() {},
};

export interface DispatchOutput {
  /** Serialised JSON-RPC response, or null for notifications and responses. */
  body: string | null;
  /** The correlation id in force for this message (a tool's argument wins). */
  correlationId: string;
}

const CallParams = v.object({
  name: v.pipe(v.string(), v.maxLength(256)),
  arguments: v.optional(PlainObject),
  _meta: v.optional(v.unknown()),
});

const INSTRUCTIONS =
  'Headless IDE tools for one workspace. Use shell_get_available_tools to see which CLIs exist, shell_execute to run ' +
  'them (argv, no shell), and the file tools to read, search and edit files. Paths are relative to the workspace.';

function stringArg(args: Record<string, unknown> | undefined, key: string): string | null {
  const value = args?.[key];
  return typeof value === 'string' && value.length > 0 && value.length <= 200 ? value : null;
}

function argumentsOf(params: Record<string, unknown>): Record<string, unknown> | undefined {
  const args = params.arguments;
  return args !== null && typeof args === 'object' && !Array.isArray(args) ? (args as Record<string, unknown>) : undefined;
}

/**
 * The correlation id and asserted user a tools/call carries in its arguments
 * (the HTTP limits hook reads them before dispatch, for its audit lines). A
 * correlationId that breaks the rule is not used (the call is refused later).
 */
export function callLabels(params: Record<string, unknown>, fallbackCorrelationId: string): { correlationId: string; user: string | null } {
  const args = argumentsOf(params);
  const asked = args?.correlationId;
  return { correlationId: isCorrelationId(asked) ? asked : fallbackCorrelationId, user: stringArg(args, 'user') };
}

/** The arguments as the audit log may keep them: sensitive values become their size. */
function auditable(tool: ToolDefinition, args: Record<string, unknown>): Record<string, unknown> {
  if (!tool.sensitiveArguments?.length) return args;
  const copy = { ...args };
  for (const key of tool.sensitiveArguments) {
    if (key in copy) copy[key] = { omitted: true, jsonBytes: JSON.stringify(copy[key] ?? null).length };
  }
  return copy;
}

/** Answers above this size count towards the collector nudge (util/gc-pressure.ts). */
const LARGE_ANSWER_CHARS = 1024 * 1024;

function toolResultJson(outcome: ToolOutcome): string {
  const text = JSON.stringify(outcome.structured);
  return `{"content":[{"type":"text","text":${JSON.stringify(text)}}],"structuredContent":${text},"isError":${outcome.isError}}`;
}

export class McpDispatcher {
  constructor(
    private readonly registry: ToolRegistry,
    private readonly gate: ToolCallGate = openGate,
  ) {}

  /**
   * Answers one message. Refusals that belong to the transport (403, 429) are
   * thrown as HideError so HTTP can set its status; everything else is a
   * JSON-RPC response.
   */
  dispatch(msg: JsonRpcMessage, ctx: CallContext, admission?: Admission): DispatchOutput | Promise<DispatchOutput> {
    // Only tools/call is asynchronous; everything else answers synchronously
    // so the hot listing path never waits on a promise.
    if (msg.kind !== 'request') return { body: null, correlationId: ctx.correlationId };
    const { id, method, params } = msg;
    switch (method) {
      case 'initialize': {
        const requested = params.protocolVersion;
        const protocolVersion =
          typeof requested === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
        const result = {
          protocolVersion,
          capabilities: { tools: { listChanged: false } },
          serverInfo: { name: 'hide', title: 'Headless IDE MCP', version: VERSION },
          instructions: INSTRUCTIONS,
        };
        return { body: resultJson(id, JSON.stringify(result)), correlationId: ctx.correlationId };
      }
      case 'ping':
        return { body: resultJson(id, '{}'), correlationId: ctx.correlationId };
      case 'tools/list':
        return { body: resultJson(id, this.registry.listJson(ctx)), correlationId: ctx.correlationId };
      case 'tools/call':
        return this.callTool(id, params, ctx, admission);
      default:
        admission?.release();
        return {
          body: errorJson(id, RpcCode.methodNotFound, `Method not found: ${method}`),
          correlationId: ctx.correlationId,
        };
    }
  }

  /** Finds the tool a tools/call names, or null (unknown tool, malformed params). */
  toolFor(params: Record<string, unknown>): ToolDefinition | null {
    return typeof params.name === 'string' ? (this.registry.get(params.name) ?? null) : null;
  }

  private async callTool(
    id: JsonRpcId,
    params: Record<string, unknown>,
    ctx: CallContext,
    admission: Admission | undefined,
  ): Promise<DispatchOutput> {
    const p = checkBounded(CallParams, params);
    if (!p.success) {
      admission?.release();
      return { body: errorJson(id, RpcCode.invalidParams, `Invalid params: ${p.message}`), correlationId: ctx.correlationId };
    }
    const { name, arguments: rawArgs } = p.output;
    const { correlationId, user } = callLabels(params, ctx.correlationId);
    const tool = this.registry.get(name);
    if (!tool) {
      admission?.release();
      return { body: errorJson(id, RpcCode.invalidParams, `Unknown tool: ${name}`), correlationId };
    }
    // Admission may throw (403 / 429): nothing to release then.
    const ticket = admission ?? (await this.gate.admit(ctx, tool, correlationId, user));
    const started = performance.now();
    try {
      // The correlation id ends up in a response header: refuse a bad one before anything runs.
      const problem = correlationIdProblem(rawArgs?.correlationId);
      const args = problem === null ? checkBounded(tool.inputSchema, rawArgs ?? {}) : { success: false as const, message: problem };
      if (!args.success) {
        const message = `Invalid arguments for tool ${name}: ${args.message}`;
        this.gate.record(ctx, {
          toolName: name,
          arguments: auditable(tool, rawArgs ?? {}),
          user,
          correlationId,
          result: {},
          error: message,
          durationMs: performance.now() - started,
        });
        return { body: errorJson(id, RpcCode.invalidParams, message), correlationId };
      }
      let outcome: ToolOutcome;
      try {
        outcome = await tool.handler({ args: args.output, ctx, correlationId });
      } catch (err) {
        if (err instanceof HideError) throw err;
        logger.withTag('mcp').error(`tool ${name} failed unexpectedly (correlation ${correlationId}):`, err);
        outcome = { structured: { error: `internal error while running ${name}; see server log, correlation id ${correlationId}` }, isError: true };
      }
      const error = outcome.isError ? String((outcome.structured as { error?: unknown }).error ?? 'tool reported an error') : null;
      this.gate.record(ctx, {
        toolName: name,
        arguments: outcome.auditArguments ?? auditable(tool, rawArgs ?? {}),
        user,
        correlationId,
        result: outcome.auditResult ?? {},
        error,
        durationMs: performance.now() - started,
      });
      const body = resultJson(id, toolResultJson(outcome));
      // A large answer and its intermediate strings are garbage once sent.
      if (body.length > LARGE_ANSWER_CHARS) noteTransientBytes(body.length * 2);
      return { body, correlationId };
    } finally {
      ticket.release();
    }
  }
}
