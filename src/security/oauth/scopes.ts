/**
 * OAuth scopes as tool permissions: each scope grants a set of tools, named
 * in the scope map by name, `prefix_*`, `@read` (every tool marked read-only)
 * or `*`. A token may call the union of its scopes' tools — the same
 * `allowedTools` a keys-file client's `tools` gives, so tools/list and the
 * permission check treat both alike. Resolved once against the tools the
 * server offers; no HTTP in here.
 */
import type { ToolDefinition } from '../../tools/types.ts';

type Tool = Pick<ToolDefinition, 'name' | 'readOnly'>;

/** Cached unions kept per distinct scope set; past this many, unions are computed per call. */
const MEMO_LIMIT = 1000;

function matches(pattern: string, tool: Tool): boolean {
  if (pattern === '*') return true;
  if (pattern === '@read') return tool.readOnly;
  if (pattern.endsWith('*')) return tool.name.startsWith(pattern.slice(0, -1));
  return tool.name === pattern;
}

export class ScopePolicy {
  private readonly grants = new Map<string, ReadonlySet<string>>();
  private readonly memo = new Map<string, ReadonlySet<string>>();

  constructor(map: Readonly<Record<string, readonly string[]>>, tools: readonly Tool[]) {
    for (const [scope, patterns] of Object.entries(map)) {
      this.grants.set(scope, new Set(tools.filter((t) => patterns.some((p) => matches(p, t))).map((t) => t.name)));
    }
  }

  /** Every scope this server knows, in the map's order (RFC 9728 `scopes_supported`). */
  get supported(): string[] {
    return [...this.grants.keys()];
  }

  /** The tools a token with these scopes may call; scopes this server does not know grant nothing. */
  allowedTools(scopes: readonly string[]): ReadonlySet<string> {
    // JSON, not a space join: a list element may itself hold a space (`scp: ["a b"]`), and must not share a key with ["a", "b"].
    const key = JSON.stringify([...scopes].sort());
    const hit = this.memo.get(key);
    if (hit) return hit;
    const tools = new Set<string>();
    for (const s of scopes) for (const name of this.grants.get(s) ?? []) tools.add(name);
    if (this.memo.size < MEMO_LIMIT) this.memo.set(key, tools);
    return tools;
  }

  /** The first scope (in the map's order) that grants this tool: what an `insufficient_scope` answer asks for. */
  scopeFor(toolName: string): string | null {
    for (const [scope, tools] of this.grants) if (tools.has(toolName)) return scope;
    return null;
  }
}

/** The scopes a token carries: RFC 9068 `scope` (space-separated), or `scp` (a list or a string, as Entra ID and Okta issue). */
export function scopesOf(claims: Record<string, unknown>): string[] {
  const raw = claims.scope ?? claims.scp;
  if (typeof raw === 'string') return raw.split(' ').filter((s) => s !== '');
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string' && s !== '');
  return [];
}
