/**
 * HIDE_SANDBOX_MAX_LAUNCHERS through the real server: with every launcher
 * running another client's commands, a new client's call that needs one
 * (shell_execute, process_start, search_files with ripgrep) is refused as the
 * other limits refuse — 429 with Retry-After, -31429 with `data.reason`
 * `launchers`, the same over stdio — audited as `rate_limit_exceeded`,
 * counted in /metrics, and nothing runs. Once the busy client is done, the new
 * client is served. The bound is set to 1 so no storm is needed.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { ERAS, rpc, startServer, type TestEra, type TestServer, tempDir, waitFor } from '../helpers/server.ts';
import { startStdio } from '../helpers/stdio.ts';

const supported = process.platform === 'linux' && landlockAbi() > 0;
const KEY_BUSY = 'c'.repeat(43);
const KEY_NEW = 'd'.repeat(43);
const MESSAGE = 'sandbox launcher limit reached: the sandbox already runs commands for 1 other clients (HIDE_SANDBOX_MAX_LAUNCHERS); retry when one of them is done';

type AuditLine = Record<string, any>;
const auditLines = (file: string): AuditLine[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe.skipIf(!supported)('HTTP: one launcher, held by a client with a process running', () => {
  let keysDir: string;
  let server: TestServer;
  let busyProcess: string;
  // The correlation id as a header: search_files takes none as an argument.
  const call = (key: string, name: string, { correlationId, ...args }: Record<string, unknown>, era: TestEra = 'legacy') =>
    rpc(server.mcpUrl, 'tools/call', { name, arguments: args }, { 'X-API-Key': key, ...(correlationId === undefined ? {} : { 'X-Correlation-ID': String(correlationId) }) }, era);

  beforeAll(async () => {
    keysDir = tempDir();
    const keysFile = join(keysDir, 'keys.json');
    writeFileSync(keysFile, JSON.stringify({ clients: [{ client_id: 'busy', api_key: KEY_BUSY, enabled: true }, { client_id: 'newcomer', api_key: KEY_NEW, enabled: true }] }));
    server = await startServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keysFile, HIDE_SANDBOX: 'required', HIDE_SANDBOX_MAX_LAUNCHERS: '1' });
    writeFileSync(join(server.workspace, 'notes.txt'), 'needle\n');
    const started = await call(KEY_BUSY, 'process_start', { command: 'sleep', arguments: ['1000.5151'] });
    expect(started.body.result.isError).toBe(false);
    busyProcess = started.body.result.structuredContent.processId;
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(keysDir, { recursive: true, force: true });
  });

  const needingALauncher = [
    ['shell_execute', { command: 'touch', arguments: ['ran-shell'] }],
    ['process_start', { command: 'touch', arguments: ['ran-process'] }],
    ['search_files', { pattern: 'needle' }],
  ] as const;

  describe.each(ERAS)('%s', (era) => {
    test.each(needingALauncher)("a new client's %s is refused with 429 / -31429, reason launchers, and nothing runs", async (name, args) => {
      const correlationId = `launchers-${era}-${name}`;
      const r = await call(KEY_NEW, name, { ...args, correlationId }, era);
      expect({ status: r.status, retryAfter: r.headers.get('retry-after'), body: r.body }).toEqual({
        status: 429,
        retryAfter: '5',
        body: { jsonrpc: '2.0', id: r.id, error: { code: -31429, message: MESSAGE, data: { retryAfterSeconds: 5, reason: 'launchers', max: 1 } } },
      });
      expect([existsSync(join(server.workspace, 'ran-shell')), existsSync(join(server.workspace, 'ran-process'))]).toEqual([false, false]);
      // Audited as a limit refusal, and only so: no tool_call line for a call that never ran.
      const line = (await waitFor(() => auditLines(server.auditFile).find((e) => e.correlation_id === correlationId), 5000, 'the refusal line')) as AuditLine;
      expect(line).toMatchObject({ event_type: 'rate_limit_exceeded', client_id: 'newcomer', tool_name: name, error: MESSAGE, result: { reason: 'launchers', max: 1, retryAfterSeconds: 5 } });
      expect(auditLines(server.auditFile).filter((e) => e.correlation_id === correlationId)).toHaveLength(1);
    });

    test('a call that asked for progress over SSE is refused before its stream opens: the same 429', async () => {
      const r = await rpc(server.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'true' }, _meta: { progressToken: 'tok' } }, { 'X-API-Key': KEY_NEW }, era);
      expect([r.status, r.headers.get('content-type'), r.headers.get('retry-after'), r.body.error?.data?.reason]).toEqual([429, 'application/json', '5', 'launchers']);
    });

    test('the busy client itself is still served by its own launcher', async () => {
      const r = await call(KEY_BUSY, 'shell_execute', { command: 'echo', arguments: ['mine'] }, era);
      expect([r.status, r.body.result?.structuredContent?.stdout]).toEqual([200, 'mine\n']);
    });
  });

  test('/metrics counts the refusals by reason', async () => {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain(`hide_rate_limit_refusals_total{reason="launchers"} ${(needingALauncher.length + 1) * ERAS.length}`);
  });

  // Last: it frees the launcher.
  test('once the busy client is done, the new client gets a launcher', async () => {
    const killed = await call(KEY_BUSY, 'process_kill', { processId: busyProcess, signal: 'SIGKILL' });
    expect(killed.body.result.structuredContent.status).toBe('killed');
    const r = await call(KEY_NEW, 'search_files', { pattern: 'needle' });
    expect([r.status, r.body.result?.structuredContent?.engine, r.body.result?.structuredContent?.matches?.length]).toEqual([200, 'ripgrep', 1]);
  });
});

// stdio has one client; the version probes of shell_get_available_tools run for no client, in a launcher of their own.
test.skipIf(!supported)('stdio: a call that needs a launcher while none is free gets -31429, reason launchers, audited', async () => {
  const dir = tempDir('hide-launchers-stdio-');
  const ws = join(dir, 'ws');
  mkdirSync(ws);
  const peer = await startStdio(ws, { HIDE_SANDBOX: 'required', HIDE_SANDBOX_MAX_LAUNCHERS: '1' });
  try {
    peer.send(JSON.stringify({ jsonrpc: '2.0', id: 'start', method: 'tools/call', params: { name: 'process_start', arguments: { command: 'sleep', arguments: ['1000.5252'] } } }));
    const started = JSON.parse(await peer.line('{"jsonrpc":"2.0","id":"start"'));
    expect(started.result.isError).toBe(false);
    peer.send(JSON.stringify({ jsonrpc: '2.0', id: 'probe', method: 'tools/call', params: { name: 'shell_get_available_tools', arguments: {} } }));
    const refused = JSON.parse(await peer.line('{"jsonrpc":"2.0","id":"probe"'));
    expect(refused).toEqual({ jsonrpc: '2.0', id: 'probe', error: { code: -31429, message: MESSAGE, data: { retryAfterSeconds: 5, reason: 'launchers', max: 1 } } });
    const audit = join(dir, 'audit.jsonl');
    const line = await waitFor(() => existsSync(audit) && auditLines(audit).find((e) => e.event_type === 'rate_limit_exceeded'), 5000, 'the refusal line');
    expect(line).toMatchObject({ client_id: 'stdio', tool_name: 'shell_get_available_tools', result: { reason: 'launchers', max: 1 } });
    // The refused probe is not cached: with the process gone, the next call probes and is answered.
    const processId = started.result.structuredContent.processId;
    peer.send(JSON.stringify({ jsonrpc: '2.0', id: 'kill', method: 'tools/call', params: { name: 'process_kill', arguments: { processId, signal: 'SIGKILL' } } }));
    await peer.line('{"jsonrpc":"2.0","id":"kill"');
    peer.send(JSON.stringify({ jsonrpc: '2.0', id: 'again', method: 'tools/call', params: { name: 'shell_get_available_tools', arguments: {} } }));
    const again = JSON.parse(await peer.line('{"jsonrpc":"2.0","id":"again"'));
    expect(again.result?.isError).toBe(false);
  } finally {
    await peer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
