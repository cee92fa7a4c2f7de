/**
 * What every HTTP plugin test builds around the plugin under test: the app's
 * one error mapping, the request state the plugins share, and the plugin —
 * or the plugin one level down inside another plugin (`wrap`), to show its
 * hooks still reach the parent app's routes. And a security pipeline of real
 * parts with quiet defaults, each overridable.
 */
import { type AnyElysia, Elysia } from 'elysia';
import { NullAudit } from '../../src/audit/null-audit.ts';
import { errorResponse } from '../../src/http/error-response.ts';
import { requestState } from '../../src/http/plugins/request-state.ts';
import { stateOf } from '../../src/http/request-state.ts';
import { IpFilter } from '../../src/security/ip.ts';
import { MemoryLimiter } from '../../src/security/memory-limiter.ts';
import { HostPolicy } from '../../src/security/host.ts';
import { OriginPolicy } from '../../src/security/origin.ts';
import { SecurityPipeline } from '../../src/security/pipeline.ts';

type ServerOf = () => { requestIP(r: Request): { address: string } | null } | null;

export interface HarnessOptions {
  wrap?: boolean;
  /** The filter the request state resolves client addresses with; default allows everything. */
  ipFilter?: IpFilter;
  /** The listening server, for plugins that need the peer address; default none. */
  serverOf?: ServerOf;
  /** Plugins the one under test relies on, used before it. */
  before?: AnyElysia[];
}

/** Typed as a plain Elysia app: the tests add routes that read only what every context has. */
export function pluginApp(plugin: AnyElysia, opts: HarnessOptions = {}): Elysia {
  let app: AnyElysia = new Elysia()
    .onError({ as: 'global' }, ({ error, request }) => errorResponse(error, stateOf(request)?.rpcId ?? null, stateOf(request)?.correlationId ?? 'none'))
    .use(requestState(opts.ipFilter ?? new IpFilter(), opts.serverOf ?? (() => null)));
  for (const p of opts.before ?? []) app = app.use(p);
  return app.use(opts.wrap ? new Elysia({ name: 'wrapper' }).use(plugin) : plugin) as unknown as Elysia;
}

/**
 * Adds the two routes the guard tests probe — POST /mcp (a guarded path) and
 * GET /health (an open one) — each recording in `ran` that its handler ran.
 */
export function probeRoutes(app: Elysia, ran: string[]): Elysia {
  return app
    .post(
      '/mcp',
      () => {
        ran.push('/mcp');
        return { ok: true };
      },
      { parse: 'none' },
    )
    .get('/health', () => {
      ran.push('/health');
      return { ok: true };
    }) as unknown as Elysia;
}

export function testPipeline(over: Partial<SecurityPipeline['opts']> = {}): SecurityPipeline {
  return new SecurityPipeline({
    authEnabled: false,
    keyStore: null,
    ipFilter: new IpFilter(),
    origins: new OriginPolicy(null, true),
    hosts: new HostPolicy([], true),
    limiter: new MemoryLimiter({ enabled: false, rpm: 1, concurrent: 1 }),
    audit: new NullAudit(),
    ...over,
  });
}
