/**
 * What a crowd of identities makes the server hold: the figures behind the
 * exhaustion attacks (test/e2e/attack-exhaustion.test.ts and the spawner
 * test). The real server is built in this process (test/helpers/server.ts) or
 * started as a child (`conns`); RSS is read after a forced full GC, and
 * descriptors from /proc. Not part of `bun run bench`.
 *
 *   ended N PER     N key clients each start PER processes printing 1 MiB and
 *                   let them end (sandbox off): ring bytes and RSS kept.
 *   launchers N C   N key clients, C at a time, one `echo` each, sandbox
 *                   required: launchers, descriptors, their RSS and PSS.
 *   subs N          N OAuth subs (JWTs signed by the issuer's key), one
 *                   read_file each, limits on: RSS per 1000 subs.
 *   core N          N messages with distinct ids (1 KiB strings, big
 *                   numbers), _meta keys, progress tokens, cancellations.
 *   conns N         N connections that never finish their headers, a byte
 *                   every 4 s, against `hide serve` in a child.
 *
 * Measured on 2026-12-02 (2 cores, root):
 *   ended 20 32: rings 640 MiB, RSS 59 → 877 MB, kept for
 *     HIDE_PROCESS_KEEP_EXITED_SECONDS; with the instance bound 64 MiB, 182 MB.
 *   launchers 80 8: 65 launchers (64 + the spare), 357 descriptors (~5.2 each),
 *     launcher RSS 46 MB each, PSS 10 MB each (674 MB for 64); server RSS +7 MB;
 *     all gone at close. With 70 busy at once: 6 refused (then a tool error,
 *     now 429 / -31429, reason `launchers`).
 *   HIDE_SANDBOX_MAX_LAUNCHERS=4, launchers 16 16: 12 refused with 429, 5
 *     launchers (4 + the spare), PSS 91 MB together (fewer share less).
 *   subs 12000: RSS 108 → 130 MB, flat after the first 2000 (verified-token
 *     cache and limiter windows are bounded or swept).
 *   core 16000: RSS 77 → 76 MB, descriptors flat.
 *   conns 2000: +2000 descriptors for 8-12 s (closed by the server's idle
 *     timeout, which trickled bytes do not extend), RSS flat.
 *
 * Usage: bun bench/experiments/crowd-identities.ts MODE [N] [PER|C]
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { freePort, TestIdp } from '../../test/helpers/oidc.ts';
import { startServerProcess } from '../../test/helpers/process.ts';
import { callTool, MODERN_META, rpc, startServer, tempDir, waitFor } from '../../test/helpers/server.ts';

const [mode = 'ended', nArg, mArg] = process.argv.slice(2);
const N = Number(nArg ?? 10);
const M = mArg === undefined ? undefined : Number(mArg);

const rssOf = (pid: number | 'self') => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024);
const rss = () => {
  Bun.gc(true);
  Bun.gc(true);
  return rssOf('self');
};
const fds = (pid: number | 'self' = 'self') => readdirSync(`/proc/${pid}/fd`).length;
const children = () => readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);

function keyClients(n: number): { keysFile: string; keys: string[] } {
  const dir = tempDir();
  const keys = Array.from({ length: n }, (_, i) => `crowd-${i}`.padEnd(43, 'x'));
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify({ clients: keys.map((api_key, i) => ({ client_id: `c${i}`, api_key, enabled: true })) }));
  return { keysFile, keys };
}

async function ended(): Promise<void> {
  const per = M ?? 32;
  const { keysFile, keys } = keyClients(N);
  const s = await startServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keysFile, HIDE_SANDBOX: 'off' });
  const ringBytes = async () => Number(/^hide_process_buffer_bytes (\d+)/m.exec(await (await fetch(`${s.url}/metrics`)).text())?.[1]);
  const before = { rss: rss(), fds: fds(), rings: await ringBytes() };
  await Promise.all(
    keys.map(async (key) => {
      for (let i = 0; i < per; i++) {
        const r = await callTool(s.mcpUrl, 'process_start', { command: 'head', arguments: ['-c', '1048576', '/dev/urandom'] }, { 'x-api-key': key });
        if (r.isError) throw new Error(JSON.stringify(r));
        while ((await callTool(s.mcpUrl, 'process_read', { processId: r.processId, cursor: 1 << 30, waitMs: 2000 }, { 'x-api-key': key })).status === 'running');
      }
    }),
  );
  console.log(JSON.stringify({ clients: N, per, before, after: { rss: rss(), fds: fds(), rings: await ringBytes() } }));
  await s.stop();
}

async function launchers(): Promise<void> {
  const conc = M ?? 8;
  const { keysFile, keys } = keyClients(N);
  // HIDE_SANDBOX_MAX_LAUNCHERS from the environment bounds the launchers (64 by default).
  const bound = process.env.HIDE_SANDBOX_MAX_LAUNCHERS;
  const s = await startServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keysFile, HIDE_SANDBOX: 'required', ...(bound ? { HIDE_SANDBOX_MAX_LAUNCHERS: bound } : {}) });
  const before = { rss: rss(), fds: fds(), children: children().length };
  let next = 0;
  const refused: string[] = [];
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < N) {
        const key = keys[next++]!;
        const r = await rpc(s.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: ['hi'] } }, { 'x-api-key': key });
        if (r.status !== 200 || r.body.result?.isError) refused.push(`${r.status} ${JSON.stringify(r.body.error ?? r.body.result?.structuredContent?.error)}`);
      }
    }),
  );
  let launcherRss = 0;
  let launcherPss = 0;
  const kids = children();
  for (const pid of kids) {
    launcherRss += rssOf(Number(pid));
    launcherPss += Math.round(Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1]) / 1024);
  }
  console.log(JSON.stringify({ clients: N, before, after: { rss: rss(), fds: fds(), children: kids.length, launcherRss, launcherPss }, refused: refused.length, firstRefusal: refused[0] ?? null }));
  await s.stop();
  console.log(JSON.stringify({ closed: { fds: fds(), children: children().length } }));
}

async function subs(): Promise<void> {
  const port = freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const idp = await TestIdp.start(resource);
  const s = await startServer(
    { HIDE_AUTH_MODE: 'oauth', HIDE_OAUTH_RESOURCE: resource, HIDE_OAUTH_ISSUERS: JSON.stringify([idp.issuer]), HIDE_SANDBOX: 'off', HIDE_RATE_LIMIT_ENABLED: 'true', HIDE_AUDIT_LOG_ENABLED: 'false' },
    { port },
  );
  s.rt.ops.lifecycle.markReady();
  await waitFor(async () => (await fetch(`${s.url}/ready`)).status === 200, 10_000, 'signing keys');
  const now = Math.floor(Date.now() / 1000);
  const key = idp.keys[0]!;
  const claims = (i: number) => ({ sub: `user-${i}`, client_id: 'crowd', scope: 'hide:read', iss: idp.issuer, aud: resource, iat: now, exp: now + 600 });
  const snaps = [{ subs: 0, rss: rss(), fds: fds() }];
  let failed = 0;
  for (let i = 0; i < N; i += 16) {
    const tokens = await Promise.all(
      Array.from({ length: Math.min(16, N - i) }, (_, j) => new SignJWT(claims(i + j)).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' }).sign(key.privateKey)),
    );
    await Promise.all(
      tokens.map(async (t) => {
        const r = await callTool(s.mcpUrl, 'read_file', { path: '.keep' }, { authorization: `Bearer ${t}` }).catch(() => null);
        if (r === null || r.isError) failed++;
      }),
    );
    if ((i + 16) % 1008 === 0 || i + 16 >= N) snaps.push({ subs: Math.min(i + 16, N), rss: rss(), fds: fds() });
  }
  console.log(JSON.stringify({ subs: N, failed, snaps }));
  await s.stop();
  await idp.stop();
}

async function core(): Promise<void> {
  const s = await startServer({ HIDE_SANDBOX: 'off' });
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(body) }).then((r) => r.text());
  let k = 0;
  const send = async (count: number) => {
    for (let done = 0; done < count; done += 16) {
      await Promise.all(
        Array.from({ length: 16 }, () => {
          const n = k++;
          const id = n % 3 === 0 ? `id-${n}-${'x'.repeat(1000)}` : n % 3 === 1 ? 1e15 + n : `${n}`;
          switch (n % 4) {
            case 0:
              return post({ jsonrpc: '2.0', id, method: 'tools/list', params: { _meta: { ...MODERN_META, progressToken: `t${n}`, [`x.y/${n}`]: { a: n } } } }, { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' });
            case 1:
              return post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'x' } });
            case 2:
              return post({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'true' }, _meta: { progressToken: n } } });
            default:
              return post({ jsonrpc: '2.0', id, method: 'ping' });
          }
        }),
      );
    }
  };
  await send(2000);
  const warm = { rss: rss(), fds: fds() };
  await send(N);
  console.log(JSON.stringify({ messages: N, warm, after: { rss: rss(), fds: fds() } }));
  await s.stop();
}

async function conns(): Promise<void> {
  const dir = tempDir();
  const s = await startServerProcess({ cwd: dir, env: { HIDE_WORKSPACE: dir, HIDE_API_KEY: 'k'.repeat(43), HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl') } });
  const pid = s.proc.pid;
  const port = Number(new URL(s.url).port);
  const snap = (at: string) => console.log(JSON.stringify({ at, fds: fds(pid), rss: rssOf(pid), closed }));
  let closed = 0;
  snap('before');
  const socks: Socket[] = [];
  for (let i = 0; i < N; i++) {
    const c = connect(port, '127.0.0.1');
    c.on('error', () => {});
    c.on('close', () => closed++);
    c.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-${i}: `);
    socks.push(c);
  }
  await Bun.sleep(1000);
  snap('1 s');
  for (let t = 1; t <= 5; t++) {
    await Bun.sleep(4000);
    for (const c of socks) if (!c.destroyed) c.write('a');
    snap(`${1 + 4 * t} s`);
  }
  for (const c of socks) c.destroy();
  await s.stop();
}

const modes: Record<string, () => Promise<void>> = { ended, launchers, subs, core, conns };
const run = modes[mode];
if (!run) throw new Error(`mode is one of ${Object.keys(modes).join(', ')}`);
await run();
