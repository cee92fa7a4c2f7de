/**
 * Error classes for every refusal the server can give, each carrying its HTTP
 * status and JSON-RPC code. One mapping (src/http/error-response.ts and the
 * stdio loop) turns them into responses, so policy code never builds HTTP.
 */

/** JSON-RPC error codes used by hide (standard ones plus our server range). */
export const RpcCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  unauthorized: -32001,
  forbidden: -32003,
  rateLimited: -32029,
  unavailable: -32050,
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
  constructor(message = 'Parse error: body is not valid JSON') {
    super(message, { status: 400, rpcCode: RpcCode.parseError });
  }
}

export class InvalidRequestError extends HideError {
  constructor(message: string, status = 400) {
    super(message, { status, rpcCode: RpcCode.invalidRequest });
  }
}

export class PayloadTooLargeError extends HideError {
  constructor(limit: number) {
    super(`Request body exceeds the limit of ${limit} bytes`, {
      status: 413,
      rpcCode: RpcCode.invalidRequest,
      data: { limit },
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
  constructor(message: string, retryAfterSeconds = 1) {
    super(message, {
      status: 503,
      rpcCode: RpcCode.unavailable,
      headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
    });
  }
}
