/**
 * `hide keys` and `hide health` find their settings as `serve` does: from the
 * environment, `.env`, --config or HIDE_CONFIG, under the seeds' names too.
 * Each runs the real program in a directory of its own with a clean
 * environment.
 */
import { describe, expect, test } from 'bun:test';
import { chmodSync, closeSync, constants, existsSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { AuditWriter } from '../../src/audit/writer.ts';
import { Redactor } from '../../src/audit/redact.ts';
import { libc } from '../../src/util/libc.ts';
import { runCli } from '../helpers/cli.ts';
import { waitFor } from '../helpers/wait.ts';
import { configDir } from './helpers.ts';

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts');

const hide = runCli;

const clientsIn = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { clients: { client_id: string }[] }).clients.map((c) => c.client_id);

describe('hide keys', () => {
  test.concurrent('the keys file from .env, under the seed name', async () => {
    using dir = configDir({ '.env': 'SECURITY_API_KEYS_FILE=secrets/keys.json\n' });
    dir.write('secrets/.keep', '');
    // The workspace elsewhere: a .env that sets settings is read only where commands cannot write it.
    const r = await hide(['keys', 'generate', '--client-id', 'from-dotenv'], dir.path, { HIDE_WORKSPACE: dir.workspace });
    expect({ code: r.code, clients: clientsIn(join(dir.path, 'secrets/keys.json')) }).toEqual({ code: 0, clients: ['from-dotenv'] });
  });

  test.concurrent('the keys file from --config, and from HIDE_CONFIG', async () => {
    using dir = configDir({ 'hide.json': { auth: { keysFile: 'k1.json' } }, 'other.json': { auth: { keysFile: 'k2.json' } } });
    const a = await hide(['keys', 'generate', '--client-id', 'by-flag', '--config', 'hide.json'], dir.path, { HIDE_CONFIG: 'other.json' });
    const b = await hide(['keys', 'generate', '--client-id', 'by-env'], dir.path, { HIDE_CONFIG: 'other.json' });
    const list = await hide(['keys', 'list', '--config', 'hide.json'], dir.path);
    expect({
      codes: [a.code, b.code, list.code],
      k1: clientsIn(join(dir.path, 'k1.json')),
      k2: clientsIn(join(dir.path, 'k2.json')),
      listed: list.stdout.split('\n')[1]?.split(/\s+/)[0],
    }).toEqual({ codes: [0, 0, 0], k1: ['by-flag'], k2: ['by-env'], listed: 'by-flag' });
  });

  test.concurrent('--file wins; with nothing set, .mcp_keys.json here', async () => {
    using dir = configDir({ '.env': 'HIDE_API_KEYS_FILE=ignored.json\n' });
    const a = await hide(['keys', 'generate', '--client-id', 'explicit', '--file', 'mine.json'], dir.path);
    using bare = configDir();
    const b = await hide(['keys', 'generate', '--client-id', 'plain'], bare.path);
    expect({
      codes: [a.code, b.code],
      mine: clientsIn(join(dir.path, 'mine.json')),
      ignored: existsSync(join(dir.path, 'ignored.json')),
      plain: clientsIn(join(bare.path, '.mcp_keys.json')),
    }).toEqual({ codes: [0, 0], mine: ['explicit'], ignored: false, plain: ['plain'] });
  });

  test('generate waits while another holds the keys directory, however long, then adds to what that one wrote', async () => {
    using dir = configDir({ 'keys/.keep': '' });
    const keysDir = join(dir.path, 'keys');
    // This test plays a generate that is slow (or stopped) between reading the file and writing it back.
    const fd = openSync(keysDir, constants.O_RDONLY | constants.O_DIRECTORY);
    let proc: ReturnType<typeof Bun.spawn> | null = null;
    try {
      expect(libc().flock(fd, 2 | 4)).toBe(0); // LOCK_EX | LOCK_NB
      proc = Bun.spawn([process.execPath, MAIN, 'keys', 'generate', '--client-id', 'second', '--file', 'keys/k.json'], {
        cwd: dir.path,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir.path },
        stdout: 'pipe',
        stderr: 'pipe',
      });
      const pid = proc.pid;
      // Waiting for the lock: it holds the directory open and has written nothing.
      const holdsDir = () =>
        readdirSync(`/proc/${pid}/fd`).some((n) => {
          try {
            return readlinkSync(`/proc/${pid}/fd/${n}`) === keysDir;
          } catch {
            return false; // closed meanwhile
          }
        });
      await waitFor(holdsDir, 5000, 'generate waiting on the lock');
      expect(existsSync(join(keysDir, 'k.json'))).toBe(false);
      dir.write('keys/k.json', { clients: [{ client_id: 'first', api_key_sha256: '0'.repeat(64) }] });
    } finally {
      closeSync(fd);
    }
    expect(await proc.exited).toBe(0);
    expect({ clients: clientsIn(join(keysDir, 'k.json')), left: readdirSync(keysDir).sort() }).toEqual({ clients: ['first', 'second'], left: ['.keep', 'k.json'] });
  });

  test.concurrent('a broken config file is reported, exit 2', async () => {
    using dir = configDir();
    const r = await hide(['keys', 'list'], dir.path, { HIDE_CONFIG: 'missing.json' });
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 2,
      stderr: `hide keys: Invalid configuration:\n  - config file ${join(dir.path, 'missing.json')}: file not found\n`,
    });
  });
});

describe('hide health', () => {
  // Stands in for a server: /health answers as hide's does.
  function fakeServer() {
    return Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => Response.json({ status: 'healthy' }) });
  }

  test.concurrent('probes the port from .env, from --config (seed section) and from HIDE_CONFIG', async () => {
    await using server = fakeServer();
    using dir = configDir({ 'seed.json': { server: { port: server.port } }, 'conf/hide.json': { port: server.port } });
    using dotenvDir = configDir({ '.env': `HIDE_PORT=${server.port}\n` });
    const results = await Promise.all([
      hide(['health'], dotenvDir.path, { HIDE_WORKSPACE: dotenvDir.workspace }),
      hide(['health', '--config', 'seed.json'], dir.path),
      hide(['health'], dir.path, { HIDE_CONFIG: 'conf/hide.json' }),
    ]);
    const healthy = { code: 0, stdout: 'healthy\n', stderr: '' };
    expect(results).toEqual([healthy, healthy, healthy]);
  });

  test.concurrent('probes the address serve binds: a named one itself, a wildcard on loopback; a bad --url or port 0 is a usage error, exit 2', async () => {
    await using onV6 = Bun.serve({ hostname: '::1', port: 0, fetch: () => Response.json({ status: 'healthy' }) });
    await using onV4 = fakeServer();
    using dir = configDir();
    const results = await Promise.all([
      hide(['health'], dir.path, { HIDE_HOST: '::1', HIDE_PORT: String(onV6.port) }),
      hide(['health'], dir.path, { HIDE_HOST: '0.0.0.0', HIDE_PORT: String(onV4.port) }),
      hide(['health', '--url', 'notaurl'], dir.path),
      hide(['health', '--url', 'ftp://127.0.0.1/health'], dir.path),
      hide(['health'], dir.path, { HIDE_PORT: '0' }),
    ]);
    expect(results.map((r) => [r.code, r.stdout || r.stderr.split('\n')[0]])).toEqual([
      [0, 'healthy\n'],
      [0, 'healthy\n'],
      [2, "hide: --url: expected an http(s) URL; got 'notaurl'"],
      [2, "hide: --url: expected an http(s) URL; got 'ftp://127.0.0.1/health'"],
      [2, 'hide: HIDE_PORT is 0 (the server picks a free port at start): give --url'],
    ]);
  });

  // A proxy in the environment answered "healthy" for a server that was down; one refusing loopback would fail a live one.
  test.concurrent('goes straight to the server, whatever HTTP_PROXY says', async () => {
    await using proxy = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => Response.json({ status: 'healthy' }) });
    await using server = fakeServer();
    using dir = configDir();
    const via = `http://127.0.0.1:${proxy.port}`;
    const env = { HTTP_PROXY: via, http_proxy: via, HTTPS_PROXY: via };
    const down = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() });
    const downPort = String(down.port);
    await down.stop(true);
    const [up, gone] = await Promise.all([
      hide(['health'], dir.path, { ...env, HIDE_PORT: String(server.port), HIDE_WORKSPACE: dir.workspace }),
      hide(['health'], dir.path, { ...env, HIDE_PORT: downPort, HIDE_WORKSPACE: dir.workspace }),
    ]);
    expect([up.code, up.stdout, gone.code, gone.stderr.startsWith('unhealthy:')]).toEqual([0, 'healthy\n', 1, true]);
  });

  test.concurrent('a bad port setting is named, exit 2; an unrelated bad setting does not matter', async () => {
    await using server = fakeServer();
    using dir = configDir({ '.env': `HIDE_PORT=${server.port}\nHIDE_RATE_LIMIT_RPM=lots\n` });
    const ok = await hide(['health'], dir.path, { HIDE_WORKSPACE: dir.workspace });
    const bad = await hide(['health'], dir.path, { HIDE_PORT: 'http', HIDE_WORKSPACE: dir.workspace });
    expect([ok, bad]).toEqual([
      { code: 0, stdout: 'healthy\n', stderr: '' },
      { code: 2, stdout: '', stderr: 'hide: Invalid configuration:\n  - HIDE_PORT (from env HIDE_PORT): expected an integer; got "http"\n' },
    ]);
  });
});

describe('flags', () => {
  test.concurrent('a one-value flag given twice is refused, exit 2, on every command; --file of audit query may repeat', async () => {
    using dir = configDir({ 'a.jsonl': '', 'b.jsonl': '' });
    const runs = await Promise.all([
      hide(['check-config', '--workspace', '.', '--workspace=/'], dir.path),
      hide(['serve', '--port', '0', '--port=0'], dir.path),
      hide(['keys', 'generate', '--client-id', 'a', '--client-id', 'b'], dir.path),
      hide(['audit', 'query', '--client-id', 'a', '--client-id', 'b', '--file', 'a.jsonl'], dir.path),
      hide(['audit', 'query', '--file', 'a.jsonl', '--file', 'b.jsonl'], dir.path),
    ]);
    expect(runs.map((r) => [r.code, r.stderr.split('\n')[0]])).toEqual([
      [2, 'hide: --workspace is given more than once'],
      [2, 'hide: --port is given more than once'],
      [2, 'hide keys: --client-id is given more than once'],
      [2, 'hide: --client-id is given more than once'],
      [0, ''],
    ]);
    expect(existsSync(join(dir.path, '.mcp_keys.json'))).toBe(false);
  });
});

describe('hide audit query', () => {
  test.concurrent('an event type no line can have, or an empty filter, is refused naming the flag, exit 2', async () => {
    using dir = configDir({ 'a.jsonl': `${JSON.stringify({ event_type: 'tool_call', correlation_id: 'wf-1' })}\n` });
    const runs = await Promise.all([
      hide(['audit', 'query', '--file', 'a.jsonl', '--event-type', 'tool-call'], dir.path),
      hide(['audit', 'query', '--file', 'a.jsonl', '--correlation-id='], dir.path),
      hide(['audit', 'query', '--file', 'a.jsonl', '--event-type', 'tool_call'], dir.path),
    ]);
    expect(runs.map((r) => [r.code, r.stderr.split('\n')[0], r.stdout])).toEqual([
      [2, "hide: --event-type: expected one of tool_call, auth_failure, rate_limit_exceeded, ip_denied, origin_denied, host_denied, keys_reloaded, permission_denied, request_refused, process_exit, audit_recovered, audit_lines_lost, audit_lines_adopted; got 'tool-call'", ''],
      [2, 'hide: --correlation-id must not be empty', ''],
      [0, '', `${JSON.stringify({ event_type: 'tool_call', correlation_id: 'wf-1' })}\n`],
    ]);
  });
});

describe('first run', () => {
  test.concurrent('an audit directory that cannot be made stops the start naming the setting to set, exit 2, and nothing is written here', async () => {
    using dir = configDir({ 'not-a-dir': 'x' });
    const home = join(dir.path, 'not-a-dir', 'home');
    const r = await hide(['serve', '--port', '0'], dir.path, { HOME: home, HIDE_SANDBOX: 'off' });
    expect({ code: r.code, stderr: r.stderr.replace(/: ENOTDIR.*?;/, ': ENOTDIR…;'), here: readdirSync(dir.path) }).toEqual({
      code: 2,
      stderr: `hide: audit log ${home}/.local/state/hide/audit.jsonl cannot be opened: ENOTDIR…; set HIDE_AUDIT_LOG_FILE to a file this user can write (or HIDE_AUDIT_LOG_ENABLED=false)\n`,
      here: ['not-a-dir'],
    });
  });
});

describe('hide version', () => {
  test.concurrent('prints the version; an argument it does not take is refused, exit 2, as every command refuses one', async () => {
    using dir = configDir({});
    const [plain, flag, extra] = await Promise.all([hide(['version'], dir.path), hide(['--version'], dir.path), hide(['version', '--bogus'], dir.path)]);
    expect([plain.code, plain.stdout === flag.stdout, /^\d+\.\d+\.\d+/.test(plain.stdout)]).toEqual([0, true, true]);
    expect([extra.code, extra.stdout, extra.stderr]).toEqual([2, '', "hide: version takes no arguments; got '--bogus'\n"]);
  });
});

describe('hide check-config', () => {
  test.concurrent('refuses, exit 2, the keys serve would refuse: an unreadable or broken keys file, a malformed single key, auth on with no enabled key', async () => {
    using dir = configDir({ 'broken.json': '{"clients": [', 'off.json': { clients: [{ client_id: 'a', api_key_sha256: '0'.repeat(64), enabled: false }] } });
    const on = { HIDE_AUTH_ENABLED: 'true' };
    const runs = await Promise.all([
      hide(['check-config'], dir.path, { ...on, HIDE_API_KEYS_FILE: 'broken.json' }),
      hide(['check-config'], dir.path, { ...on, HIDE_API_KEYS_FILE: 'missing.json' }),
      hide(['check-config'], dir.path, { ...on, HIDE_API_KEY: 'two words' }),
      hide(['check-config'], dir.path, { ...on, HIDE_API_KEYS_FILE: 'off.json' }),
      hide(['check-config'], dir.path, { HIDE_API_KEYS_FILE: 'broken.json' }),
    ]);
    expect(runs.map((r) => [r.code, r.stderr.split('\n')[1] ?? ''])).toEqual([
      [2, '  - HIDE_API_KEYS_FILE (from env HIDE_API_KEYS_FILE): keys file is not valid JSON: JSON Parse error: Unexpected EOF'],
      [2, `  - HIDE_API_KEYS_FILE (from env HIDE_API_KEYS_FILE): cannot read keys file ${join(dir.path, 'missing.json')}: ENOENT`],
      [2, '  - HIDE_API_KEY (from env HIDE_API_KEY): must be 1-1024 printable ASCII characters, no spaces'],
      [2, '  - HIDE_AUTH_ENABLED: authentication is on but no enabled key is configured (HIDE_API_KEY, or HIDE_API_KEYS_FILE with an enabled client)'],
      // Auth off: the keys are not used, so they are not judged.
      [0, ''],
    ]);
  });

  test.concurrent('warns as serve does about the keys: short ones, by client and never the key, plaintext keys others can read, a file others can write', async () => {
    using dir = configDir({ 'keys.json': { clients: [{ client_id: 'brief', api_key: 'hunter2' }, { client_id: 'long', api_key: 'L'.repeat(43) }, { client_id: 'off', api_key: 'x', enabled: false }] } });
    chmodSync(join(dir.path, 'keys.json'), 0o646);
    const r = await hide(['check-config'], dir.path, { HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: 'keys.json', HIDE_API_KEY: 'short-single' });
    const out = JSON.parse(r.stdout) as { warnings: string[] };
    expect({ code: r.code, warnings: out.warnings, leaks: /hunter2|short-single/.test(r.stdout + r.stderr) }).toEqual({
      code: 0,
      warnings: [
        `keys file ${join(dir.path, 'keys.json')} holds 3 plaintext key(s) (api_key) and is readable by other users (mode 0646): chmod 600 it, or keep only digests (api_key_sha256, as \`hide keys generate\` writes)`,
        `keys file ${join(dir.path, 'keys.json')}: it is writable by others (mode 0646), so another user could add a client of their own (the file is reloaded on every change): make it and the directories on its path writable only by their owner (chmod go-w), owned by root or the server's user`,
        'the key of client "default" has 12 characters: a short key can be guessed by trying; use 32 or more random characters (`hide keys generate` makes 43)',
        'the key of client "brief" has 7 characters: a short key can be guessed by trying; use 32 or more random characters (`hide keys generate` makes 43)',
      ],
      leaks: false,
    });
  });

  test.concurrent('names HIDE_* variables that are no setting, with the nearest one, and ignores them; its own and the npm wrapper\'s pass', async () => {
    using dir = configDir({ '.env': 'HIDE_PORT=8123\nHIDE_SANDBOX_NETWRK=on\n', 'ws/.keep': '' });
    const r = await hide(['check-config'], dir.path, { HIDE_WORKSPACE: join(dir.path, 'ws'), HIDE_READONLY: 'true', HIDE_XYZZY_PLUGH: '1', HIDE_EMPTY_ONE: '', HIDE_BINARY_PATH: '/x', HIDE_CPUINFO: '/y', HIDE_CONFIG: '' });
    const out = JSON.parse(r.stdout) as { config: { readOnly: boolean; port: number }; warnings: string[] };
    expect({ code: r.code, readOnly: out.config.readOnly, port: out.config.port, warnings: out.warnings }).toEqual({
      code: 0,
      readOnly: false,
      port: 8123,
      warnings: [
        'HIDE_READONLY (environment) is not a setting and is ignored (did you mean HIDE_READ_ONLY?)',
        'HIDE_XYZZY_PLUGH (environment) is not a setting and is ignored',
        `HIDE_SANDBOX_NETWRK (${join(dir.path, '.env')}) is not a setting and is ignored (did you mean HIDE_SANDBOX_NETWORK?)`,
      ],
    });
  });

  test.concurrent('a .env whose one HIDE_ name is misspelt is not read (it sets no setting), and says why', async () => {
    using dir = configDir({ '.env': 'HIDE_READONLY=true\nDATABASE_URL=x\n' });
    const r = await hide(['check-config'], dir.path);
    const out = JSON.parse(r.stdout) as { config: { readOnly: boolean }; warnings: string[] };
    expect({ code: r.code, readOnly: out.config.readOnly, warnings: out.warnings }).toEqual({
      code: 0,
      readOnly: false,
      warnings: [`HIDE_READONLY (${join(dir.path, '.env')}, not read: it sets no setting) is not a setting and is ignored (did you mean HIDE_READ_ONLY?)`],
    });
  });

  test.concurrent('a start warns about a HIDE_* variable that is no setting, and about nothing else', async () => {
    using dir = configDir();
    const quiet = await hide(['stdio'], dir.path, { HIDE_SANDBOX: 'off', HIDE_AUDIT_LOG_ENABLED: 'false' });
    const typo = await hide(['stdio'], dir.path, { HIDE_SANDBOX: 'off', HIDE_AUDIT_LOG_ENABLED: 'false', HIDE_READONLY: '1' });
    const warnings = (r: { stderr: string }) => r.stderr.split('\n').filter((l) => /warn/i.test(l));
    expect({ quiet: [quiet.code, warnings(quiet)], typo: [typo.code, warnings(typo).length, typo.stderr.includes('HIDE_READONLY (environment) is not a setting and is ignored (did you mean HIDE_READ_ONLY?)')] }).toEqual({
      quiet: [0, []],
      typo: [0, 1, true],
    });
  });

  test.concurrent('refuses, exit 2, a workspace serve could not use', async () => {
    using dir = configDir({ 'file.txt': 'x' });
    const runs = await Promise.all([hide(['check-config', '--workspace', 'nope'], dir.path), hide(['check-config'], dir.path, { HIDE_WORKSPACE: 'file.txt' })]);
    expect(runs.map((r) => [r.code, r.stderr.split('\n')[1] ?? ''])).toEqual([
      [2, `  - HIDE_WORKSPACE (from flag --workspace): not usable: ENOENT: no such file or directory, lstat '${join(dir.path, 'nope')}'`],
      [2, `  - HIDE_WORKSPACE (from env HIDE_WORKSPACE): not usable: workspace ${join(dir.path, 'file.txt')} is not a directory`],
    ]);
  });
});

describe('hide audit verify', () => {
  test.concurrent('a file given twice, or rotated files newest first, is a usage error (exit 2), not reported as tampering', async () => {
    using dir = configDir();
    const w = new AuditWriter({ file: join(dir.path, 'a.jsonl'), redactor: new Redactor(), chain: true, maxBytes: 400, keep: 5 });
    for (let i = 0; i < 6; i++) {
      w.write({ event_type: 'keys_reloaded', correlation_id: null, client_id: null, client_ip: null, api_key_hash: null, user: null, tool_name: null, arguments: null, result: { keys: i }, error: null });
      w.flush();
    }
    w.close();
    expect(existsSync(join(dir.path, 'a.jsonl.2'))).toBe(true);
    const runs = await Promise.all([
      hide(['audit', 'verify', 'a.jsonl', './a.jsonl'], dir.path),
      hide(['audit', 'verify', 'a.jsonl.1', 'a.jsonl.2', 'a.jsonl'], dir.path),
      hide(['audit', 'verify', 'a.jsonl.2', 'a.jsonl.1', 'a.jsonl'], dir.path),
    ]);
    expect(runs.map((r) => [r.code, r.stderr.trim() || r.stdout.trim().split('\n').at(-1)])).toEqual([
      [2, 'hide: audit verify: ./a.jsonl is given twice (as a.jsonl)'],
      [2, 'hide: audit verify: give rotated files oldest first: a.jsonl.2 before a.jsonl.1'],
      [0, expect.stringMatching(/^ok: \d+ lines in 3 file\(s\), hash chain intact$/)],
    ]);
  });
});
