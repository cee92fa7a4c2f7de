/**
 * Graceful shutdown of the real server process: in-flight calls finish
 * within the grace period; past it their process groups are killed, every
 * call is still audited, and the process exits 0; a second signal exits at
 * once, the first delivered twice does not. Markers in the sleep durations (2.00417, 100.123…) let pgrep find
 * exactly this test's processes.
 */
import { describe, expect, test } from 'bun:test';
import { ECHO_WINDOW_MS } from '../../src/ops/stop-requests.ts';
import { auditLines, exec, killMatching, pidsMatching, rpc, spawnServer, waitFor } from './helpers.ts';

describe('graceful shutdown', () => {
  test('SIGTERM during 10 in-flight `sleep 2` calls: all complete, then exit 0', async () => {
    const marker = '2.00417';
    await using s = await spawnServer({ HIDE_SHUTDOWN_GRACE_SECONDS: '10' });
    try {
      const calls = Array.from({ length: 10 }, () => exec(s.url, 'sleep', [marker]));
      await waitFor(() => pidsMatching(marker).length === 10, 5000, '10 sleeps running');
      s.kill('SIGTERM');
      // Draining: /ready turns 503 and new MCP requests are refused with 503.
      await waitFor(async () => (await fetch(`${s.url}/ready`)).status === 503, 3000, '/ready 503');
      const refused = await rpc(s.url, 'tools/list');
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.body.error.code).toBe(-31503);

      const results = await Promise.all(calls);
      expect(results.map((r) => [r.status, r.body.result?.structuredContent?.exitCode])).toEqual(Array.from({ length: 10 }, () => [200, 0]));
      expect(await s.exited).toBe(0);
      expect(auditLines(s.auditFile).filter((l) => l.event_type === 'tool_call')).toHaveLength(10);
    } finally {
      killMatching(marker);
    }
  }, 20_000);

  // The drain waits for the calls in flight: a cancellation of one of them was refused with "retry on another
  // instance", and the command ran on to the end of the grace period.
  test('while draining, notifications/cancelled still reaches the call it names; a new request is refused with its id echoed', async () => {
    const marker = '30.0417';
    await using s = await spawnServer({ HIDE_SHUTDOWN_GRACE_SECONDS: '60' });
    try {
      const post = (body: unknown) => fetch(`${s.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(body) });
      const call = post({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'sleep', arguments: [marker] } } }).then((r) => r.json() as Promise<any>);
      await waitFor(() => pidsMatching(marker).length === 1, 10_000, 'the sleep running');
      s.kill('SIGTERM');
      await waitFor(async () => (await fetch(`${s.url}/ready`)).status === 503, 3000, '/ready 503');
      const refused = await post({ jsonrpc: '2.0', id: 99, method: 'tools/list' });
      expect({ status: refused.status, body: await refused.json() }).toMatchObject({ status: 503, body: { id: 99, error: { code: -31503 } } });
      expect((await post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7, reason: 'stop' } })).status).toBe(202);
      expect((await call).result?.isError).toBe(true);
      await waitFor(() => pidsMatching(marker).length === 0, 10_000, 'the sleep killed');
      expect(await s.exited).toBe(0);
    } finally {
      killMatching(marker);
    }
  }, 30_000);

  test('grace 1 s with `sleep 100` calls: groups killed (grandchildren too), exit 0, one audit line per call', async () => {
    const marker = '100.123';
    await using s = await spawnServer({ HIDE_SHUTDOWN_GRACE_SECONDS: '1' });
    try {
      const calls = [
        ...Array.from({ length: 4 }, () => exec(s.url, 'sleep', [marker])),
        // A shell whose background child is a grandchild of the server.
        exec(s.url, 'sh', ['-c', `sleep ${marker} & sleep ${marker}; wait`]),
      ];
      // 4 sleeps + the shell + its 2 sleeps.
      await waitFor(() => pidsMatching(marker).length >= 7, 5000, 'sleeps running');
      const sandboxed = ((await (await fetch(`${s.url}/health`)).json()) as { sandbox: string }).sandbox === 'on';
      const started = performance.now();
      s.kill('SIGTERM');
      const code = await s.exited;
      const seconds = (performance.now() - started) / 1000;
      expect(code).toBe(0);
      // The 1 s grace, then the kill: far short of the sleeps' 100 s, and short of the default grace's 10 s, with
      // room for a busy machine.
      expect(seconds).toBeLessThan(8);
      await waitFor(() => pidsMatching(marker).length === 0, 5000, 'no sleep left');
      const results = await Promise.all(calls);
      // The killed calls still got their answers: a tool error, not a dropped connection.
      for (const r of results) expect([r.status, r.body.result?.isError]).toEqual([200, true]);
      // Sandboxed, the launcher is killed on purpose: the calls say why, and no replacement is started.
      if (sandboxed) {
        expect(results.map((r) => r.body.result.structuredContent.error)).toEqual(Array.from({ length: 5 }, () => 'the command was killed: the server is shutting down'));
      }
      expect(s.log()).not.toContain('exited unexpectedly');
      const audited = auditLines(s.auditFile).filter((l) => l.event_type === 'tool_call');
      expect(audited).toHaveLength(5);
    } finally {
      killMatching(marker);
    }
  }, 20_000);

  test('a second signal exits at once and still kills the children, and records the end of every long-running process', async () => {
    const marker = '100.456';
    await using s = await spawnServer({ HIDE_SHUTDOWN_GRACE_SECONDS: '60' });
    try {
      const started = await rpc(s.url, 'tools/call', { name: 'process_start', arguments: { command: 'sleep', arguments: [marker] } });
      const processId = started.body.result.structuredContent.processId as string;
      // The connections die with the process: settle the calls now so that is not an unhandled rejection.
      const calls = [exec(s.url, 'sleep', [marker]), exec(s.url, 'sleep', [marker])].map((p) => p.catch(() => null));
      await waitFor(() => pidsMatching(marker).length === 3, 5000, 'sleeps running');
      s.kill('SIGTERM');
      await waitFor(async () => (await fetch(`${s.url}/ready`)).status === 503, 3000, '/ready 503');
      // Later than the first delivered twice could come.
      await Bun.sleep(ECHO_WINDOW_MS + 100);
      s.kill('SIGTERM');
      expect(await s.exited).toBe(128 + 15);
      expect(s.log()).toContain('SIGTERM received again: killing running commands and exiting now');
      await waitFor(() => pidsMatching(marker).length === 0, 5000, 'no sleep left');
      await Promise.allSettled(calls);
      // Its end was never seen by the server, which did not wait for it: recorded as it exited (it was lost before).
      const ends = auditLines(s.auditFile).filter((l) => l.event_type === 'process_exit');
      expect(ends.map((l) => [l.arguments?.processId, l.result?.status])).toEqual([[processId, 'killed']]);
    } finally {
      killMatching(marker);
    }
  }, 20_000);

  test('the same signal twice at once (the terminal to the group, a wrapper to its child) is one stop: the drain goes on', async () => {
    const marker = '2.00419';
    await using s = await spawnServer({ HIDE_SHUTDOWN_GRACE_SECONDS: '10' });
    try {
      const call = exec(s.url, 'sleep', [marker]);
      await waitFor(() => pidsMatching(marker).length === 1, 5000, 'sleep running');
      s.kill('SIGINT');
      // Sent once the first is taken, as a wrapper's comes: two signals pending at once would be one to the kernel.
      await waitFor(() => s.log().includes('SIGINT received: draining'), 3000, 'the drain');
      s.kill('SIGINT');
      const r = await call;
      expect([r.status, r.body.result?.structuredContent?.exitCode]).toEqual([200, 0]);
      expect(await s.exited).toBe(0);
      expect(s.log()).toContain(`SIGINT received again within ${ECHO_WINDOW_MS} ms: the same stop`);
      expect(s.log()).not.toContain('exiting now');
      expect(auditLines(s.auditFile).filter((l) => l.event_type === 'tool_call')).toHaveLength(1);
    } finally {
      killMatching(marker);
    }
  }, 20_000);
});
