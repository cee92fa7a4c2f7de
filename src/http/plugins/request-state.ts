/**
 * First hook of every request: the correlation id, whether the path is an MCP
 * endpoint that the rest of the pipeline guards, and how to find the client
 * IP (X-Forwarded-For only from trusted proxies) once something asks for it.
 * A correlation id header that breaks the shared rule (mcp/correlation.ts) is
 * replaced, never refused.
 */
import { Elysia } from 'elysia';
import type { IpFilter } from '../../security/ip.ts';
import { correlationIdFromHeader } from '../../mcp/correlation.ts';
import { pathOf, RequestState, setState } from '../request-state.ts';

/** Where MCP is served; `/mcp/` routes to `/mcp` (the router ignores a trailing slash), so it answers the same. */
export const MCP_PATHS = new Set(['/', '/mcp', '/mcp/']);

/**
 * What this hook reads of Elysia's request context. `path` is there at run
 * time (the compiled router cuts it out of the URL before the first hook) but
 * not in the type of a hook that runs before routing; reading request.url
 * again would build the string a second time, so it is only the fallback.
 */
interface RequestStart {
  request: Request;
  set: { headers: Record<string, unknown> };
  path?: string;
}

/**
 * @param serverOf the listening server, read through a closure: naming
 * `server` in the hook's context makes Elysia define a getter on every request.
 */
export function requestState(ipFilter: IpFilter, serverOf: () => { requestIP(r: Request): { address: string } | null } | null | undefined) {
  const clientIpOf = (request: Request): string | null => {
    const server = serverOf();
    // In-process (app.handle) there is no socket to ask.
    if (!server) return 'unknown';
    // A listening server that finds no peer for its request: the client has closed the connection.
    const peer = server.requestIP(request)?.address;
    return peer === undefined ? null : ipFilter.clientIp(peer, request.headers.get('x-forwarded-for'));
  };
  return new Elysia({ name: 'hide/request-state' }).onRequest(({ request, set, path: routedPath }: RequestStart) => {
    const path = typeof routedPath === 'string' ? routedPath : pathOf(request.url);
    const state = new RequestState(
      path,
      // Discovery documents are read before a client has credentials.
      path !== '/health' && path !== '/ready' && path !== '/metrics' && !path.startsWith('/.well-known/'),
      correlationIdFromHeader(request.headers.get('x-correlation-id')),
      request,
      clientIpOf,
    );
    setState(request, state);
    // MCP responses carry the header themselves (the effective id may come
    // from the tool's arguments); merging set.headers into every response
    // costs measurable time on the hot path.
    if (!MCP_PATHS.has(path)) set.headers['x-correlation-id'] = state.correlationId;
  });
}
