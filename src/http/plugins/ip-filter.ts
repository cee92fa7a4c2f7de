/** IP allowlist as an onRequest hook: a refused network never reaches key checking. */
import { Elysia } from 'elysia';
import type { SecurityPipeline } from '../../security/pipeline.ts';
import { stateOf } from '../request-state.ts';

export function ipFilter(security: SecurityPipeline) {
  return new Elysia({ name: 'hide/ip-filter' }).onRequest(({ request }) => {
    const state = stateOf(request);
    if (state?.protectedPath) security.checkIp(state);
  });
}
