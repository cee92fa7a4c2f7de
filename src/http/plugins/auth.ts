/**
 * Authentication as a resolve hook: API keys, and OAuth access tokens when
 * the pipeline has them on (the pipeline decides; this only extracts). Keys are read from the configured
 * header, from the seeds' X-API-Key and X-MCP-API-Key whatever is configured, and from `Authorization: Bearer`
 * (through @elysiajs/bearer, which only extracts). A token from the query string never counts: bearer
 * falls back to `?access_token=`, so we take its value only when the
 * Authorization header itself carries it.
 */
import { bearer } from '@elysiajs/bearer';
import { Elysia } from 'elysia';
import type { PresentedCredentials, SecurityPipeline } from '../../security/pipeline.ts';
import { type HeaderRecord, stateOf } from '../request-state.ts';

const BEARER = /^Bearer (\S+)$/;

const namesCache = new Map<string, string[]>();
function headerNames(configured: string): string[] {
  let names = namesCache.get(configured);
  if (!names) {
    names = [...new Set([configured.toLowerCase(), 'x-api-key', 'x-mcp-api-key'])];
    namesCache.set(configured, names);
  }
  return names;
}

export function credentialsFrom(headers: HeaderRecord, bearerToken: string | undefined, configuredHeader: string): PresentedCredentials {
  const found: PresentedCredentials['found'] = [];
  for (const name of headerNames(configuredHeader)) {
    const value = headers[name];
    if (value !== undefined) found.push({ header: name, value });
  }
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const m = BEARER.exec(authorization);
    // Anything but `Bearer <credential>` (a bare key, Basic, two spaces) is presented only to be refused.
    if (m && bearerToken === m[1]) found.push({ header: 'authorization', value: m[1]! });
    else found.push({ header: 'authorization', value: authorization, malformed: true });
  }
  return { found, preferredHeader: configuredHeader };
}

export function auth(security: SecurityPipeline, configuredHeader: string) {
  return new Elysia({ name: 'hide/auth', seed: configuredHeader })
    .use(bearer())
    .resolve({ as: 'global' }, ({ request, headers, bearer: token }) => {
      const state = stateOf(request);
      if (!state?.protectedPath) return {};
      const identity = security.authenticate(credentialsFrom(headers, token, configuredHeader), state);
      // An API key resolves at once; only an OAuth token check costs a promise.
      if (!(identity instanceof Promise)) {
        state.identity = identity;
        return {};
      }
      return identity.then((id) => {
        state.identity = id;
        return {};
      });
    });
}
