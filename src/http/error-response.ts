/**
 * The one place an error becomes an HTTP response: a JSON-RPC error body with
 * the id echoed when it was read, the status and headers the error class
 * carries, and never a stack trace or internal path.
 */
import { HideError, RpcCode } from '../core/errors.ts';
import { logger } from '../core/log.ts';
import { errorJson, type JsonRpcId } from '../mcp/protocol.ts';

export function jsonResponse(status: number, body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { 'content-type': 'application/json', ...headers } });
}

export function errorResponse(err: unknown, id: JsonRpcId | null, correlationId: string): Response {
  const base = { 'x-correlation-id': correlationId };
  if (err instanceof HideError) {
    return jsonResponse(err.status, errorJson(id, err.rpcCode, err.message, err.data), { ...base, ...err.headers });
  }
  logger.withTag('http').error(`unexpected error (correlation ${correlationId}):`, err instanceof Error ? err.stack || String(err) : err);
  return jsonResponse(500, errorJson(id, RpcCode.internalError, `Internal error; correlation id ${correlationId}`), base);
}
