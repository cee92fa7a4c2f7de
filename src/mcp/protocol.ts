/**
 * JSON-RPC 2.0 / MCP message shapes as valibot schemas, the protocol versions
 * we speak, and response builders that produce serialised JSON directly (the
 * hot path never builds then re-walks an object tree it does not need).
 *
 * The versions mirror the SDK's SUPPORTED_PROTOCOL_VERSIONS (a unit test keeps
 * them equal) without importing the SDK's zod types at start-up.
 */
import * as v from 'valibot';
import { InvalidRequestError, RpcCode } from '../errors.ts';

export const LATEST_PROTOCOL_VERSION = '2025-11-25';
export const SUPPORTED_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'];

export type JsonRpcId = string | number;

/** A JSON object (valibot's record would quietly accept an array and copy it into `{}`). */
export const PlainObject = v.custom<Record<string, unknown>>(
  (x) => x !== null && typeof x === 'object' && !Array.isArray(x),
  'expected an object',
);

// One check instead of a union: a union records an issue for every branch it tries.
const isJsonRpcId = (x: unknown): x is JsonRpcId => typeof x === 'string' || Number.isInteger(x);
const Id = v.custom<JsonRpcId>(isJsonRpcId, 'expected a string or an integer id');

const MessageSchema = v.object({
  jsonrpc: v.literal('2.0'),
  id: v.optional(Id),
  method: v.optional(v.pipe(v.string(), v.maxLength(256))),
  params: v.optional(PlainObject),
  result: v.optional(v.unknown()),
  error: v.optional(v.unknown()),
});

export type JsonRpcMessage =
  | { kind: 'request'; id: JsonRpcId; method: string; params: Record<string, unknown> }
  | { kind: 'notification'; method: string; params: Record<string, unknown> }
  | { kind: 'response' };

/** Best-effort id of a message that failed validation, so the error can echo it. */
export function readId(value: unknown): JsonRpcId | null {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const id = (value as { id?: unknown }).id;
    if (isJsonRpcId(id)) return id;
  }
  return null;
}

/** Classifies one parsed JSON value as a JSON-RPC message, or throws InvalidRequestError. */
export function toMessage(value: unknown): JsonRpcMessage {
  if (Array.isArray(value)) {
    throw new InvalidRequestError('Batch requests are not supported (MCP 2025-06-18 and later); send one message per request');
  }
  if (value === null || typeof value !== 'object') throw new InvalidRequestError('Invalid Request: expected a JSON-RPC object');
  const parsed = v.safeParse(MessageSchema, value);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const where = issue ? v.getDotPath(issue) : null;
    throw new InvalidRequestError(`Invalid Request: ${where ? `'${where}' ` : ''}${issue?.message ?? 'malformed message'}`);
  }
  const m = parsed.output;
  if (m.method !== undefined) {
    const params = m.params ?? {};
    return m.id === undefined
      ? { kind: 'notification', method: m.method, params }
      : { kind: 'request', id: m.id, method: m.method, params };
  }
  if (m.id !== undefined && ('result' in m || 'error' in m)) return { kind: 'response' };
  throw new InvalidRequestError('Invalid Request: a request needs a string "method"');
}

/** `{"jsonrpc":"2.0","id":…,"result":<resultJson>}` from an already serialised result. */
export function resultJson(id: JsonRpcId, resultJsonText: string): string {
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${resultJsonText}}`;
}

export function errorJson(id: JsonRpcId | null, code: number, message: string, data?: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } });
}

export { RpcCode };
