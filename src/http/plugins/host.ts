/**
 * Host check (DNS-rebinding defence without an Origin header) as an onRequest
 * hook. It guards every path, /health and /metrics included: every local
 * client sends a loopback Host, so the check costs them nothing, while a page
 * that rebinds its own name to this server could otherwise read them.
 */
import { Elysia } from 'elysia';
import type { SecurityPipeline } from '../../security/pipeline.ts';
import { stateOf } from '../request-state.ts';

export function hostCheck(security: SecurityPipeline) {
  return new Elysia({ name: 'hide/host' }).onRequest(({ request }) => {
    const state = stateOf(request);
    if (state) security.checkHost(request.headers.get('host'), state);
  });
}
