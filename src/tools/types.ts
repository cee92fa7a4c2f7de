/**
 * What a tool is: a name, a description an agent can act on, a valibot input
 * schema (published as JSON Schema in tools/list), MCP annotations, and a
 * handler that returns one structured object. Failures are results with
 * `isError: true`, never protocol errors.
 */
import type * as v from 'valibot';
import type { CallContext } from '../core/context.ts';

export interface ToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

export interface ToolOutcome {
  /** The result object: becomes structuredContent and the JSON text content. */
  structured: Record<string, unknown>;
  isError: boolean;
  /** What the audit line records as `result` (no full output). */
  auditResult?: Record<string, unknown>;
  /** What the audit line records as `arguments`, when the raw ones must not be kept (file contents). */
  auditArguments?: Record<string, unknown>;
}

export interface ToolCall<TArgs> {
  args: TArgs;
  ctx: CallContext;
  /** The effective correlation id (argument, else header, else generated). */
  correlationId: string;
}

export interface ToolDefinition<TSchema extends v.GenericSchema = v.GenericSchema> {
  name: string;
  /** Human-readable name shown by clients (MCP `title`). */
  title?: string;
  description: string;
  inputSchema: TSchema;
  /** The shape of `structuredContent` on success, published as `outputSchema`. */
  outputSchema?: v.GenericSchema;
  annotations: ToolAnnotations;
  /** Listed and callable in read-only mode and by read-only clients. */
  readOnly: boolean;
  /**
   * Argument names whose values never reach the audit log, even when the
   * call is refused as invalid (file contents): they are recorded as a size.
   */
  sensitiveArguments?: readonly string[];
  handler(call: ToolCall<v.InferOutput<TSchema>>): Promise<ToolOutcome>;
}

/** Helper that keeps the handler's argument type tied to the schema. */
export function defineTool<TSchema extends v.GenericSchema>(def: ToolDefinition<TSchema>): ToolDefinition {
  return def as unknown as ToolDefinition;
}

/**
 * Whether a caller may call a tool: one rule for what tools/list shows and
 * what the security pipeline admits.
 */
export function toolPermitted(def: Pick<ToolDefinition, 'name' | 'readOnly'>, ctx: Pick<CallContext, 'allowedTools' | 'readOnly'>): boolean {
  if (ctx.readOnly && !def.readOnly) return false;
  return ctx.allowedTools === null || ctx.allowedTools.has(def.name) || ctx.allowedTools.has('*');
}
