/**
 * A tools/call refused before it runs (rate limit, permission) answers with
 * the correlation id its audit line records: the tool's own `correlationId`
 * argument when it gave one, as for a call that ran.
 */
import { expect, test } from 'bun:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, tempDir } from '../helpers/server.ts';

const RO_KEY = 'ro-client-key-0123456789abcdefghijklmnopqrstuv';

async function call(url: string, name: string, correlationId: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-correlation-id': 'from-header', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: { command: 'true', correlationId } } }),
  });
  await res.arrayBuffer();
  return { status: res.status, correlationId: res.headers.get('x-correlation-id') };
}

async function audited(server: Awaited<ReturnType<typeof startServer>>, eventType: string): Promise<string[]> {
  await server.rt.audit.flush();
  return readFileSync(server.auditFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((l) => l.event_type === eventType)
    .map((l) => l.correlation_id);
}

test('a call past the rate limit: 429 naming the argument’s correlation id, as its audit line does', async () => {
  await using server = await startServer({ HIDE_RATE_LIMIT_ENABLED: 'true', HIDE_RATE_LIMIT_RPM: '1', HIDE_SANDBOX: 'off' });
  expect(await call(server.mcpUrl, 'shell_execute', 'call-1')).toEqual({ status: 200, correlationId: 'call-1' });
  expect(await call(server.mcpUrl, 'shell_execute', 'call-2')).toEqual({ status: 429, correlationId: 'call-2' });
  expect(await audited(server, 'rate_limit_exceeded')).toEqual(['call-2']);
});

test('a tool the caller may not use: 403 naming the argument’s correlation id, as its audit line does', async () => {
  const dir = tempDir();
  const keys = join(dir, 'keys.json');
  writeFileSync(keys, JSON.stringify({ clients: [{ client_id: 'ro', enabled: true, api_key: RO_KEY, readOnly: true }] }), { mode: 0o600 });
  await using server = await startServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keys });
  expect(await call(server.mcpUrl, 'shell_execute', 'call-3', { 'x-api-key': RO_KEY })).toEqual({ status: 403, correlationId: 'call-3' });
  expect(await audited(server, 'permission_denied')).toEqual(['call-3']);
});
