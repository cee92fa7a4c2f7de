/**
 * The protocol versions we speak are the SDK's: the lists in
 * src/mcp/protocol.ts equal the SDK's exports, the server answers initialize
 * with each of them (and with the latest for anything else), accepts each in
 * the MCP-Protocol-Version header, and the SDK's own client connects at the
 * latest one.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import * as sdk from '@modelcontextprotocol/sdk/types.js';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '../../src/mcp/protocol.ts';
import { rpc, startServer, type TestServer } from '../helpers/server.ts';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(() => s.stop());

const initialize = (protocolVersion: unknown) =>
  rpc(s.mcpUrl, 'initialize', { protocolVersion, capabilities: {}, clientInfo: { name: 'test', version: '1' } });

describe('protocol versions', () => {
  test('our lists equal the SDK exports', () => {
    expect({ latest: LATEST_PROTOCOL_VERSION, supported: SUPPORTED_PROTOCOL_VERSIONS }).toEqual({
      latest: sdk.LATEST_PROTOCOL_VERSION,
      supported: sdk.SUPPORTED_PROTOCOL_VERSIONS,
    });
  });

  test('initialize echoes every version the SDK supports', async () => {
    const answered: Record<string, unknown> = {};
    for (const version of sdk.SUPPORTED_PROTOCOL_VERSIONS) answered[version] = (await initialize(version)).body.result.protocolVersion;
    expect(answered).toEqual(Object.fromEntries(sdk.SUPPORTED_PROTOCOL_VERSIONS.map((v) => [v, v])));
  });

  test.each([['1999-01-01'], [''], [42], [null]])('initialize with %p announces the latest', async (version) => {
    expect((await initialize(version)).body.result.protocolVersion).toBe(sdk.LATEST_PROTOCOL_VERSION);
  });

  test('the MCP-Protocol-Version header: each SDK version accepted, others refused', async () => {
    const statuses: Record<string, number> = {};
    for (const version of [...sdk.SUPPORTED_PROTOCOL_VERSIONS, '1999-01-01']) {
      statuses[version] = (await rpc(s.mcpUrl, 'tools/list', undefined, { 'mcp-protocol-version': version })).status;
    }
    expect(statuses).toEqual({ ...Object.fromEntries(sdk.SUPPORTED_PROTOCOL_VERSIONS.map((v) => [v, 200])), '1999-01-01': 400 });
  });

  test("the SDK's client negotiates the latest version", async () => {
    const transport = new StreamableHTTPClientTransport(new URL(s.mcpUrl));
    const client = new Client({ name: 'test', version: '1' });
    await client.connect(transport);
    expect(transport.protocolVersion).toBe(sdk.LATEST_PROTOCOL_VERSION);
    await client.close();
  });
});
