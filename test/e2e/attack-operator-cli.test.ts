/**
 * Settings files that are not files: the config file, `.env` and the keys
 * file named as (or replaced by) a FIFO, a device, a directory or something
 * huge. The operator commands (`hide keys`, `hide check-config`, `hide
 * health` — the container's health probe) must say what is wrong and exit 2,
 * never hang or read for ever; a running server whose keys file is swapped
 * for a FIFO (by anyone who can write its directory) must keep answering
 * with the last good keys. And names given twice in a JSON settings file,
 * where JSON.parse would silently keep one: a second `auth` section dropping
 * the first's `"enabled": true`. And a secret whose quotes were forgotten,
 * which JSON.parse's message would quote back into a terminal or a log.
 * And `hide audit query` printing what a client put in its arguments to the
 * operator's terminal; and `hide keys generate`, run as root beside an
 * unprivileged server, taking the keys file away from that server.
 */
import { describe, expect, test } from 'bun:test';
import { duplicateKeys } from '../../src/util/json-duplicate-keys.ts';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBinary } from '../helpers/binary.ts';
import { startServerProcess } from '../helpers/process.ts';
import { rpc, startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/temp.ts';
import { UNPRIVILEGED } from '../helpers/two-clients.ts';
import { runCli } from '../helpers/cli.ts';
import { waitFor } from '../helpers/wait.ts';

const KEY = 'k'.repeat(43);

const hide = runCli;

function mkfifo(path: string): void {
  const r = Bun.spawnSync(['mkfifo', path]);
  if (r.exitCode !== 0) throw new Error(`mkfifo ${path}: ${r.stderr.toString()}`);
}

/** A directory holding one of each hostile file. */
function hostileFiles() {
  const dir = tempDir('hide-operator-files-');
  mkfifo(join(dir, 'fifo'));
  mkdirSync(join(dir, 'dir'));
  writeFileSync(join(dir, 'huge.json'), '');
  truncateSync(join(dir, 'huge.json'), 20 * 1024 * 1024);
  return { dir, cases: [['fifo', 'a FIFO, not a regular file'], ['/dev/zero', 'a device, not a regular file'], ['dir', 'a directory, not a regular file'], ['huge.json', 'more than the 16777216']] as const };
}

describe('operator commands on settings files that are not files', () => {
  const { dir, cases } = hostileFiles();

  test.each(cases)('%s: every command names it and exits 2, none hangs or reads for ever', async (name, what) => {
    const runs = await Promise.all([
      hide(['keys', 'list', '--file', name], dir),
      hide(['keys', 'generate', '--client-id', 'a', '--file', name], dir),
      hide(['check-config', '--config', name], dir),
      hide(['health', '--config', name], dir),
      hide(['check-config'], dir, { HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: name }),
    ]);
    for (const r of runs) {
      expect({ code: r.code, what: r.stderr.includes(what), trace: /\n\s+at /.test(r.stderr) }).toEqual({ code: 2, what: true, trace: false });
    }
  }, 60_000);

  test('a .env that is a FIFO: the health probe and check-config name it and exit 2', async () => {
    const cwd = tempDir('hide-operator-dotenv-');
    mkfifo(join(cwd, '.env'));
    for (const args of [['health'], ['check-config']]) {
      const r = await hide(args, cwd);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 2, stderr: `hide: Invalid configuration:\n  - ${join(cwd, '.env')}: a FIFO, not a regular file\n` });
    }
  }, 60_000);
});

describe('an audit log or checkpoint that is not a file', () => {
  test.each([
    ['fifo', 'a FIFO, not a regular file'],
    ['/dev/null', 'a device, not a regular file'],
  ])('audit log %s: serve and stdio refuse to start naming it, audit verify and query say so; none hangs', async (name, what) => {
    const { dir } = hostileFiles();
    const env = { HIDE_AUDIT_LOG_FILE: name, HIDE_WORKSPACE: dir, HIDE_SANDBOX: 'off' };
    const runs = await Promise.all([hide(['serve', '--port', '0'], dir, env), hide(['stdio'], dir, env)]);
    const named = `audit log ${name.startsWith('/') ? name : join(dir, name)}: ${what}`;
    for (const r of runs) expect({ code: r.code, what: r.stderr.includes(named), trace: /\n\s+at /.test(r.stderr) }).toEqual({ code: 2, what: true, trace: false });
    const reads = await Promise.all([hide(['audit', 'verify', name], dir), hide(['audit', 'query', '--file', name], dir)]);
    for (const r of reads) expect({ code: r.code, what: r.stderr.includes(`${name} is not a regular file`) }).toEqual({ code: 2, what: true });
  }, 60_000);

  test('a rotated file that is a FIFO: the start names that file, not the live log', async () => {
    const cwd = tempDir('hide-operator-rotated-');
    const log = join(cwd, 'audit.jsonl');
    writeFileSync(log, '');
    mkfifo(`${log}.1`);
    const r = await hide(['serve', '--port', '0'], cwd, { HIDE_AUDIT_LOG_FILE: log, HIDE_SANDBOX: 'off', HIDE_WORKSPACE: cwd });
    expect([r.code, r.stderr.includes(`audit log ${log}.1: a FIFO, not a regular file`)]).toEqual([2, true]);
  }, 30_000);

  test('a checkpoint that is a FIFO: the server starts, says it is unreadable, and answers', async () => {
    const cwd = tempDir('hide-operator-head-');
    const log = join(cwd, 'audit.jsonl');
    mkfifo(`${log}.head`);
    const server = await startServerProcess({ cwd, env: { HIDE_AUDIT_LOG_FILE: log, HIDE_SANDBOX: 'off', HIDE_WORKSPACE: cwd } });
    try {
      expect((await rpc(`${server.url}/mcp`, 'tools/call', { name: 'check_file_exists', arguments: { path: 'x' } })).status).toBe(200);
      await waitFor(() => server.logs().includes(`audit log: ENXIO: no such device or address, open '${log}.head'`), 10_000, 'the checkpoint write to fail');
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      // An old server blocks in open(2) on the FIFO and never handles SIGTERM.
      server.proc.kill('SIGKILL');
      await server.proc.exited;
    }
  }, 30_000);
});

describe('a running server whose keys file becomes a FIFO', () => {
  test('keeps answering with the last good keys and says why the reload failed', async () => {
    const cwd = tempDir('hide-operator-reload-');
    const keys = join(cwd, 'keys.json');
    writeFileSync(keys, JSON.stringify({ clients: [{ client_id: 'ops', api_key: KEY }] }));
    const server = await startServerProcess({ cwd, env: { HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keys, HIDE_SANDBOX: 'off', HIDE_WORKSPACE: cwd } });
    const list = () =>
      fetch(`${server.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEY }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
    try {
      expect((await list()).status).toBe(200);
      // Swapped in by rename, as any writer of the directory could.
      mkfifo(join(cwd, 'swap'));
      renameSync(join(cwd, 'swap'), keys);
      await waitFor(() => server.logs().includes('keys file reload failed'), 10_000, 'the reload to fail');
      expect(server.logs()).toContain(`cannot read keys file ${keys}: a FIFO, not a regular file`);
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      expect((await list()).status).toBe(200);
    } finally {
      // An old server blocks in open(2) on the FIFO and never handles SIGTERM.
      server.proc.kill('SIGKILL');
      await server.proc.exited;
    }
  }, 60_000);
});

describe('names given twice in a JSON settings file', () => {
  test('a second auth section (or one in other case) would drop auth: check-config and serve refuse, naming it', async () => {
    const cwd = tempDir('hide-operator-dup-');
    writeFileSync(join(cwd, 'twice.json'), `{"auth":{"enabled":true,"apiKey":"${KEY}"},"rateLimit":{"rpm":10},"auth":{"header":"X-Key"}}`);
    writeFileSync(join(cwd, 'cased.json'), `{"Auth":{"enabled":true,"apiKey":"${KEY}"},"AUTH":{"enabled":false}}`);
    for (const [file, name] of [['twice.json', 'auth'], ['cased.json', 'AUTH']] as const) {
      for (const args of [['check-config', '--config', file], ['serve', '--port', '0', '--config', file]]) {
        const r = await hide(args, cwd, { HIDE_SANDBOX: 'off' });
        expect({ code: r.code, stderr: r.stderr }).toEqual({
          code: 2,
          stderr: `hide: Invalid configuration:\n  - config file ${join(cwd, file)}: "${name}" given twice (one would silently override the other)\n`,
        });
      }
    }
  }, 60_000);

  test('a keys-file entry with readOnly (or tools) twice is an invalid file, whichever comes last', async () => {
    const cwd = tempDir('hide-operator-dupkeys-');
    writeFileSync(join(cwd, 'keys.json'), `{"clients":[{"client_id":"ci","api_key":"${KEY}","readOnly":true,"tools":["read_file"],"readOnly":false}]}`);
    const r = await hide(['keys', 'list', '--file', 'keys.json'], cwd);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 2, stderr: 'hide keys: keys file is invalid: clients.0.readOnly: given twice (one would silently override the other)\n' });
  }, 60_000);

  test('the finder: nested paths, array indexes, escaped names, names inside string values ignored', () => {
    const text = JSON.stringify({ a: { b: 1 }, list: [{ x: 1 }, { y: 'x", "y' }] }).replace('"b":1', '"b":1,"b":2').replace('"y":', '"\\u0079":1,"y":');
    expect(JSON.parse(text)).toBeTruthy();
    expect(duplicateKeys(text)).toEqual(['a.b', 'list.1.y']);
    expect(duplicateKeys('{"Auth":{},"auth":{}}')).toEqual([]);
    expect(duplicateKeys('{"Auth":{},"auth":{}}', { ignoreCase: true })).toEqual(['auth']);
  });
});

describe('a secret written without its quotes', () => {
  const SECRET = 'Sup3rS3cretKeyWithoutQuotes0123456789abcde';

  test('keys list, keys generate and check-config say the JSON is broken without printing it', async () => {
    const cwd = tempDir('hide-operator-unquoted-');
    writeFileSync(join(cwd, 'keys.json'), `{"clients":[{"client_id":"a","api_key":${SECRET}}]}`);
    writeFileSync(join(cwd, 'hide.json'), `{"auth":{"enabled":true,"apiKey":${SECRET}}}`);
    const runs = await Promise.all([
      hide(['keys', 'list', '--file', 'keys.json'], cwd),
      hide(['keys', 'generate', '--client-id', 'b', '--file', 'keys.json'], cwd),
      hide(['check-config', '--config', 'hide.json'], cwd),
      hide(['check-config'], cwd, { HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: 'keys.json' }),
    ]);
    for (const r of runs) {
      expect({ code: r.code, said: r.stderr.includes('a bare word where a value belongs'), leaked: r.stderr.includes(SECRET) || r.stdout.includes(SECRET) }).toEqual({ code: 2, said: true, leaked: false });
    }
  }, 60_000);

  test('a running server reloading such a keys file logs why, not the key', async () => {
    const cwd = tempDir('hide-operator-unquoted-reload-');
    const keys = join(cwd, 'keys.json');
    writeFileSync(keys, JSON.stringify({ clients: [{ client_id: 'ops', api_key: KEY }] }));
    const server = await startServerProcess({ cwd, env: { HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keys, HIDE_SANDBOX: 'off', HIDE_WORKSPACE: cwd } });
    try {
      writeFileSync(join(cwd, 'next.json'), `{"clients":[{"client_id":"ops","api_key":"${KEY}"},{"client_id":"new","api_key":${SECRET}}]}`);
      renameSync(join(cwd, 'next.json'), keys);
      await waitFor(() => server.logs().includes('keys file reload failed'), 10_000, 'the reload to fail');
      expect(server.logs()).not.toContain(SECRET);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe('a keys file widened while the server runs', () => {
  // Warned at the start only, a file made writable to others later (a deploy step, an editor's save under another
  // umask) stayed unsaid while anyone could add a client.
  test('a keys file that others can write since the start is warned about at its next reload', async () => {
    const cwd = tempDir('hide-operator-widened-');
    const keys = join(cwd, 'keys.json');
    writeFileSync(keys, JSON.stringify({ clients: [{ client_id: 'ops', api_key: KEY }] }), { mode: 0o600 });
    const server = await startServerProcess({ cwd, env: { HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keys, HIDE_SANDBOX: 'off', HIDE_WORKSPACE: cwd } });
    try {
      expect(server.logs()).not.toContain('another user could add a client');
      writeFileSync(join(cwd, 'next.json'), JSON.stringify({ clients: [{ client_id: 'ops', api_key: KEY }, { client_id: 'two', api_key_sha256: 'a'.repeat(64) }] }));
      chmodSync(join(cwd, 'next.json'), 0o666);
      renameSync(join(cwd, 'next.json'), keys);
      // The warning goes to stderr and the reload line to stdout: two pipes, read in either order.
      const warning = `keys file ${keys}: it is writable by group and others (mode 0666), so another user could add a client`;
      await waitFor(() => server.logs().includes('keys file reloaded: 2 keys') && server.logs().includes(warning), 10_000, 'the reload and its warning');
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe('hide audit query on lines a client wrote into', () => {
  test('C1 controls (CSI), bidi overrides and line separators from arguments are printed as \\u escapes, the JSON meaning unchanged', async () => {
    const server = await startServer({ HIDE_SANDBOX: 'off' });
    const hostile = 'A\u009b2J\u009b31mred\u202etxt.exe\u2066x\u2069\u2028next\u007f\u061cmark\u200f';
    const cwd = tempDir('hide-operator-query-');
    try {
      const r = await rpc(server.mcpUrl, 'tools/call', { name: 'shell_execute', arguments: { command: 'echo', arguments: [hostile] } });
      expect(r.status).toBe(200);
      await server.rt.audit.flush();
      // A copy: the test server's directory goes with it.
      writeFileSync(join(cwd, 'audit.jsonl'), readFileSync(server.auditFile));
    } finally {
      await server.stop();
    }
    const q = await hide(['audit', 'query', '--event-type', 'tool_call', '--file', 'audit.jsonl'], cwd);
    expect({ code: q.code, stderr: q.stderr, raw: /[\u007f-\u009f\u061c\u200f\u2028\u202e\u2066\u2069]/.test(q.stdout) }).toEqual({ code: 0, stderr: '', raw: false });
    const lines = q.stdout.trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).arguments.arguments)).toEqual([[hostile]]);
  }, 60_000);
});

const asRoot = process.getuid?.() === 0 && Bun.which('setpriv') !== null;

describe('hide keys generate as root beside an unprivileged server', () => {
  test.skipIf(!asRoot)('the keys file keeps its owner, so the server reads the new client and still starts', async () => {
    const dir = tempDir('hide-operator-owner-');
    chmodSync(dir, 0o755);
    const conf = join(dir, 'conf');
    mkdirSync(conf);
    const keys = join(conf, 'keys.json');
    writeFileSync(keys, JSON.stringify({ clients: [{ client_id: 'ops', api_key: KEY }] }), { mode: 0o600 });
    for (const p of [conf, keys]) chownSync(p, UNPRIVILEGED, UNPRIVILEGED);
    // The checkout may not be readable by that uid: it runs a copy of the compiled binary.
    const program = join(dir, 'hide');
    copyFileSync(await ensureBinary(), program);
    chmodSync(program, 0o755);
    const env = { BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0', HOME: conf, HIDE_WORKSPACE: conf, HIDE_AUDIT_LOG_FILE: join(conf, 'audit.jsonl'), HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keys, HIDE_SANDBOX: 'off' };
    const server = await startServerProcess({ cwd: dir, uid: UNPRIVILEGED, program: [program], env });
    let added = '';
    try {
      // What an operator does with `docker exec` (root by default) or sudo.
      const r = await hide(['keys', 'generate', '--client-id', 'new-bot', '--file', keys], dir);
      expect(r.code).toBe(0);
      added = r.stdout.trim();
      const st = statSync(keys);
      expect({ uid: st.uid, gid: st.gid, mode: (st.mode & 0o777).toString(8) }).toEqual({ uid: UNPRIVILEGED, gid: UNPRIVILEGED, mode: '600' });
      const list = () =>
        fetch(`${server.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': added }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
      await waitFor(async () => (await list()).status === 200, 10_000, 'the new client to be accepted');
    } finally {
      await server.stop();
    }
    // And the next start reads the file too.
    const again = await startServerProcess({ cwd: dir, uid: UNPRIVILEGED, program: [program], env });
    await again.stop();
  }, 90_000);
});

// A client's command can write the workspace, `.env` included, and an operator runs `hide keys generate` from the
// project directory: the start refused that `.env`, the keys commands followed it, and root wrote the new client
// into whatever file it named (the real keys file untouched, the key handed out useless).
describe("a workspace .env naming another keys file", () => {
  test('keys generate, keys list and health refuse it as a start does; nothing is written where it points', async () => {
    const etc = tempDir('hide-operator-etc-');
    const ws = tempDir('hide-operator-ws-');
    const elsewhere = tempDir('hide-operator-elsewhere-');
    const keys = join(etc, 'keys.json');
    writeFileSync(keys, '{"clients":[]}');
    writeFileSync(join(etc, 'hide.json'), JSON.stringify({ auth: { enabled: true, keysFile: keys }, workspace: ws }));
    writeFileSync(join(ws, '.env'), `HIDE_API_KEYS_FILE=${join(elsewhere, 'planted.json')}\nHIDE_PORT=1\n`);
    const config = join(etc, 'hide.json');
    const runs = await Promise.all([
      hide(['keys', 'generate', '--client-id', 'dave', '--config', config], ws),
      hide(['keys', 'list', '--config', config], ws),
      hide(['health', '--config', config], ws),
    ]);
    const refusal = `${join(ws, '.env')} sets HIDE_API_KEYS_FILE, HIDE_PORT but lies in the workspace (${ws})`;
    expect(runs.map((r) => [r.code, r.stderr.includes(refusal)])).toEqual([[2, true], [2, true], [2, true]]);
    expect([readFileSync(keys, 'utf8'), Bun.spawnSync(['ls', '-A', elsewhere]).stdout.toString()]).toEqual(['{"clients":[]}', '']);
  });
});
