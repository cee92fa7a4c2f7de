/**
 * JSON-RPC 2.0 / MCP message shapes as valibot schemas, the protocol versions
 * we speak, and response builders that produce serialised JSON directly (the
 * hot path never builds then re-walks an object tree it does not need).
 *
 * The versions mirror the SDK's SUPPORTED_PROTOCOL_VERSIONS and
 * LATEST_PROTOCOL_VERSION (test/mcp/protocol.test.ts keeps them equal) without
 * importing the SDK's zod types at start-up.
 *
 * Ids are echoed exactly: an integer id beyond ±(2^53−1) would come back
 * rounded from JSON.parse, so such an id (and a cancellation's `requestId`)
 * is kept as its original text, a JSON.rawJSON value that serialises verbatim.
 */
import * as v from 'valibot';
import { InvalidRequestError, RpcCode } from '../core/errors.ts';
import { countsDisagree, duplicateKeys, jsonShapeBeyond, MAX_DEPTH } from '../util/json-duplicate-keys.ts';
import { idSources } from '../util/json-number-source.ts';
import { checkBounded } from './bounded-validation.ts';

/** The newest handshake-era revision, answered to an `initialize` that asks for none we know. */
export const LATEST_PROTOCOL_VERSION = '2025-11-25';
/** Revisions that open with an `initialize` handshake. */
export const SUPPORTED_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'];
/** The stateless revision: version, capabilities and identity in every request's `_meta`. */
export const MODERN_PROTOCOL_VERSION = '2026-07-28';
/** Every revision we speak, newest first (`server/discover`, the unsupported-version error). */
export const ALL_PROTOCOL_VERSIONS: readonly string[] = [MODERN_PROTOCOL_VERSION, ...SUPPORTED_PROTOCOL_VERSIONS];

/** A numeric id kept as its source text (made by JSON.rawJSON; JSON.stringify writes it verbatim). */
export interface RawNumberId {
  readonly rawJSON: string;
}
export type JsonRpcId = string | number | RawNumberId;

// JSON.rawJSON / isRawJSON (TC39 "JSON.parse source text access") are in Bun, not yet in TypeScript's lib.
const RawJson = JSON as unknown as {
  rawJSON(text: string): RawNumberId;
  isRawJSON(value: unknown): value is RawNumberId;
};

const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);

/** A JSON object (valibot's record would quietly accept an array and copy it into `{}`). */
export const PlainObject = v.custom<Record<string, unknown>>(isObject, 'expected an object');

/**
 * Longest id, as a string or as an integer's digits. Every answer and error
 * echoes it, and an answer waits in memory until its client reads it: ids of
 * 4 MB on requests whose answers were never read took the server from 77 MB
 * to 1.36 GB over 150 connections. Clients send counters or UUIDs.
 */
export const MAX_ID_CHARS = 1024;

// One check instead of a union: a union records an issue for every branch it tries.
// An unsafe integer that is still a number here could not be kept exactly: refuse it rather than echo a different id.
const isJsonRpcId = (x: unknown): x is JsonRpcId =>
  (typeof x === 'string' && x.length <= MAX_ID_CHARS) || Number.isSafeInteger(x) || (RawJson.isRawJSON(x) && x.rawJSON.length <= MAX_ID_CHARS);
const Id = v.custom<JsonRpcId>(isJsonRpcId, `expected a string of at most ${MAX_ID_CHARS} characters or an integer id`);

/** An integer literal as JSON writes one: no fraction, no exponent. */
const INTEGER_TEXT = /^-?(?:0|[1-9][0-9]*)$/;

/** An integer JSON.parse cannot hold exactly. */
const isLossy = (x: unknown): boolean => typeof x === 'number' && Number.isInteger(x) && !Number.isSafeInteger(x);

/**
 * JSON.parse for one JSON-RPC message, keeping a top-level `id` or a
 * `params.requestId` beyond ±(2^53−1) as its original text. Throws
 * SyntaxError like JSON.parse, or InvalidRequestError for a message nested
 * more than MAX_DEPTH (64) levels deep — the levels the duplicate-name check
 * looks into, so no name given twice goes unseen. Only a message with such
 * an id is read a second time, by a linear scan of its text (idSources).
 */
export function parseMessageText(text: string): unknown {
  // Fewer characters than levels cannot nest that deep: most messages are not scanned.
  if (text.length > MAX_DEPTH) {
    const beyond = jsonShapeBeyond(text, MAX_DEPTH, MAX_VALUES);
    if (beyond === 'deep') throw new NestedTooDeepError(idBeforeParse(text));
    if (beyond === 'many') throw new TooManyValuesError(idBeforeParse(text));
  }
  const value: unknown = JSON.parse(text);
  if (!isObject(value) || !(isLossy(value.id) || (isObject(value.params) && isLossy(value.params.requestId)))) return value;
  const sources = idSources(text);
  // Kept only when written as digits: 9007199254740993.5 parses to an integer too, but is not one.
  const exact = (source: string | null) => (source !== null && source.length <= MAX_ID_CHARS && INTEGER_TEXT.test(source) ? RawJson.rawJSON(source) : null);
  if (isLossy(value.id)) value.id = exact(sources.id) ?? value.id;
  if (isObject(value.params) && isLossy(value.params.requestId)) value.params.requestId = exact(sources.requestId) ?? value.params.requestId;
  return value;
}

/**
 * Most values one message may hold. A tool call needs a few thousand at most
 * (4096 arguments, 100 edits, 64 variables); parsing costs about a
 * microsecond a value on the event loop every client shares.
 */
export const MAX_VALUES = 20_000;

/** A message of more than MAX_VALUES values: refused unparsed, with the id its text shows. */
export class TooManyValuesError extends InvalidRequestError {
  constructor(readonly id: JsonRpcId | null) {
    super(`Invalid Request: the message holds more than ${MAX_VALUES} values; no MCP message needs that many`);
  }
}

/** A message nested more than MAX_DEPTH levels: refused unparsed, with the id its text shows. */
export class NestedTooDeepError extends InvalidRequestError {
  constructor(readonly id: JsonRpcId | null) {
    super(`Invalid Request: the message nests arrays and objects more than ${MAX_DEPTH} levels deep; no MCP message needs that many`);
  }
}

/** The id of a message refused before its parse, as its text writes it: a string, an integer, or null. */
function idBeforeParse(text: string): JsonRpcId | null {
  const source = idSources(text).id;
  if (source === null) return null;
  if (source.startsWith('"')) {
    try {
      const id: unknown = JSON.parse(source);
      return isJsonRpcId(id) ? id : null;
    } catch {
      return null;
    }
  }
  // As a parsed message's: an integer beyond 2^53 as written, any other number as its value when that is an integer.
  const id = Number(source);
  if (INTEGER_TEXT.test(source)) return Number.isSafeInteger(id) ? id : source.length <= MAX_ID_CHARS ? RawJson.rawJSON(source) : null;
  return Number.isSafeInteger(id) ? id : null;
}

/** A Map key for an id: 1, "1" and a raw 9007199254740993 stay distinct. */
export function idKey(id: JsonRpcId): string {
  return JSON.stringify(id);
}

/** `id` when it is a valid JSON-RPC id (a cancellation's `requestId`), else null. */
export function asJsonRpcId(value: unknown): JsonRpcId | null {
  return isJsonRpcId(value) ? value : null;
}

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
  return isObject(value) ? asJsonRpcId(value.id) : null;
}

/** Classifies one parsed JSON value as a JSON-RPC message, or throws InvalidRequestError. */
export function toMessage(value: unknown): JsonRpcMessage {
  if (Array.isArray(value)) {
    throw new InvalidRequestError('Batch requests are not supported (MCP 2025-06-18 and later); send one message per request');
  }
  if (value === null || typeof value !== 'object') throw new InvalidRequestError('Invalid Request: expected a JSON-RPC object');
  const parsed = checkBounded(MessageSchema, value);
  if (!parsed.success) throw new InvalidRequestError(`Invalid Request: ${parsed.message}`);
  const m = parsed.output;
  if (m.method !== undefined) {
    // Neither a request nor a response: whoever reads it as a response (a proxy, a log) would not see a call run.
    if ('result' in m || 'error' in m) throw new InvalidRequestError('Invalid Request: a message with a "method" cannot carry "result" or "error"');
    const params = m.params ?? {};
    return m.id === undefined
      ? { kind: 'notification', method: m.method, params }
      : { kind: 'request', id: m.id, method: m.method, params };
  }
  if (m.id !== undefined && ('result' in m || 'error' in m)) return { kind: 'response' };
  throw new InvalidRequestError('Invalid Request: a request needs a string "method"');
}

/** Messages up to this size have the repeated name found and named in the refusal; larger ones are refused without. */
const NAME_THE_PATH_BELOW = 64 * 1024;

/**
 * Whether a message gives a name twice in one object, the first such name
 * as a dotted path (`params.arguments.command`; null for a large message),
 * and whether the top-level `id` is one. JSON.parse keeps the last of them,
 * while a reader in front of this server (a gateway's policy, a log) may
 * have taken the first: a `"command"` given twice would run the one it did
 * not see. Null for nearly every message. Told by counting the names in the
 * text against the keys `value` (its parse) holds, which costs a fraction of
 * the parse; only a refused message under 64 KiB is walked again to name
 * the path.
 */
export function repeatedName(text: string, value: unknown): { path: string | null; idRepeated: boolean } | null {
  const { disagree, topNameCount } = countsDisagree(text, value, 'id');
  if (!disagree) return null;
  const path = text.length <= NAME_THE_PATH_BELOW ? (duplicateKeys(text, { first: true })[0] ?? null) : null;
  return { path, idRepeated: topNameCount > 1 };
}

export function repeatedNameError(path: string | null): InvalidRequestError {
  const what = path === null ? 'a name' : `"${path.slice(0, 200)}"`;
  return new InvalidRequestError(`Invalid Request: ${what} is given twice in one object; JSON readers differ on which one counts, so give each name once`);
}

/** `{"jsonrpc":"2.0","id":…,"result":<resultJson>}` from an already serialised result. */
export function resultJson(id: JsonRpcId, resultJsonText: string): string {
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${resultJsonText}}`;
}

export function errorJson(id: JsonRpcId | null, code: number, message: string, data?: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } });
}

export { RpcCode };
