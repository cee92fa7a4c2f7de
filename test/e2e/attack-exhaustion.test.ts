/**
 * A crowd of identities against the server's own resources: what one client
 * may hold is bounded per client, and what many clients hold together must be
 * bounded per instance too — an OAuth issuer that lets anyone sign up mints a
 * new client per `sub`, an operator's keys file may hold hundreds.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callTool, startServer, type TestServer, tempDir } from '../helpers/server.ts';

const keyOf = (i: number) => `crowd-key-${i}`.padEnd(43, 'x');

describe('ended processes kept readable, many clients', () => {
  const CLIENTS = 6;
  const MAX_TOTAL = 8;
  let keysDir: string;
  let server: TestServer;

  beforeAll(async () => {
    keysDir = tempDir();
    const keysFile = join(keysDir, 'keys.json');
    const clients = Array.from({ length: CLIENTS }, (_, i) => ({ client_id: `c${i}`, api_key: keyOf(i), enabled: true }));
    writeFileSync(keysFile, JSON.stringify({ clients }));
    // The table is the same over either spawner; without the sandbox six clients cost no six launchers.
    server = await startServer({
      HIDE_AUTH_ENABLED: 'true',
      HIDE_API_KEYS_FILE: keysFile,
      HIDE_SANDBOX: 'off',
      HIDE_PROCESS_MAX_PER_CLIENT: '1',
      HIDE_PROCESS_MAX_TOTAL: String(MAX_TOTAL),
    });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(keysDir, { recursive: true, force: true });
  });

  const as = (i: number) => ({ 'x-api-key': keyOf(i) });
  async function runToEnd(i: number, text: string): Promise<string> {
    const s = await callTool(server.mcpUrl, 'process_start', { command: 'echo', arguments: [text] }, as(i));
    expect(s.isError).toBe(false);
    while ((await callTool(server.mcpUrl, 'process_read', { processId: s.processId, waitMs: 2000 }, as(i))).status === 'running');
    return s.processId;
  }

  // Each client keeps 4 × HIDE_PROCESS_MAX_PER_CLIENT ended processes, each with its output ring (1 MiB by default):
  // 20 clients starting 32 short processes that printed a megabyte each held +820 MB for HIDE_PROCESS_KEEP_EXITED_SECONDS.
  test('the instance keeps at most HIDE_PROCESS_MAX_TOTAL of them, taken from the biggest keepers: a crowd cannot push out a client\'s one', async () => {
    const mine = await runToEnd(0, 'mine');
    for (let i = 1; i < CLIENTS; i++) for (let n = 0; n < 4; n++) await runToEnd(i, `crowd ${i} ${n}`);
    const kept: number[] = [];
    for (let i = 0; i < CLIENTS; i++) kept.push((await callTool(server.mcpUrl, 'process_list', {}, as(i))).processes.length);
    const read = await callTool(server.mcpUrl, 'process_read', { processId: mine }, as(0));
    expect({ total: kept.reduce((a, b) => a + b, 0) <= MAX_TOTAL, first: kept[0], mine: read.output }).toEqual({ total: true, first: 1, mine: 'mine\n' });
    // Every crowd client still reads its newest.
    expect(kept.slice(1).every((n) => n >= 1)).toBe(true);
  });
});
