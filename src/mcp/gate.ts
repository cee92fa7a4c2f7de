/**
 * Admission and record-keeping around each tools/call, as the MCP core sees
 * them: the security pipeline implements the gate (permissions, limits,
 * audit); `openGate` admits everything. On HTTP the limits hook admits a call
 * before the core runs it and hands the admission over; on stdio the core asks
 * the gate itself.
 */
import type { CallContext } from '../core/context.ts';
import type { ToolDefinition } from '../tools/types.ts';
import { isCorrelationId } from './correlation.ts';

/** What the audit log records of a finished tool call. */
export interface ToolCallRecord {
  toolName: string;
  arguments: unknown;
  /**
   * The arguments as the tool's schema took them (names it does not know
   * dropped), less the labels (correlationId, user) and those it never
   * audits; absent when the schema refused them and nothing ran. What the
   * audit line's keyed digest covers.
   */
  argumentsTaken?: Record<string, unknown>;
  user: string | null;
  correlationId: string;
  /**
   * Always an object, even for a refused or erroring call: the gate adds the
   * call's duration to it, and /metrics reads every tool's duration from there.
   */
  result: Record<string, unknown> | null;
  error: string | null;
  /** Measured for every call taken (after admission), up to its answer. */
  durationMs: number;
}

/** What the audit log records of a tools/call refused at the protocol layer, before admission. */
export interface RefusedCall {
  /** The name the message gave, when a string; null otherwise. */
  toolName: string | null;
  correlationId: string;
  error: string;
  /** The JSON-RPC code and HTTP status it was answered with. */
  code: number;
  status: number;
}

/** A permission to run one tool call; release exactly once when it ends. */
export interface Admission {
  release(): void;
}

export interface ToolCallGate {
  /** Throws a HideError (403, 429, 503) to refuse. */
  admit(ctx: CallContext, tool: ToolDefinition, correlationId: string, user: string | null): Promise<Admission> | Admission;
  record(ctx: CallContext, record: ToolCallRecord): void;
  /** Records a call refused by a limit it met while running (a ToolLimitError), as admission records its own refusals. */
  limited(ctx: CallContext, refusal: LimitedCall): void;
  /** Records a tools/call refused before admission, once its message was read. */
  refused(ctx: CallContext, refusal: RefusedCall): void;
  /**
   * Throws a HideError (401, 403) when the key the call was signed in with no
   * longer allows it, right before it runs: a reload may have come between
   * sign-in (on the headers) and now (the body read, admission).
   */
  stillGranted?(ctx: CallContext, tool: ToolDefinition, correlationId: string, user: string | null): void;
}

/** What the audit log records of a call a ToolLimitError refused; it leaves no tool_call line. */
export interface LimitedCall {
  toolName: string;
  user: string | null;
  correlationId: string;
  /** The refusal's `error.data`: its `reason` labels it in /metrics. */
  result: Record<string, unknown>;
  error: string;
}

export const openGate: ToolCallGate = {
  admit: () => ({ release() {} }),
  record() {},
  limited() {},
  refused() {},
};

function stringArg(args: Record<string, unknown> | undefined, key: string): string | null {
  const value = args?.[key];
  return typeof value === 'string' && value.length > 0 && value.length <= 200 ? value : null;
}

export function argumentsOf(params: Record<string, unknown>): Record<string, unknown> | undefined {
  const args = params.arguments;
  return args !== null && typeof args === 'object' && !Array.isArray(args) ? (args as Record<string, unknown>) : undefined;
}

/**
 * The correlation id and asserted user a tools/call carries in its arguments
 * (admission reads them before the call runs, for its audit lines). A
 * correlationId that breaks the rule is not used (the call is refused later).
 */
export function callLabels(params: Record<string, unknown>, fallbackCorrelationId: string): { correlationId: string; user: string | null } {
  const args = argumentsOf(params);
  const asked = args?.correlationId;
  return { correlationId: isCorrelationId(asked) ? asked : fallbackCorrelationId, user: stringArg(args, 'user') };
}
