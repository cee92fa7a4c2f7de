/**
 * What npm or Bun resolves from a directory (node_modules/.bin, .npmrc,
 * package.json scripts), and a source tree, is what the next start from
 * there runs, as the user and outside the sandbox: a start launched from the
 * workspace, or running from a source tree inside it, is refused before any
 * command could write there; a compiled executable inside it is warned about.
 */
import { describe, expect, test } from 'bun:test';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBinary, ROOT } from '../helpers/binary.ts';
import { runProgram as run } from '../helpers/cli.ts';
import { startServerProcess } from '../helpers/process.ts';
import { tempDir } from '../helpers/temp.ts';

describe('a start launched from where commands can write', () => {
  test('npx (or npm run, bun run) resolving hide inside the workspace or an allowed path: refused, serve, stdio and check-config alike', async () => {
    const bin = await ensureBinary();
    const dir = tempDir('hide-launch-');
    const ws = join(dir, 'ws');
    const shared = join(dir, 'shared');
    mkdirSync(join(ws, 'sub'), { recursive: true });
    mkdirSync(shared);
    const cases: Array<[string, string[], string, Record<string, string>]> = [
      ['npx in the workspace', [bin, 'stdio'], ws, { npm_config_local_prefix: ws }],
      ['npx below it', [bin, 'serve', '--port', '0', '--workspace', ws], join(ws, 'sub'), { npm_config_local_prefix: join(ws, 'sub') }],
      ['npx in an allowed path', [bin, 'serve', '--port', '0', '--workspace', ws], shared, { npm_config_local_prefix: shared, HIDE_ALLOWED_PATHS: shared }],
      ['check-config', [bin, 'check-config', '--workspace', ws], dir, { npm_config_local_prefix: ws }],
      // The prefix npm found lies above the workspace (a package.json or node_modules in a parent), the start inside
      // it: a node_modules a command puts there is found first next time.
      ['npx started inside, prefix above', [bin, 'stdio', '--workspace', ws], join(ws, 'sub'), { npm_config_local_prefix: dir }],
      ['npm run from inside (INIT_CWD)', [bin, 'stdio', '--workspace', ws], dir, { npm_config_local_prefix: dir, INIT_CWD: join(ws, 'sub') }],
    ];
    for (const [what, argv, cwd, env] of cases) {
      const r = await run(argv, cwd, env);
      const from = env.npm_config_local_prefix === dir ? join(ws, 'sub') : env.npm_config_local_prefix;
      expect([what, r.code, r.stdout, r.stderr]).toEqual([what, 2, '', expect.stringContaining(`hide was started by npm or Bun from ${from}, which lies in`)]);
      expect(r.stderr).toContain('Start it from a directory outside the workspace');
    }
    // Started from outside it (the client's cwd elsewhere, npm's prefix with it): runs.
    const outside = await run([bin, 'check-config', '--workspace', ws], dir, { npm_config_local_prefix: dir });
    expect(outside.code).toBe(0);
  }, 60_000);

  test('from source, with the source tree inside the workspace: refused', async () => {
    const r = await run([process.execPath, '--no-env-file', join(ROOT, 'src', 'main.ts'), 'stdio', '--workspace', ROOT], ROOT, { HOME: tempDir('hide-launch-home-') });
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining(`hide runs from its source in ${ROOT}, which lies in the workspace`)]);
    expect(r.stderr).toContain('Give a workspace outside it (--workspace DIR)');
  }, 30_000);

  // Each client's launcher is started when the client first calls: started by the executable's name, it ran what a
  // command had renamed over that name, outside every sandbox layer.
  test('the executable itself in the workspace: a warning at start, once; one a command renames over it is never run', async () => {
    const dir = tempDir('hide-launch-binary-');
    const bin = join(dir, 'hide');
    copyFileSync(await ensureBinary(), bin);
    const keys = join(tempDir('hide-launch-keys-'), 'keys.json');
    const [alice, bob] = ['a'.repeat(40), 'b'.repeat(40)];
    writeFileSync(keys, JSON.stringify({ clients: [{ client_id: 'alice', api_key: alice }, { client_id: 'bob', api_key: bob }] }), { mode: 0o600 });
    const server = await startServerProcess({ cwd: dir, env: { HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keys }, program: [bin] });
    const run = async (key: string, script: string) => {
      const res = await fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'sh', arguments: ['-c', script] } } }),
      });
      return ((await res.json()) as { result: { structuredContent: { stdout: string; error: string | null } } }).result.structuredContent;
    };
    try {
      const warned = server.logs().split('\n').filter((l) => l.includes(`the hide executable ${bin} lies in the workspace`));
      expect(warned).toHaveLength(1);
      expect(warned[0]).toContain('a command could replace what the next start runs');
      const planted = await run(bob, `printf '#!/bin/sh\\necho ran > "${dir}/planted-ran"\\n' > planted && chmod 755 planted && mv planted hide && echo swapped`);
      expect(planted).toMatchObject({ stdout: 'swapped\n', error: null });
      // alice's first call starts her launcher.
      expect(await run(alice, 'echo mine')).toMatchObject({ stdout: 'mine\n', error: null });
      expect(existsSync(join(dir, 'planted-ran'))).toBe(false);
    } finally {
      server.proc.kill('SIGTERM');
      await server.ended();
    }
  }, 60_000);
});
