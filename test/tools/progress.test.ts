/**
 * shell_execute reports progress through the call context while the command
 * runs (the transports turn the reports into notifications/progress): bytes
 * so far, increasing, with the newest output as the message, throttled —
 * with the sandbox on (from the launcher) and off (local process groups).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { CallContext, ProgressUpdate } from '../../src/core/context.ts';
import { LEGACY_ERA } from '../../src/mcp/era.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

describe.each([['on (auto)', {}], ['off', { HIDE_SANDBOX: 'off' }]] as const)('shell_execute progress with the sandbox %s', (_name, env) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer(env);
  });
  afterAll(() => server?.stop());

  function ctx(progress?: (u: ProgressUpdate) => void): CallContext {
    return { clientId: 'progress-test', clientIp: '127.0.0.1', apiKeyHash: null, correlationId: 'c-1', transport: 'stdio', signal: new AbortController().signal, allowedTools: null, readOnly: false, progress };
  }

  test('a command printing five lines 0.3 s apart reports increasing bytes and the newest line before its result', async () => {
    const updates: ProgressUpdate[] = [];
    const out = await server.rt.core.dispatcher.dispatch(
      { id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'sh', arguments: ['-c', 'for i in 1 2 3 4 5; do echo $i; sleep 0.3; done'] } } },
      LEGACY_ERA,
      ctx((u) => updates.push(u)),
    );
    expect(JSON.parse(out.body!).result.structuredContent.stdout).toBe('1\n2\n3\n4\n5\n');
    expect(updates.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < updates.length; i++) expect(updates[i]!.progress).toBeGreaterThan(updates[i - 1]!.progress);
    expect(updates.at(-1)!.progress).toBe(10);
    expect(updates[0]!.message).toStartWith('1\n');
    expect(updates.at(-1)!.message).toEndWith('5\n');
  });

  test('a flood is throttled: far fewer reports than chunks, the message capped', async () => {
    const updates: ProgressUpdate[] = [];
    await server.rt.core.dispatcher.dispatch(
      { id: 2, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'head', arguments: ['-c', '4000000', '/dev/zero'] } } },
      LEGACY_ERA,
      ctx((u) => updates.push(u)),
    );
    // At most one report per 8 KiB (plus the last); the bytes still add up.
    expect(updates.length).toBeLessThanOrEqual(4_000_000 / 8192 + 2);
    expect(updates.at(-1)!.progress).toBe(4_000_000);
    for (const u of updates) expect(u.message!.length).toBeLessThanOrEqual(512);
  });

  test('without a reporter nothing changes', async () => {
    const out = await server.rt.core.dispatcher.dispatch(
      { id: 3, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'echo', arguments: ['plain'] } } },
      LEGACY_ERA,
      ctx(),
    );
    expect(JSON.parse(out.body!).result.structuredContent.stdout).toBe('plain\n');
  });
});
