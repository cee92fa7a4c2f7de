/**
 * The body-limit plugin (src/http/plugins/body-limit.ts): a declared
 * Content-Length over the limit is refused in onRequest, before routing; a
 * body without a declared length is counted by readBody as it is read. Built
 * on the smallest app that uses it (request state, the app's error mapping, a
 * route that reads the body the way mcp-message does) and driven through
 * app.handle: no socket is needed.
 */
import { describe, expect, test } from 'bun:test';
import { BodyDeadlines, bodyLimit, readBody } from '../../src/http/plugins/body-limit.ts';
import { pluginApp } from './harness.ts';

const LIMIT = 1024;
const deadlines = new BodyDeadlines(30_000);

function build(wrap = false) {
  const handled: number[] = [];
  // wrap: its onRequest must still reach this app's routes.
  const app = pluginApp(bodyLimit(LIMIT), { wrap })
    .post(
      '/mcp',
      async ({ request }) => {
        const text = await readBody(request, LIMIT, deadlines);
        handled.push(text.length);
        return { bytes: text.length };
      },
      { parse: 'none' },
    )
    .get('/health', () => {
      handled.push(0);
      return { ok: true };
    });
  return { app, handled };
}

/** A body that arrives as a stream of `pieces` chunks, with no declared length. */
function streamed(bytes: number, pieces: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(Math.ceil(bytes / pieces)).fill(0x20);
  let left = bytes;
  return new ReadableStream({
    pull(c) {
      if (left <= 0) return c.close();
      const n = Math.min(left, chunk.byteLength);
      c.enqueue(chunk.subarray(0, n));
      left -= n;
    },
  });
}

async function call(app: ReturnType<typeof build>['app'], path: string, init: RequestInit) {
  const res = await app.handle(new Request(`http://localhost${path}`, { ...init, headers: { 'x-correlation-id': 'body-test', ...(init.headers as Record<string, string>) } }));
  return { status: res.status, correlationId: res.headers.get('x-correlation-id'), body: await res.json() };
}

const tooLarge = {
  status: 413,
  correlationId: 'body-test',
  body: { jsonrpc: '2.0', id: null, error: { code: -32600, message: `Request body exceeds the limit of ${LIMIT} bytes`, data: { limit: LIMIT } } },
};

describe('body-limit plugin', () => {
  test('a declared length over the limit is refused before the route runs', async () => {
    const { app, handled } = build();
    const res = await call(app, '/mcp', { method: 'POST', body: 'x'.repeat(LIMIT + 1), headers: { 'content-length': String(LIMIT + 1) } });
    expect({ res, handled }).toEqual({ res: tooLarge, handled: [] });
  });

  test('a declared length of exactly the limit is accepted', async () => {
    const { app, handled } = build();
    const res = await call(app, '/mcp', { method: 'POST', body: 'x'.repeat(LIMIT), headers: { 'content-length': String(LIMIT) } });
    expect({ res, handled }).toEqual({ res: { status: 200, correlationId: null, body: { bytes: LIMIT } }, handled: [LIMIT] });
  });

  test('a huge declared length is refused without reading anything', async () => {
    const { app, handled } = build();
    const res = await call(app, '/mcp', { method: 'POST', body: '{}', headers: { 'content-length': String(10 * 1024 ** 3) } });
    expect({ res, handled }).toEqual({ res: tooLarge, handled: [] });
  });

  test('an undeclared (streamed) body is counted as it is read: over the limit is refused', async () => {
    const { app, handled } = build();
    const res = await call(app, '/mcp', { method: 'POST', body: streamed(LIMIT + 1, 5) });
    expect({ res, handled }).toEqual({ res: tooLarge, handled: [] });
  });

  test('an undeclared (streamed) body of exactly the limit is read whole', async () => {
    const { app, handled } = build();
    const res = await call(app, '/mcp', { method: 'POST', body: streamed(LIMIT, 5) });
    expect({ res, handled }).toEqual({ res: { status: 200, correlationId: null, body: { bytes: LIMIT } }, handled: [LIMIT] });
  });

  test('/health is not guarded', async () => {
    const { app, handled } = build();
    const res = await call(app, '/health', { method: 'GET', headers: { 'content-length': String(LIMIT * 10) } });
    expect({ res, handled }).toEqual({ res: { status: 200, correlationId: 'body-test', body: { ok: true } }, handled: [0] });
  });

  test('hook scope: nested inside another plugin, the check still guards the outer app', async () => {
    const { app, handled } = build(true);
    const res = await call(app, '/mcp', { method: 'POST', body: 'x'.repeat(LIMIT + 1), headers: { 'content-length': String(LIMIT + 1) } });
    expect({ res, handled }).toEqual({ res: tooLarge, handled: [] });
  });
});
