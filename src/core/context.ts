/**
 * Who is calling and how: built by the HTTP pipeline (from the request) or the
 * stdio loop (fixed "stdio" identity) and handed to the MCP core and tools.
 */
export interface CallContext {
  /** Authenticated client id; the client IP when auth is off; "stdio" on stdio. */
  clientId: string;
  clientIp: string;
  /** Hex SHA-256 of the presented key, or null when unauthenticated. */
  apiKeyHash: string | null;
  /** From X-Correlation-ID when it follows the rule (mcp/correlation.ts), else generated; a tool's valid correlationId argument wins. */
  correlationId: string;
  transport: 'http' | 'stdio';
  /** Aborted when the HTTP client disconnects or the server shuts down. */
  signal: AbortSignal;
  /** Tools this client may call: null means all. */
  allowedTools: ReadonlySet<string> | null;
  /** Client restricted to read-only tools (keys-file `readOnly: true`). */
  readOnly: boolean;
  /** Present when the caller signed in with an OAuth access token. */
  oauth?: OAuthGrant;
  /**
   * Present when the request asked for progress (`_meta.progressToken`) and
   * the transport can deliver it: the tool reports, the transport throttles
   * nothing and sends `notifications/progress` in order.
   */
  progress?: (update: ProgressUpdate) => void;
}

export interface ProgressUpdate {
  /** Increases with every update (e.g. output bytes so far). */
  progress: number;
  total?: number;
  message?: string;
}

/** What an OAuth access token said about its caller, beside the client id (its `sub`). */
export interface OAuthGrant {
  issuer: string;
  /** The OAuth client holding the token (`client_id`, else `azp`). */
  clientId: string | null;
  scopes: readonly string[];
}
