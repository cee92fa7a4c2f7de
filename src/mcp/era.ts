/**
 * Which revision of MCP a message speaks, decided per message. A request whose
 * `_meta` (or, on HTTP, whose MCP-Protocol-Version header) names 2026-07-28 is
 * modern: stateless, no handshake, `resultType` on every result. Anything else
 * — an `initialize`, a handshake-era header, or nothing at all (the seeds'
 * curl examples) — is served as the handshake era always was.
 *
 * On HTTP the revision also mirrors body fields into headers (MCP-Protocol-
 * Version, Mcp-Method, Mcp-Name) so intermediaries can route without parsing
 * the body; a header that differs from the body is refused in either era,
 * because a proxy that routes or limits on the header would otherwise be
 * judging a different request from the one we run.
 */
import { HeaderMismatchError, InvalidParamsError, UnsupportedProtocolVersionError } from '../core/errors.ts';
import { ALL_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSION } from './protocol.ts';

/** The MCP request headers as HTTP received them; stdio has none. */
export interface McpHeaders {
  protocolVersion: string | null;
  method: string | null;
  name: string | null;
}

export interface Era {
  /** 2026-07-28 semantics (stateless, `resultType`, removed methods are 404). */
  modern: boolean;
  /** The version the message named, or null when it named none. */
  version: string | null;
}

export const LEGACY_ERA: Era = { modern: false, version: null };
const MODERN_ERA: Era = { modern: true, version: MODERN_PROTOCOL_VERSION };

export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
export const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';

/** Methods whose Mcp-Name header mirrors a body field, and which field. */
const NAMED: Record<string, 'name' | 'uri'> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

const BASE64_SENTINEL = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/;
/** Visible ASCII, space and tab (RFC 9110 field values); Bun already refuses other control characters. */
const PLAIN_HEADER_VALUE = /^[\x20-\x7e\t]*$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A header value as the revision encodes it: plain ASCII, or `=?base64?…?=` for anything else. */
export function decodeHeaderValue(raw: string, header: string): string {
  const sentinel = BASE64_SENTINEL.exec(raw);
  if (sentinel) {
    const decoded = decodeBase64Utf8(sentinel[1]!);
    if (decoded === null) throw new HeaderMismatchError(`${header} has a malformed =?base64?…?= value`);
    return decoded;
  }
  if (raw.startsWith('=?base64?')) throw new HeaderMismatchError(`${header} has a malformed =?base64?…?= value`);
  if (!PLAIN_HEADER_VALUE.test(raw)) throw new HeaderMismatchError(`${header} contains characters that need the =?base64?…?= encoding`);
  return raw;
}

/**
 * Padded base64 (RFC 4648 §4) of UTF-8 text, or null. Buffer's decoder
 * forgives missing or short padding and stray low bits, so several header
 * values would name the same tool; an intermediary with a strict decoder would
 * then judge a different request from the one we run. Only the one canonical
 * spelling is taken: it must re-encode to itself.
 */
function decodeBase64Utf8(encoded: string): string | null {
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.toString('base64') !== encoded) return null;
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

const shown = (value: string) => JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);

function metaOf(params: Record<string, unknown>): Record<string, unknown> | undefined {
  const meta = params._meta;
  return meta !== null && typeof meta === 'object' && !Array.isArray(meta) ? (meta as Record<string, unknown>) : undefined;
}

/**
 * The era of one request or notification. Throws UnsupportedProtocolVersionError
 * (-32022) for a version we do not speak, HeaderMismatchError (-32020) for
 * headers that are missing under 2026-07-28 or disagree with the body, and
 * InvalidParamsError (-32602, HTTP 400) for a 2026-07-28 request without the
 * `_meta` it must carry. The revision requires those headers and `_meta`
 * fields of requests only (it leaves a notification POST's headers undefined):
 * a notification needs none of them, but what it does carry must agree.
 */
export function eraOf(method: string, params: Record<string, unknown>, headers: McpHeaders | null, isRequest = true): Era {
  const meta = metaOf(params);
  const inBody = meta?.[META_PROTOCOL_VERSION];
  const inHeader = headers?.protocolVersion ?? null;
  if (inBody !== undefined && typeof inBody !== 'string') {
    // Named by its type: serialising a client's value could recurse as deep as the client nested it.
    const what = inBody === null ? 'null' : Array.isArray(inBody) ? 'an array' : typeof inBody === 'object' ? 'an object' : `a ${typeof inBody}`;
    throw new UnsupportedProtocolVersionError(`(${what}, not a string)`, ALL_PROTOCOL_VERSIONS);
  }
  if (inBody !== undefined && inHeader !== null && inBody !== inHeader) {
    throw new HeaderMismatchError(`MCP-Protocol-Version header ${shown(inHeader)} does not match _meta["${META_PROTOCOL_VERSION}"] ${shown(inBody)}`);
  }
  const version = inBody ?? inHeader;
  if (version !== null && !ALL_PROTOCOL_VERSIONS.includes(version)) throw new UnsupportedProtocolVersionError(version.slice(0, 80), ALL_PROTOCOL_VERSIONS);
  const modern = version === MODERN_PROTOCOL_VERSION;
  if (modern && isRequest) {
    // The header alone does not make a modern request: the revision puts version and capabilities in every body.
    if (inBody === undefined) throw new InvalidParamsError(`Invalid params: _meta["${META_PROTOCOL_VERSION}"] is required under ${version}`);
    const caps = meta?.[META_CLIENT_CAPABILITIES];
    if (caps === null || typeof caps !== 'object' || Array.isArray(caps)) {
      throw new InvalidParamsError(`Invalid params: _meta["${META_CLIENT_CAPABILITIES}"] must be an object under ${version}`);
    }
  }
  if (headers) checkMirroredHeaders(method, params, headers, modern && isRequest);
  return modern ? MODERN_ERA : version === null ? LEGACY_ERA : { modern: false, version };
}

/** `required`: the 2026-07-28 presence rules apply (a request of that revision); a present header must match either way. */
function checkMirroredHeaders(method: string, params: Record<string, unknown>, headers: McpHeaders, required: boolean): void {
  if (required) {
    if (headers.protocolVersion === null) throw new HeaderMismatchError('MCP-Protocol-Version header is required');
    if (headers.method === null) throw new HeaderMismatchError('Mcp-Method header is required');
  }
  if (headers.method !== null && headers.method !== method) {
    throw new HeaderMismatchError(`Mcp-Method header ${shown(headers.method)} does not match the body's method ${shown(method)}`);
  }
  // Own keys only: a method named `constructor` or `toString` must not find Object.prototype's.
  const field = Object.hasOwn(NAMED, method) ? NAMED[method] : undefined;
  if (field === undefined) return;
  if (headers.name === null) {
    if (required) throw new HeaderMismatchError(`Mcp-Name header is required for ${method}`);
    return;
  }
  const name = decodeHeaderValue(headers.name, 'Mcp-Name');
  const inBody = params[field];
  if (name !== inBody) {
    throw new HeaderMismatchError(`Mcp-Name header ${shown(name)} does not match the body's params.${field} ${typeof inBody === 'string' ? shown(inBody) : 'value'}`);
  }
}
