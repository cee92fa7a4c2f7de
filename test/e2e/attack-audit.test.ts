/**
 * Attacks on the audit log as evidence, through the real server and the real
 * CLI: something planted where verify looks for a rotated predecessor (a FIFO
 * hung it, a directory crashed it), two servers writing one log (the chain
 * forked and an untouched log read as tampered), and refusals of a keyed
 * client hidden behind a keyless flood (from its own address, or from enough
 * addresses to spend the total): they became a count by address, with no
 * client id and no tool; and a header-shaped word (`cookie:`) that masked
 * the whole rest of a command line.
 */
import { describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { sealRecord } from '../../src/audit/chain.ts';
import { rotatedNames } from '../../src/audit/rotation.ts';
import { auditLines, exec, MAIN, spawnServer } from '../ops/helpers.ts';
import { rpc, startServer, tempDir, waitFor } from '../helpers/server.ts';

describe('hide audit verify on a planted rotation set', () => {
  // A first line with a valid hash but no file_start and no genesis: verify asks the rotated file before it.
  const unmarked = sealRecord({ timestamp: '2026-01-01T00:00:00.000Z', event_type: 'tool_call' }, 'a'.repeat(64)).line;

  for (const [what, plant] of [
    ['a FIFO', (p: string) => Bun.spawnSync(['mkfifo', p]).exitCode === 0],
    ['a directory', (p: string) => (mkdirSync(p), true)],
  ] as const) {
    test(`${what} in the predecessor's place: head-cut named, no hang, no crash`, async () => {
      const dir = tempDir('attack-audit-');
      const file = join(dir, 'audit.jsonl');
      writeFileSync(file, `${unmarked}\n`);
      expect(plant(`${file}.1`)).toBe(true);
      const p = Bun.spawn(['bun', 'run', MAIN, 'audit', 'verify', file], { cwd: dir, stdout: 'pipe', stderr: 'pipe' });
      try {
        // The deadline only turns a hang (a read of a FIFO nobody writes) into a failure.
        await waitFor(() => p.exitCode !== null, 15_000, 'verify to finish');
        expect([p.exitCode, await new Response(p.stdout).text(), await new Response(p.stderr).text()]).toEqual([
          1,
          `${file}:1: head-cut: lines cut from the start: the first line is not a file start (no genesis, no file_start) and no earlier file continues into it\n`,
          '',
        ]);
      } finally {
        p.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('two servers writing one audit log', () => {
  // Two `hide stdio` sessions of one user share the default log; nothing refused the second, and each sealed its
  // lines onto its own idea of the last hash and kept its own checkpoint: an untouched log read as tampered.
  test('concurrent calls on both, with rotations between them: one chain, every call once, verify ok', async () => {
    const dir = tempDir('attack-audit-');
    const file = join(dir, 'audit.jsonl');
    try {
      const env = { HIDE_AUDIT_LOG_FILE: file, HIDE_AUDIT_LOG_MAX_BYTES: '6000', HIDE_AUDIT_LOG_KEEP: '200' };
      await using a = await spawnServer(env, { dir: join(dir, 'a') });
      await using b = await spawnServer(env, { dir: join(dir, 'b') });
      const CALLS = 40;
      await Promise.all(
        [a, b].flatMap((s, n) =>
          Array.from({ length: 4 }, async (_, c) => {
            for (let i = c; i < CALLS; i += 4) expect((await exec(s.url, 'true', [], {}, { correlationId: `s${n}-${i}` })).status).toBe(200);
          }),
        ),
      );
      for (const s of [a, b]) {
        s.kill('SIGTERM');
        expect(await s.exited).toBe(0);
        expect(s.log()).not.toContain('without the lock');
      }
      const files = [...rotatedNames(file, 200).reverse().filter((f) => existsSync(f)), file];
      expect(files.length).toBeGreaterThan(3);
      const ids = files.flatMap((f) => auditLines(f).map((l) => l.correlation_id)).sort();
      expect(ids).toEqual([0, 1].flatMap((n) => Array.from({ length: CALLS }, (_, i) => `s${n}-${i}`)).sort());
      const v = Bun.spawnSync(['bun', 'run', MAIN, 'audit', 'verify', ...files], { cwd: dir });
      expect([v.exitCode, v.stdout.toString().split('\n').at(-2)]).toEqual([0, `ok: ${CALLS * 2} lines in ${files.length} file(s), hash chain intact`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('the refusal throttle as a hiding place', () => {
  const ALICE = 'attack-audit-alice-0123456789abcdefghijkl';
  const BOB = 'attack-audit-bob-0123456789abcdefghijklmno';

  test("a keyless flood from the caller's address and from many others does not turn a keyed client's refusals into an anonymous count", async () => {
    const dir = tempDir('attack-audit-');
    const keysFile = join(dir, 'keys.json');
    writeFileSync(
      keysFile,
      JSON.stringify({ clients: [{ client_id: 'alice', api_key: ALICE, tools: ['list_directory'] }, { client_id: 'bob', api_key: BOB }] }),
      { mode: 0o600 },
    );
    // A proxy on loopback names the client: the flood comes from 11 addresses, alice's among them.
    await using s = await startServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keysFile, HIDE_TRUSTED_PROXIES: '127.0.0.1' });
    const ALICE_IP = '198.51.100.1';
    try {
      await Promise.all(
        Array.from({ length: 11 }, async (_, n) => {
          for (let i = 0; i < 61; i++) {
            const r = await fetch(s.mcpUrl, { method: 'POST', headers: { 'x-forwarded-for': `198.51.100.${n + 1}`, 'content-type': 'application/json' }, body: '{}' });
            expect(r.status).toBe(401);
            await r.arrayBuffer();
          }
        }),
      );
      // Alice probes a tool she may not call, three times, from her address.
      for (let i = 0; i < 3; i++) {
        const r = await rpc(
          s.mcpUrl,
          'tools/call',
          { name: 'shell_execute', arguments: { command: 'id', correlationId: `probe-${i}` } },
          { 'X-API-Key': ALICE, 'X-Forwarded-For': ALICE_IP },
        );
        expect(r.status).toBe(403);
      }
      await s.rt.audit.flush();
      const lines = readFileSync(s.auditFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
      const denied = lines.filter((l) => l.event_type === 'permission_denied');
      expect(denied.map((l) => [l.correlation_id, l.client_id, l.client_ip, l.tool_name])).toEqual(
        [0, 1, 2].map((i) => [`probe-${i}`, 'alice', ALICE_IP, 'shell_execute']),
      );
      // The keyless flood is still bounded and summarised.
      const summary = lines.filter((l) => l.event_type === 'auth_failure' && l.correlation_id === null);
      expect(summary).toHaveLength(1);
      expect(summary[0].result).toMatchObject({ suppressed: 11 * 61 - 600, sources: 11 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// A word shaped like an auth or cookie header masked the rest of its line, so a caller could keep the commands after
// it out of the log. Ending the mask at any shell operator leaked real header values (signed cookies hold `|` and
// `&` glued to their characters), so it ends only at what a value never holds: an operator after a space, `$(`, a
// backquote, and in a cookie header a space or a `;` before no `name=` cookie. Still hidden: what follows a `;` glued
// to an Authorization value (a token may hold one), and a `name=` word after `cookie: x;` (it reads as a cookie).
describe('redaction as a hiding place', () => {
  test('a word shaped like an auth or cookie header masks its value, not the rest of the command line', async () => {
    await using s = await startServer();
    const scripts = [
      'echo cookie: x; touch hidden-1',
      'echo Authorization: Token x && touch hidden-2',
      'echo x-authorization: $(touch hidden-3)',
      'echo Cookie: a=1; b=2 | touch hidden-4',
    ];
    for (const [i, script] of scripts.entries()) {
      const r = await rpc(s.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'sh', arguments: ['-c', script], correlationId: `header-${i}` } });
      expect(r.status).toBe(200);
      expect(existsSync(join(s.workspace, `hidden-${i + 1}`))).toBe(true);
    }
    await s.rt.audit.flush();
    const lines = readFileSync(s.auditFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
    const logged = scripts.map((_, i) => lines.find((l) => l.correlation_id === `header-${i}`)?.arguments.arguments[1]);
    expect(logged).toEqual([
      'echo cookie: [REDACTED]; touch hidden-1',
      'echo Authorization: Token [REDACTED] && touch hidden-2',
      // A value ends before `$(`: the substitution it would have hidden stays in the log.
      'echo x-authorization: $(touch hidden-3)',
      // The `;` between two cookies is masked with them, and the mask says it held shell syntax.
      'echo Cookie: [REDACTED: held shell syntax] | touch hidden-4',
    ]);
  });
});

// A private key reaches a command a line at a time (`echo '…' >> k`, one call each, as an agent writes a file it
// cannot pass whole), or cut before its END line by the 4 KiB string bound: no BEGIN and END line in one string to
// mask it by, so its body lines were logged in clear and the key could be rebuilt from the log alone. Each body
// line is a long run of random base64, masked for that shape wherever it stands.
describe('a private key written across calls', () => {
  test('no body line of the key reaches the audit log, and every command still ran', async () => {
    await using s = await startServer({ HIDE_SANDBOX: 'off' });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const lines = pem.trim().split('\n');
    const scripts = lines.map((line, i) => `echo '${line}' ${i === 0 ? '>' : '>>'} k`);
    // The same key in one command whose END line the string bound cuts off, and whole on one line.
    const cut = `${lines.slice(0, -1).map((line) => `echo '${line}' >> cut`).join('\n')}\n${'#'.repeat(4096)}\necho '${lines.at(-1)}' >> cut`;
    const oneLine = `echo ${Buffer.from(pem).toString('base64')} | base64 -d > whole`;
    for (const [i, script] of [...scripts, cut, oneLine].entries()) {
      const r = await rpc(s.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'sh', arguments: ['-c', script], correlationId: `key-line-${i}` } });
      expect(r.body.result?.structuredContent?.exitCode).toBe(0);
    }
    expect(readFileSync(join(s.workspace, 'k'), 'utf8')).toBe(pem);
    expect(readFileSync(join(s.workspace, 'whole'), 'utf8')).toBe(pem);
    await s.rt.audit.flush();
    const log = readFileSync(s.auditFile, 'utf8');
    // Every full-width body line; the last, shorter one (a few dozen characters of the key's end) is not caught.
    const body = lines.slice(1, -1).filter((line) => line.length === 64);
    expect(body.length).toBeGreaterThan(20);
    expect(body.filter((line) => log.includes(line))).toEqual([]);
    expect(log).not.toContain(Buffer.from(pem).toString('base64').slice(0, 64));
    // The commands around the masks stay readable.
    const logged = JSON.parse(log.split('\n').find((l) => l.includes('"key-line-1"'))!).arguments.arguments[1];
    expect(logged).toBe("echo '[REDACTED]' >> k");
  });
});
