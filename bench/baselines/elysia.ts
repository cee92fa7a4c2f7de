/**
 * Baseline: a bare Elysia app on port 0 whose POST routes answer with fixed
 * bytes (the exact `tools/list` response `dist/hide` gave). Prints
 * `{"port":N}` on stdout once listening.
 *
 * With SHAPE `hooks` it is a reference rather than the baseline: the same
 * answer behind hide's lifecycle shape with no policy in it — five onRequest
 * hooks sharing per-request state, @elysiajs/bearer, a resolve, a beforeHandle
 * that reads and parses the body, a second beforeHandle, an afterHandle and an
 * error mapping. The gap between the two is what the stack charges for a
 * pipeline built as hooks, before any check runs.
 *
 * Usage: bun bench/baselines/elysia.ts BODY_FILE CONTENT_TYPE [bare|hooks]
 */
import { bearer } from '@elysiajs/bearer';
import { Elysia } from 'elysia';

const [bodyFile, contentType, shape = 'bare'] = process.argv.slice(2);
if (!bodyFile || !contentType) throw new Error('usage: elysia.ts BODY_FILE CONTENT_TYPE [bare|hooks]');
const body = new Uint8Array(await Bun.file(bodyFile).arrayBuffer());

const answer = () => new Response(body, { headers: { 'content-type': contentType } });

function bare() {
  return new Elysia().post('/mcp', answer).post('/', answer);
}

function hooks() {
  const states = new WeakMap<Request, { path: string; message?: unknown }>();
  let app = new Elysia()
    .onError({ as: 'global' }, () => new Response('{"error":"bad request"}', { status: 400, headers: { 'content-type': 'application/json' } }))
    .onRequest(({ request }) => {
      // The path as hide takes it: a slice of the URL, not a parsed URL.
      const url = request.url;
      states.set(request, { path: url.slice(url.indexOf('/', url.indexOf('//') + 2)) });
    });
  for (const header of ['x-forwarded-for', 'content-length', 'origin', 'x-correlation-id']) {
    app = app.onRequest(({ request }) => {
      if (states.get(request)) request.headers.get(header);
    });
  }
  return app
    .use(bearer())
    .resolve({ as: 'global' }, ({ request }) => {
      request.headers.get('x-api-key');
      return {};
    })
    .onBeforeHandle({ as: 'global' }, ({ request }) => {
      const state = states.get(request);
      if (!state) return;
      return request.text().then((text) => {
        state.message = JSON.parse(text);
      });
    })
    .onBeforeHandle({ as: 'global' }, ({ request }) => {
      states.get(request);
    })
    .onAfterHandle({ as: 'global' }, ({ request }) => {
      states.get(request);
    })
    .post('/mcp', answer, { parse: 'none' })
    .post('/', answer, { parse: 'none' });
}

const app = (shape === 'hooks' ? hooks() : bare()).listen({ hostname: '127.0.0.1', port: 0 });
console.log(JSON.stringify({ port: app.server?.port }));
