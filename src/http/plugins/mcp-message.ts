/**
 * Reads and classifies the MCP request body once authentication has passed:
 * Content-Type and Accept rules, protocol-version header, size-capped read,
 * JSON parse (ids kept exactly), JSON-RPC shape. Errors map to the table in
 * DESIGN.md.
 */
import { Elysia } from 'elysia';
import { HideError, InvalidRequestError, ParseError, RpcCode } from '../../core/errors.ts';
import { parseMessageText, readId, SUPPORTED_PROTOCOL_VERSIONS, toMessage } from '../../mcp/protocol.ts';
import { type RequestState, stateOf } from '../request-state.ts';
import { readBody } from './body-limit.ts';

export function mcpMessage(maxBytes: number) {
  return new Elysia({ name: 'hide/mcp-message', seed: maxBytes }).onBeforeHandle({ as: 'global' }, ({ request }) => {
    const state = stateOf(request);
    if (!state?.protectedPath || request.method !== 'POST') return;
    return read(request, state);
  });

  async function read(request: Request, state: RequestState): Promise<void> {
    const type = request.headers.get('content-type');
    if (type !== null && !/^application\/(?:[\w.+-]*\+)?json\b/i.test(type.trim())) {
      throw new HideError('Unsupported Media Type: send Content-Type: application/json', {
        status: 415,
        rpcCode: RpcCode.invalidRequest,
      });
    }
    const version = request.headers.get('mcp-protocol-version');
    if (version !== null && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      throw new InvalidRequestError(
        `Unsupported MCP-Protocol-Version '${version.slice(0, 40)}'; supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}`,
      );
    }
    const text = await readBody(request, maxBytes);
    if (text.trim() === '') throw new InvalidRequestError('Invalid Request: empty body; send one JSON-RPC message');
    let value: unknown;
    try {
      value = parseMessageText(text);
    } catch {
      throw new ParseError();
    }
    state.rpcId = readId(value);
    state.message = toMessage(value);
  }
}
