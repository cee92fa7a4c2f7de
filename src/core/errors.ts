/**
 * Error classes for every refusal the server can give, each carrying its HTTP
 * status and JSON-RPC code. One mapping (src/http/error-response.ts and the
 * stdio loop) turns them into responses, so policy code never builds HTTP.
 */

/**
 * JSON-RPC error codes used by hide. MCP 2026-07-28 splits JSON-RPC's server
 * range: -32020…-32099 is the specification's alone, and -32000…-32019 is
 * legacy, where codes already in use stay (our -32001 and -32003) but no new
 * code may be allocated. Codes added since live outside JSON-RPC's reserved
 * -32768…-32000, as the revision asks, and echo the HTTP status they go with.
 */
export const RpcCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  unauthorized: -32001,
  forbidden: -32003,
  rateLimited: -31429,
  unavailable: -31503,
  /** MCP 2026-07-28: an Mcp-* header is missing or does not match the body. */
  headerMismatch: -32020,
  /** MCP 2026-07-28: the requested protocol version is not one we speak. */
  unsupportedProtocolVersion: -32022,
} as const;

export class HideError extends Error {
  /** HTTP status when the refusal happens at the HTTP layer. */
  readonly status: number;
  /** JSON-RPC error.code. */
  readonly rpcCode: number;
  /** Optional machine-readable detail, sent as error.data. */
  readonly data?: Record<string, unknown>;
  /** Extra response headers (WWW-Authenticate, Retry-After, Allow). */
  readonly headers: Record<string, string>;

  constructor(
    message: string,
    opts: { status: number; rpcCode: number; data?: Record<string, unknown>; headers?: Record<string, string> },
  ) {
    super(message);
    this.name = new.target.name;
    this.status = opts.status;
    this.rpcCode = opts.rpcCode;
    this.data = opts.data;
    this.headers = opts.headers ?? {};
  }
}

export class ParseError extends HideError {
  constructor(message = 'Parse error: message is not valid JSON') {
    super(message, { status: 400, rpcCode: RpcCode.parseError });
  }
}

export class InvalidRequestError extends HideError {
  constructor(message: string, status = 400) {
    super(message, { status, rpcCode: RpcCode.invalidRequest });
  }
}

export class BodyTimeoutError extends HideError {
  constructor(seconds: number) {
    // The rest of the body may still be on its way: the connection cannot carry another request.
    super(`Request Timeout: the body did not arrive within ${seconds} s`, { status: 408, rpcCode: RpcCode.invalidRequest, data: { seconds }, headers: { connection: 'close' } });
  }
}

export class PayloadTooLargeError extends HideError {
  constructor(limit: number) {
    // What is over the limit is not read: the rest of the body may still be on its way (a chunked one counted as it
    // came), so the connection cannot carry another request.
    super(`Request body exceeds the limit of ${limit} bytes`, {
      status: 413,
      rpcCode: RpcCode.invalidRequest,
      data: { limit },
      headers: { connection: 'close' },
    });
  }
}

export class UnauthorizedError extends HideError {
  /** @param challenge the WWW-Authenticate value; OAuth modes point it at the resource metadata. */
  constructor(message: string, header: string, challenge = 'Bearer realm="hide", error="invalid_token"') {
    super(message, {
      status: 401,
      rpcCode: RpcCode.unauthorized,
      data: { header },
      headers: { 'WWW-Authenticate': challenge },
    });
  }
}

export class ForbiddenError extends HideError {
  constructor(message: string, data?: Record<string, unknown>, headers?: Record<string, string>) {
    super(message, { status: 403, rpcCode: RpcCode.forbidden, data, headers });
  }
}

export class RateLimitError extends HideError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number, data?: Record<string, unknown>) {
    const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
    super(message, {
      status: 429,
      rpcCode: RpcCode.rateLimited,
      data: { retryAfterSeconds: seconds, ...data },
      headers: { 'Retry-After': String(seconds) },
    });
    this.retryAfterSeconds = seconds;
  }
}

/**
 * A limit a tool call meets while it runs rather than at admission (every
 * sandbox launcher busy with other clients): answered as any 429, and audited
 * by the dispatcher as `rate_limit_exceeded`, since no admission check saw it.
 */
export class ToolLimitError extends RateLimitError {}

/**
 * The client closed its connection before its request body arrived. Nobody
 * reads the answer; the status (nginx's "client closed request") keeps such
 * requests apart from server errors in /metrics and the logs.
 */
export class ClientClosedError extends HideError {
  constructor(message = 'Client closed the connection before the request body arrived') {
    super(message, { status: 499, rpcCode: RpcCode.invalidRequest });
  }
}

export class MethodNotAllowedError extends HideError {
  constructor(allow: string) {
    super(`Method not allowed; use ${allow}`, {
      status: 405,
      rpcCode: RpcCode.invalidRequest,
      headers: { Allow: allow },
    });
  }
}

export class UnavailableError extends HideError {
  /**
   * @param data error.data of a refused tool call, naming why in `reason` (`store_unavailable`, `audit`); it then
   * carries `retryAfterSeconds` too, as a 429's does, for stdio clients that see no Retry-After header.
   */
  constructor(message: string, retryAfterSeconds = 1, data?: Record<string, unknown>) {
    const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
    super(message, {
      status: 503,
      rpcCode: RpcCode.unavailable,
      data: data === undefined ? undefined : { retryAfterSeconds: seconds, ...data },
      headers: { 'Retry-After': String(seconds) },
    });
  }
}

/** MCP 2026-07-28: a required Mcp-* request header is missing, malformed, or differs from the body. */
export class HeaderMismatchError extends HideError {
  constructor(message: string) {
    super(`Header mismatch: ${message}`, { status: 400, rpcCode: RpcCode.headerMismatch });
  }
}

/** The protocol version a request names is not one this server speaks; `data.supported` lists those it does. */
export class UnsupportedProtocolVersionError extends HideError {
  constructor(requested: string, supported: readonly string[]) {
    super(`Unsupported protocol version '${requested}'; supported: ${supported.join(', ')}`, {
      status: 400,
      rpcCode: RpcCode.unsupportedProtocolVersion,
      data: { supported: [...supported], requested },
    });
  }
}

/** No such method. Under MCP 2026-07-28 on HTTP this is a 404; earlier revisions answer it with 200. */
export class MethodNotFoundError extends HideError {
  constructor(message: string, status: number) {
    super(message, { status, rpcCode: RpcCode.methodNotFound });
  }
}

/** Request params that break the protocol's rules (not a tool's arguments: those come back as tool results). */
export class InvalidParamsError extends HideError {
  constructor(message: string, status = 400) {
    super(message, { status, rpcCode: RpcCode.invalidParams });
  }
}

/**
 * Why the server stopped a call still running: its client lost the right to
 * make it (a keys-file reload disabled or removed the client, or took the
 * tool from it). Given as the call's abort reason, so the call's result says
 * so rather than that the client went away.
 */
export class AccessRevoked extends Error {}
