/**
 * What a tool is: a name and title, a description an agent can act on, valibot
 * schemas for its input and its result (both published as JSON Schema in
 * tools/list), MCP annotations, and a handler that returns one structured
 * object. Failures are results with `isError: true`, never protocol errors.
 */
import * as v from 'valibot';
import type { CallContext } from '../core/context.ts';
import { CORRELATION_ID_PATTERN, CORRELATION_ID_RULE } from '../core/correlation-id.ts';
import { editDistance } from '../util/edit-distance.ts';

/** MCP's behaviour hints; every tool states all four. */
export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

export interface ToolOutcome<TStructured = Record<string, unknown>> {
  /** The result object: becomes structuredContent and the JSON text content. */
  structured: TStructured;
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

/** A tool's result schema: an object, as MCP 2025-11-25 requires of `outputSchema`. */
export type ToolOutputSchema = v.GenericSchema<unknown, Record<string, unknown>>;

/**
 * A failed call that the tool could not shape itself — an internal error, or
 * arguments refused before the tool ran: at least a message in `error`.
 */
export const ToolFailureSchema = v.looseObject({
  error: v.pipe(v.string(), v.description('What went wrong.')),
});

/**
 * A tool's `outputSchema` from its result fields. The fields plus `error`
 * (null on success, the message on failure) are the tool's one result shape,
 * which its own failures keep too, with empty values; the alternative is
 * {@link ToolFailureSchema}. MCP requires structuredContent to conform to the
 * published schema on every result, failed ones included.
 *
 * @example toolOutput({ exists: v.boolean() })
 */
export function toolOutput<const TEntries extends v.ObjectEntries>(entries: TEntries) {
  return v.union([
    v.object({
      ...entries,
      error: v.pipe(v.nullable(v.string()), v.description('null on success, else what went wrong.')),
    }),
    ToolFailureSchema,
  ]);
}

export interface ToolDefinition<TInput extends v.GenericSchema = v.GenericSchema, TOutput extends ToolOutputSchema = ToolOutputSchema> {
  name: string;
  /** Human-readable name shown by clients (MCP `title`, also published as `annotations.title` for 2025-03-26 clients). */
  title: string;
  description: string;
  inputSchema: TInput;
  /** The shape of `structuredContent` on every result, published as `outputSchema` (see {@link toolOutput}). */
  outputSchema: TOutput;
  annotations: ToolAnnotations;
  /** Listed and callable in read-only mode and by read-only clients. */
  readOnly: boolean;
  /**
   * Argument names whose values never reach the audit log, even when the
   * call is refused as invalid (file contents): they are recorded as a size.
   */
  sensitiveArguments?: readonly string[];
  handler(call: ToolCall<v.InferOutput<TInput>>): Promise<ToolOutcome<v.InferOutput<TOutput>>>;
}

/**
 * A tool's arguments: an object of these names and no other. A name the tool does not know is refused, not
 * dropped: `"dryrun": true` for `dryRun` made a preview into a write, and a file's content under a wrong name
 * would reach the audit log of a call that did nothing.
 */
export function toolArguments<TEntries extends v.ObjectEntries>(entries: TEntries) {
  return strictNames(entries, 'Unknown argument', 'this tool takes');
}

/** An object inside a tool's arguments (an edit, a terminal size): its names and no other, as toolArguments. */
export function argumentObject<TEntries extends v.ObjectEntries>(entries: TEntries) {
  return strictNames(entries, 'Unknown name', 'this object takes');
}

function strictNames<TEntries extends v.ObjectEntries>(entries: TEntries, what: string, takes: string) {
  const names = Object.keys(entries);
  return v.strictObject(entries, (issue) => (issue.expected === 'never' ? unknownName(String(issue.input), names, what, takes) : `Invalid type: Expected ${issue.expected} but received ${issue.received}`));
}

function unknownName(name: string, names: readonly string[], what: string, takesWhat: string): string {
  const takes = names.length === 0 ? `${takesWhat} no arguments` : `${takesWhat} ${names.join(', ')}`;
  // Only names within two characters' length are compared: the distance costs the product of the lengths, and a
  // name of megabytes held the event loop for minutes.
  const near = names.find((n) => Math.abs(n.length - name.length) <= 2 && editDistance(n.toLowerCase(), name.toLowerCase()) <= 2);
  return `${what}${near === undefined ? '' : ` (did you mean ${near}?)`}: ${takes}`;
}

/** The argument names a tool takes (its schema's entries), or null for a schema that is not an object of names. */
export function argumentNames(def: Pick<ToolDefinition, 'inputSchema'>): ReadonlySet<string> | null {
  const entries = (def.inputSchema as { entries?: v.ObjectEntries }).entries;
  return entries === undefined ? null : new Set(Object.keys(entries));
}

/** Helper that keeps the handler's argument and result types tied to the schemas. */
export function defineTool<TInput extends v.GenericSchema, TOutput extends ToolOutputSchema>(def: ToolDefinition<TInput, TOutput>): ToolDefinition {
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

/** The `correlationId` argument of the tools that take one, advertising the rule the dispatcher applies before a call runs. */
export const CorrelationIdArgument = v.optional(
  v.pipe(v.string(), v.maxLength(128), v.regex(CORRELATION_ID_PATTERN), v.description(`Id to tie related calls together in the audit log: ${CORRELATION_ID_RULE}.`)),
);
