/**
 * The app's one error mapping on the smallest app that uses it: an error
 * nobody expected becomes a 500 whose body names only the correlation id —
 * never the error's message, its stack or a path on the server, which is
 * where such an error's text comes from — while a refusal keeps its own
 * status, code and message.
 */
import { describe, expect, test } from 'bun:test';
import { Elysia } from 'elysia';
import { configureLogger } from '../../src/core/log.ts';
import { ForbiddenError } from '../../src/core/errors.ts';
import { pluginApp } from './harness.ts';

configureLogger({ level: 'silent', format: 'json' });

const LEAK = 'ENOENT: open /etc/hide/keys.json (api_key=k-123)';

function build(error: () => Error) {
  return pluginApp(
    new Elysia({ name: 'thrower' }).post(
      '/mcp',
      () => {
        throw error();
      },
      { parse: 'none' },
    ),
  );
}

async function call(app: Elysia) {
  const res = await app.handle(new Request('http://localhost/mcp', { method: 'POST', headers: { 'x-correlation-id': 'err-test' } }));
  return { status: res.status, correlationId: res.headers.get('x-correlation-id'), text: await res.text() };
}

describe('error mapping', () => {
  test.each([
    ['an Error', () => new Error(LEAK)],
    ['a TypeError with a stack', () => new TypeError(LEAK)],
  ])('%s nobody expected: 500 naming only the correlation id', async (_name, error) => {
    const r = await call(build(error));
    expect(r).toEqual({
      status: 500,
      correlationId: 'err-test',
      text: JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: 'Internal error; correlation id err-test' } }),
    });
  });

  test('a refusal keeps its status, code and message', async () => {
    const r = await call(build(() => new ForbiddenError('Forbidden: client IP is not allowed', { reason: 'ip' })));
    expect([r.status, JSON.parse(r.text).error]).toEqual([403, { code: -32003, message: 'Forbidden: client IP is not allowed', data: { reason: 'ip' } }]);
  });
});
