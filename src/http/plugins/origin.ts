/** Origin check (DNS-rebinding defence) as an onRequest hook. */
import { Elysia } from 'elysia';
import type { SecurityPipeline } from '../../security/pipeline.ts';
import { stateOf } from '../request-state.ts';

export function originCheck(security: SecurityPipeline) {
  return new Elysia({ name: 'hide/origin' }).onRequest(({ request }) => {
    const state = stateOf(request);
    if (state?.protectedPath) security.checkOrigin(request.headers.get('origin'), state);
  });
}
