/**
 * What a hostile sandboxed command reaches over sockets, with
 * HIDE_SANDBOX_NETWORK=on and with the default off: the server's own HTTP
 * port, the Redis limits store on loopback, Unix sockets another client's
 * process binds, and the local-only socket families. Two clients (alice and
 * bob) on a real server, as root and as the container's unprivileged uid.
 * Nothing leaves this machine's loopback.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RedisClient } from 'bun';
import { callTool, rpc, startServer, waitFor } from '../helpers/server.ts';
import { ALICE, BOB, startTwoClientServer, TWO_CLIENT_ATTACKS_SUPPORTED, type TwoClientServer, UNPRIVILEGED } from '../helpers/two-clients.ts';
import { hasRedis, startRedis } from '../helpers/redis.ts';

/** Copies the attack script into the workspace (owned by the server's uid when unprivileged). */
const prepare = (_top: string, ws: string) => {
  copyFileSync(join(import.meta.dir, 'fixtures', 'net-attack.py'), join(ws, 'net-attack.py'));
  return [join(ws, 'net-attack.py')];
};

/** Attack helpers bound to a running two-client server. */
function attacker(get: () => TwoClientServer) {
  const call = (key: string, command: string, args: string[] = []) =>
    callTool(`${get().server.url}/mcp`, 'shell_execute', { command, arguments: args }, { 'X-API-Key': key });
  const attack = async (key: string, ...args: string[]) => {
    const r = await call(key, 'python3', ['net-attack.py', ...args]);
    if (!r.stdout) throw new Error(`attack ${args[0]} printed nothing: ${JSON.stringify(r)}`);
    return JSON.parse(r.stdout);
  };
  /** Alice listens (MODE ARG…) in the background; the returned promise is her result. Waits until she is listening or failed. */
  const listen = async (ready: string, mode: string, ...args: string[]) => {
    const result = attack(ALICE, mode, ...args.slice(0, 1), ready, ...args.slice(1));
    // The file is made before its word is written: wait for the word, not the name.
    const state = (await waitFor(() => (existsSync(join(get().ws, ready)) ? readFileSync(join(get().ws, ready), 'utf8') || null : null), 15_000, `alice's ${mode}`)) as string;
    return { state, result };
  };
  return { call, attack, listen };
}

describe.skipIf(!TWO_CLIENT_ATTACKS_SUPPORTED || !hasRedis).each([
  ['as root', undefined],
  [`as uid ${UNPRIVILEGED}`, UNPRIVILEGED],
] as const)('network on, guarded, %s', (_name, uid) => {
  const PASSWORD = 'redis-pw-0123456789abcdef';
  let running: TwoClientServer;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let redisPort = 0;
  let port = '';
  const { call, attack, listen } = attacker(() => running);

  beforeAll(async () => {
    redis = await startRedis(undefined, PASSWORD);
    redisPort = redis.port;
    running = await startTwoClientServer({
      prefix: 'hide-net-on-',
      uid,
      prepare,
      env: {
        HIDE_SANDBOX_NETWORK: 'on',
        HIDE_RATE_LIMIT_STORE: 'redis',
        HIDE_REDIS_URL: redis.url,
        HIDE_RATE_LIMIT_RPM: '1000',
        HIDE_METRICS_TOKEN: 'metrics-token-0123456789abcdef',
      },
    });
    port = new URL(running.server.url).port;
  });
  afterAll(async () => {
    await running?.stop();
    await redis?.stop();
  });

  test('guarded as the README says, the server has nothing to warn about', () => {
    expect(running.server.logs()).not.toContain('HIDE_SANDBOX_NETWORK=on');
  });

  test("bob's command on the server's own port: no tool call without a key, no metrics without the token, /ready says only that it is ready", async () => {
    const listTools = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'id' } } });
    const mcp = await attack(BOB, 'http', port, 'POST', '/mcp', listTools);
    expect(mcp.status).toBe(401);
    expect((await attack(BOB, 'http', port, 'GET', '/metrics')).status).toBe(401);
    expect(await attack(BOB, 'http', port, 'GET', '/ready')).toEqual({ status: 200, body: '{"status":"ready"}' });
  });

  test("bob's command cannot bind the server's own port, with SO_REUSEPORT or without, to take a share of its connections (and the keys they carry)", async () => {
    // The server listens without SO_REUSEPORT, and the filter refuses a command the option for any port.
    expect(await attack(BOB, 'share-port', port)).toEqual({ reuseport: 'EPERM', plain: 'EADDRINUSE', 'other options': 'set' });
  });

  test("the Redis limits store with a password: bob's command can neither read, reset nor flush the limits", async () => {
    expect((await call(BOB, 'true')).exitCode).toBe(0);
    for (const cmd of [['KEYS', '*'], ['DEL', 'hide:rl:{bob}:rpm'], ['FLUSHALL'], ['CONFIG', 'SET', 'maxmemory', '1']]) {
      expect((await attack(BOB, 'redis', String(redisPort), ...cmd)).reply).toStartWith('-NOAUTH');
    }
    const c = new RedisClient(redis.url);
    try {
      expect(Number(await c.send('ZCARD', ['hide:rl:{bob}:rpm']))).toBeGreaterThan(0);
    } finally {
      c.close();
    }
  });

  test('socket families: netlink works locally, raw packets need a capability no command holds', async () => {
    const out = await attack(BOB, 'families');
    expect(out.packet).toBe('Operation not permitted');
    expect(out.netlink_route).toBe('bound');
  });

  test("an abstract Unix socket alice's process listens on is out of bob's reach (Landlock scoping)", async () => {
    const { state, result } = await listen('abstract-ready', 'abstract-listen', 'hide-net-chan', '3');
    expect(state).toBe('listening');
    expect(await attack(BOB, 'abstract-connect', 'hide-net-chan')).toEqual({ connect: 'Operation not permitted' });
    expect((await result).accept).not.toBe('handed a descriptor');
  });

  test("(documented: the shared workspace) a pathname socket alice binds in the workspace reaches bob's command, descriptors and all", async () => {
    const sock = join(running.ws, 'chan.sock');
    const { state, result } = await listen('path-ready', 'listen', sock);
    expect(state).toBe('listening');
    expect(await attack(BOB, 'connect', sock)).toEqual({ connect: 'connected', fd: "from the listener's TMPDIR\n" });
    expect(await result).toEqual({ accept: 'handed a descriptor' });
  });

  // As root each launcher's temp directory shows only its own client's TMPDIR; an unprivileged server cannot mount.
  (uid === undefined ? test : test.failing)(`${uid === undefined ? '' : '(open, unprivileged) '}a socket alice's process binds in her private TMPDIR is out of bob's reach`, async () => {
    const { state, result } = await listen('tmp-ready', 'tmp-listen', 'agent.sock', '5');
    expect(state).toBe('listening');
    const got = await attack(BOB, 'find-connect', 'agent.sock');
    // Alice's own command still reaches it, and ends her wait (when bob's attack did not).
    await call(ALICE, 'sh', ['-c', 'python3 net-attack.py connect "$TMPDIR/agent.sock"']);
    await result;
    expect(got).toEqual({ connect: 'No such file or directory' });
  });
});

describe.skipIf(!TWO_CLIENT_ATTACKS_SUPPORTED || !hasRedis)('network on, nothing guarded, as root', () => {
  let running: TwoClientServer;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let redisPort = 0;
  const { call, attack } = attacker(() => running);

  beforeAll(async () => {
    redis = await startRedis();
    redisPort = redis.port;
    running = await startTwoClientServer({
      prefix: 'hide-net-open-',
      uid: undefined,
      prepare,
      env: { HIDE_SANDBOX_NETWORK: 'on', HIDE_RATE_LIMIT_STORE: 'redis', HIDE_REDIS_URL: redis.url, HIDE_RATE_LIMIT_RPM: '1000', HIDE_RATE_LIMIT_CONCURRENT: '2', HIDE_TRUSTED_PROXIES: '127.0.0.1' },
    });
  });
  afterAll(async () => {
    await running?.stop();
    await redis?.stop();
  });

  test('the server says at start what a network-on command reaches unguarded, naming each setting that closes it', () => {
    const warnings = running.server.logs().split('\n').filter((l) => l.includes('HIDE_SANDBOX_NETWORK=on'));
    expect(warnings.map((l) => /HIDE_METRICS_TOKEN|HIDE_TRUSTED_PROXIES trusts|HIDE_REDIS_URL/.exec(l)?.[0])).toEqual(['HIDE_METRICS_TOKEN', 'HIDE_TRUSTED_PROXIES trusts', 'HIDE_REDIS_URL']);
    for (const l of warnings) expect(JSON.parse(l).level).toBe('warn');
  });

  test("(documented, as warned) without a Redis password bob's command fills alice's slots, and can empty them again", async () => {
    expect((await call(ALICE, 'true')).exitCode).toBe(0);
    const far = String(Date.now() + 3_600_000);
    expect((await attack(BOB, 'redis', String(redisPort), 'ZADD', 'hide:rl:{alice}:slots', far, 'x1', far, 'x2')).reply).toBe(':2');
    const refused = await rpc(`${running.server.url}/mcp`, 'tools/call', { name: 'shell_execute', arguments: { command: 'true' } }, { 'X-API-Key': ALICE });
    expect({ status: refused.status, reason: refused.body.error?.data?.reason }).toEqual({ status: 429, reason: 'concurrency' });
    expect((await attack(BOB, 'redis', String(redisPort), 'DEL', 'hide:rl:{alice}:slots')).reply).toBe(':1');
    expect((await call(ALICE, 'true')).exitCode).toBe(0);
  });
});

describe.skipIf(!TWO_CLIENT_ATTACKS_SUPPORTED).each([
  ['as root', undefined],
  [`as uid ${UNPRIVILEGED}`, UNPRIVILEGED],
] as const)('network off %s', (_name, uid) => {
  let running: TwoClientServer;
  const { attack, listen } = attacker(() => running);

  beforeAll(async () => {
    running = await startTwoClientServer({ prefix: 'hide-net-off-', uid, prepare });
  });
  afterAll(async () => {
    await running?.stop();
  });

  test('no socket family is created, not even one bound only locally (netlink, packet, vsock, Unix, TCP)', async () => {
    const denied = 'Operation not permitted';
    expect(await attack(BOB, 'families')).toEqual({ netlink_route: denied, netlink_sock_diag: denied, packet: denied, vsock: denied, unix: denied, tcp: denied });
  });

  // Bound, an abstract name was a dead end for other commands but taken from the host: a service binding it later
  // (on an unprivileged server commands share the host's network namespace) got EADDRINUSE.
  test("a socketpair end binds to no workspace path and no abstract name; bob's command cannot connect to one either", async () => {
    const bound = await attack(ALICE, 'pair-bind', join(running.ws, 'pair.sock'));
    expect(bound).toEqual({ pathname: 'Operation not permitted', abstract: 'Operation not permitted' });
    expect(await attack(BOB, 'connect', join(running.ws, 'pair.sock'))).toEqual({ connect: 'Operation not permitted' });
  });

  test('alice cannot listen on a workspace path, an abstract name or her TMPDIR, so no descriptor can reach bob', async () => {
    for (const [mode, arg] of [['listen', join(running.ws, 'off.sock')], ['abstract-listen', 'hide-net-off'], ['tmp-listen', 'agent.sock']] as const) {
      const { state, result } = await listen(`${mode}-ready`, mode, arg);
      expect(state).toBe('failed');
      expect(await result).toEqual({ listen: 'Operation not permitted' });
    }
  });
});

describe.skipIf(!TWO_CLIENT_ATTACKS_SUPPORTED)('network on with authentication off', () => {
  test("(documented) a command is one more local client: its own tool call runs sandboxed, audited under the loopback address with a correlation id of its own", async () => {
    await using s = await startServer({ HIDE_SANDBOX: 'required', HIDE_SANDBOX_NETWORK: 'on' });
    copyFileSync(join(import.meta.dir, 'fixtures', 'net-attack.py'), join(s.workspace, 'net-attack.py'));
    const port = new URL(s.url).port;
    const inner = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'cat', arguments: ['/etc/shadow'], correlationId: 'inner-call' } } });
    const outer = await callTool(s.mcpUrl, 'shell_execute', { command: '/usr/bin/python3', arguments: ['net-attack.py', 'http', port, 'POST', '/mcp', inner], correlationId: 'outer-call' });
    if (!outer.stdout) throw new Error(JSON.stringify(outer));
    const answer = JSON.parse(outer.stdout);
    expect(answer.status).toBe(200);
    // Through the same sandbox: the nested command reads no more than the command that sent it.
    const result = JSON.parse(answer.body).result.structuredContent;
    expect({ exitCode: result.exitCode, stdout: result.stdout }).toEqual({ exitCode: 1, stdout: '' });
    await waitFor(() => readFileSync(s.auditFile, 'utf8').includes('inner-call'), 5000, 'the inner call audited');
    const lines = readFileSync(s.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const innerLine = lines.find((l) => l.correlation_id === 'inner-call');
    expect({ client_id: innerLine.client_id, client_ip: innerLine.client_ip, api_key_hash: innerLine.api_key_hash }).toEqual({ client_id: '127.0.0.1', client_ip: '127.0.0.1', api_key_hash: null });
  }, 30_000);
});
