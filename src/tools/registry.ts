/**
 * The set of tools a server offers, their published JSON Schemas, and the
 * per-client view of it. tools/list answers are serialised once per distinct
 * view and reused: listing is the hottest path and never changes at runtime.
 */
import { CachedJson } from '../util/cached-json.ts';
import { toJsonSchema } from '@valibot/to-json-schema';
import type * as v from 'valibot';
import type { CallContext } from '../core/context.ts';
import { type ToolDefinition, toolPermitted } from './types.ts';

interface ListedTool {
  name: string;
  title: string;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown>;
  annotations: Record<string, unknown>;
}

/**
 * A valibot schema as published JSON Schema: no `$schema` (the converter
 * writes draft-07, MCP reads a schema without one as 2020-12, and the
 * keywords we use mean the same in both), and `type: "object"` at the root,
 * which MCP 2025-11-25 requires of both schemas (an output union is published
 * as an object whose `anyOf` lists the alternatives).
 */
export function publishedSchema(schema: v.GenericSchema): Record<string, unknown> {
  const { $schema: _drop, ...json } = toJsonSchema(schema, { errorMode: 'ignore' }) as Record<string, unknown>;
  return json.type === 'object' ? json : { type: 'object', ...json };
}

export class ToolRegistry {
  private readonly tools = new Map<string, ToolDefinition>();
  private readonly listed = new Map<string, ListedTool>();
  private readonly listCache = new Map<string, CachedJson>();

  constructor(
    defs: readonly ToolDefinition[],
    /** Server-wide read-only mode: only read-only tools exist. */
    serverReadOnly = false,
  ) {
    for (const def of defs) {
      if (serverReadOnly && !def.readOnly) continue;
      this.tools.set(def.name, def);
    }
  }

  /** The published form of a tool; its JSON Schemas are converted on first use, not at start-up. */
  private listedTool(def: ToolDefinition): ListedTool {
    let listed = this.listed.get(def.name);
    if (!listed) {
      listed = {
        name: def.name,
        title: def.title,
        description: def.description,
        inputSchema: publishedSchema(def.inputSchema),
        outputSchema: publishedSchema(def.outputSchema),
        // annotations.title is where 2025-03-26 clients look for it.
        annotations: { title: def.title, ...def.annotations },
      };
      this.listed.set(def.name, listed);
    }
    return listed;
  }

  get(name: string): ToolDefinition | undefined {
    return this.tools.get(name);
  }

  /** Every tool this server offers. */
  definitions(): ToolDefinition[] {
    return [...this.tools.values()];
  }


  /** The serialised `result` of tools/list for this caller, cached per view. */
  listJson(ctx: Pick<CallContext, 'allowedTools' | 'readOnly'>): CachedJson {
    // Most callers may see every tool: their keys are constants, not strings built per request.
    const key = ctx.allowedTools === null ? (ctx.readOnly ? 'ro|*' : 'rw|*') : `${ctx.readOnly ? 'ro' : 'rw'}|${JSON.stringify([...ctx.allowedTools].sort())}`;
    let json = this.listCache.get(key);
    if (json === undefined) {
      const tools = [...this.tools.values()].filter((d) => toolPermitted(d, ctx)).map((d) => this.listedTool(d));
      json = new CachedJson(JSON.stringify({ tools }));
      if (this.listCache.size < 1000) this.listCache.set(key, json);
    }
    return json;
  }
}
