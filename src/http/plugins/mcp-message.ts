/**
 * Reads the MCP request body once authentication has passed and hands it to
 * the message core (mcp/core.ts), with the MCP headers it must check against
 * the body. The body is read before the Content-Type verdict so that every
 * refusal after authentication can echo the request's id. Errors map to the
 * table in DESIGN.md.
 */
import { Elysia } from 'elysia';
import { HideError, RpcCode } from '../../core/errors.ts';
import type { McpCore } from '../../mcp/core.ts';
import type { McpHeaders } from '../../mcp/era.ts';
import { type RequestState, stateOf } from '../request-state.ts';
import { readBody } from './body-limit.ts';

const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\b/i;

export function mcpHeaders(headers: Headers): McpHeaders {
  return { protocolVersion: headers.get('mcp-protocol-version'), method: headers.get('mcp-method'), name: headers.get('mcp-name') };
}

export function mcpMessage(core: McpCore, maxBytes: number) {
  return new Elysia({ name: 'hide/mcp-message', seed: maxBytes }).onBeforeHandle({ as: 'global' }, ({ request }) => {
    const state = stateOf(request);
    if (!state?.protectedPath || request.method !== 'POST') return;
    return read(request, state);
  });

  async function read(request: Request, state: RequestState): Promise<void> {
    const text = await readBody(request, maxBytes);
    const incoming = core.read(text, mcpHeaders(request.headers));
    state.rpcId = incoming.id;
    const type = request.headers.get('content-type');
    if (type !== null && !JSON_TYPE.test(type.trim())) {
      throw new HideError('Unsupported Media Type: send Content-Type: application/json', { status: 415, rpcCode: RpcCode.invalidRequest });
    }
    if (!incoming.ok) throw incoming.error;
    state.incoming = incoming;
  }
}
