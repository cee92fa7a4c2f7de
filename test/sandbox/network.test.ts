/** TCP from sandboxed commands to a loopback port this test opens. */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { TCPSocketListener } from 'bun';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import type { SandboxRuleOptions } from '../../src/sandbox/rules.ts';
import { type Fixture, makeFixture, makeLauncher, sh } from './helpers.ts';

let fx: Fixture;
let listener: TCPSocketListener;

beforeAll(() => {
  fx = makeFixture();
  listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {}, open(s) { s.end(); } } });
});

afterAll(() => {
  listener.stop(true);
  fx[Symbol.dispose]();
});

async function connect(network: SandboxRuleOptions['network']): Promise<{ exitCode: number; stderr: string }> {
  const sandbox = makeLauncher(fx.workspace, network);
  try {
    return await sh(sandbox, fx.workspace, `exec /bin/bash -c 'exec 3<>/dev/tcp/127.0.0.1/${listener.port} && echo connected'`);
  } finally {
    await sandbox.close();
  }
}

test.skipIf(landlockAbi() < 4)('with the network off a TCP connect fails', async () => {
  const res = await connect('off');
  expect(res.exitCode).not.toBe(0);
  // seccomp refuses the socket itself (EPERM) before Landlock would refuse the connect (EACCES).
  expect(res.stderr).toMatch(/Operation not permitted|Permission denied/);
});

test('with the network on the same connect works', async () => {
  expect(await connect('on')).toMatchObject({ exitCode: 0, stderr: '' });
});

test.skipIf(landlockAbi() < 4)('an allowlisted port works while others stay closed', async () => {
  expect(await connect({ allowConnectPorts: [listener.port] })).toMatchObject({ exitCode: 0, stderr: '' });
  const other = listener.port === 65535 ? 65534 : listener.port + 1;
  // The whole result, so that a failure shows a timeout apart from a refusal.
  expect(await connect({ allowConnectPorts: [other] })).toMatchObject({ stderr: expect.stringContaining('Permission denied') });
});

test.skipIf(landlockAbi() < 4)('binding a TCP port is refused with the network off', async () => {
  const sandbox = makeLauncher(fx.workspace, 'off');
  try {
    const res = await sh(sandbox, fx.workspace, `/usr/bin/python3 -c 'import socket; socket.socket().bind(("127.0.0.1", 0))'`);
    expect(res.exitCode).not.toBe(0);
    expect(res.stderr).toContain('PermissionError');
  } finally {
    await sandbox.close();
  }
});
