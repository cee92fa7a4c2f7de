/** GET /health: always open (no auth, limits or IP filter) for probes. */
import { Elysia } from 'elysia';
import { VERSION } from '../../core/version.ts';

export function healthRoutes(extra: () => Record<string, unknown> = () => ({})) {
  return new Elysia({ name: 'hide/health' }).get('/health', () => ({ status: 'healthy', version: VERSION, ...extra() }));
}
