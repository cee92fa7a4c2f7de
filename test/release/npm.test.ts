/**
 * The npm packages through a real registry: verdaccio on loopback with no
 * uplinks (installed on demand into dist/.tools), the six tarballs of
 * dist/npm published to it, then from empty directories: `npx -y --registry
 * … headless-ide-mcp version`; an MCP session over stdio through npx (the
 * SDK's client lists the tools and calls echo); a plain install that picks
 * only this machine's platform package (os, cpu, libc); and an install with
 * optional dependencies omitted, whose launcher names the missing package.
 * Without node and npm, or when verdaccio cannot be installed, the suite is a
 * skip that prints why.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { NPM_WRAPPER, npmPackageName, TARGETS } from '../../scripts/release/targets.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';
import { available, ensureRelease, freePort, RELEASE_BUILD_MS, NPM_DIR, npmTool, run, VERSION } from './helpers.ts';

// verdaccio 6.10 wants Node 22, and its node-fetch range does not install as
// it stands: 6.8.0 with node-fetch pinned installs and runs on Node 20.
const VERDACCIO = { dependencies: { verdaccio: '6.8.0' }, overrides: { 'node-fetch': '2.7.0' } };

const cpu = process.arch === 'arm64' ? 'arm64' : 'x64';
const platform = `${NPM_WRAPPER}-linux-${cpu}`;
const missing = !Bun.which('npm') || !Bun.which('npx') || !Bun.which('node') ? 'node, npm or npx is not installed' : process.platform !== 'linux' ? 'not Linux' : undefined;
// Installed (or found in dist/.tools) before the tests are declared, so a registry that cannot be reached shows as a
// skip with its reason, as for the system tools .ci/run installs when it can, rather than as tests that pass empty.
const tool = missing ? undefined : await npmTool('verdaccio', VERDACCIO, 'node_modules/.bin/verdaccio');
const verdaccioDir = tool && 'dir' in tool ? tool.dir : undefined;
const skipReason = missing ?? (tool && 'error' in tool ? `verdaccio could not be installed from npm: ${tool.error}` : undefined);

let work: string;
let registry: string;
let verdaccio: ReturnType<typeof Bun.spawn> | undefined;
/** The environment every npm command runs with: our npmrc and a private cache, nothing from the user's. */
let npmEnv: Record<string, string>;

describe.skipIf(!available('npm packages through a local registry', skipReason))('npm packages through a local verdaccio', () => {
  beforeAll(async () => {
    await ensureRelease();
    work = tempDir('hide-npm-');
    const port = freePort();
    registry = `http://127.0.0.1:${port}/`;
    writeFileSync(
      join(work, 'verdaccio.yaml'),
      [
        `storage: ${join(work, 'storage')}`,
        'auth:',
        '  htpasswd:',
        `    file: ${join(work, 'htpasswd')}`,
        'uplinks: {}', // nothing is fetched from anywhere else
        'packages:',
        "  '**':",
        '    access: $all',
        '    publish: $authenticated',
        'max_body_size: 400mb',
        'web:',
        '  enable: false',
        'middlewares:',
        '  audit:',
        '    enabled: false',
        'log: { type: stdout, format: pretty, level: warn }',
        `listen: 127.0.0.1:${port}`,
        '',
      ].join('\n'),
    );
    verdaccio = Bun.spawn([join(verdaccioDir!, 'node_modules', '.bin', 'verdaccio'), '--config', join(work, 'verdaccio.yaml')], {
      cwd: work,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work },
      stdout: 'ignore',
      stderr: 'pipe',
    });
    const v = verdaccio;
    await waitFor(
      async () => {
        if (v.exitCode !== null) throw new Error(`verdaccio exited ${v.exitCode}: ${await new Response(v.stderr as ReadableStream).text()}`);
        return fetch(`${registry}-/ping`).then((r) => r.ok, () => false);
      },
      30_000,
      'verdaccio to answer /-/ping',
    );
    const user = await fetch(`${registry}-/user/org.couchdb.user:hide-test`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'hide-test', password: 'hide-test-password', type: 'user' }),
    });
    const { token } = (await user.json()) as { token: string };
    writeFileSync(join(work, 'npmrc'), `registry=${registry}\n${registry.replace(/^http:/, '')}:_authToken=${token}\n`);
    npmEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: join(work, 'home'),
      npm_config_userconfig: join(work, 'npmrc'),
      npm_config_cache: join(work, 'npm-cache'),
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
    };
    mkdirSync(npmEnv.HOME!, { recursive: true });
  }, RELEASE_BUILD_MS + 20_000);

  afterAll(async () => {
    if (verdaccio) {
      verdaccio.kill('SIGTERM');
      await verdaccio.exited;
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const emptyDir = (name: string) => {
    const d = join(work, name);
    mkdirSync(d);
    return d;
  };

  test('publishes the wrapper and the five platform packages', async () => {
    const tarballs = [NPM_WRAPPER, ...TARGETS.map(npmPackageName)].map((p) => join(NPM_DIR, `${p}-${VERSION}.tgz`));
    // All at once: each is CPU-bound on both sides (npm reads and base64s ~55 MB, verdaccio parses it).
    const results = await Promise.all(
      tarballs.map(async (tgz) => {
        const r = await run(['npm', 'publish', tgz, '--registry', registry, '--ignore-scripts'], { env: npmEnv, cwd: work, timeoutMs: 150_000 });
        return { tgz, code: r.code, stderr: r.code === 0 ? '' : r.stderr };
      }),
    );
    expect(results).toEqual(tarballs.map((tgz) => ({ tgz, code: 0, stderr: '' })));
    const meta = (await (await fetch(`${registry}${NPM_WRAPPER}`)).json()) as { 'dist-tags': { latest: string } };
    expect(meta['dist-tags'].latest).toBe(VERSION);
  }, 180_000);

  test('npx -y --registry … headless-ide-mcp version, in an empty directory', async () => {
    const r = await run(['npx', '-y', '--registry', registry, NPM_WRAPPER, 'version'], { cwd: emptyDir('npx-version'), env: npmEnv, timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toMatch(new RegExp(`^${VERSION.replaceAll('.', '\\.')}\\+[0-9a-f]{12}(\\.dirty)?\\.linux-${cpu}$`));
    expect(r.code).toBe(0);
  }, 120_000);

  test('an MCP session over stdio through npx: list tools, call echo', async () => {
    const dir = emptyDir('npx-stdio');
    // The client starts npx outside the workspace: npx resolves packages from its working directory first.
    const project = join(dir, 'project');
    mkdirSync(project);
    const client = new Client({ name: 'npm-test', version: '1' });
    await client.connect(
      new StdioClientTransport({
        command: 'npx',
        args: ['-y', '--registry', registry, NPM_WRAPPER, 'stdio', '--workspace', project],
        cwd: dir,
        env: { ...npmEnv, HIDE_AUDIT_LOG_ENABLED: 'false' },
        stderr: 'pipe',
      }),
    );
    try {
      expect(client.getServerVersion()?.name).toBe('hide');
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['shell_execute', 'read_file', 'write_file']));
      const r = await client.callTool({ name: 'shell_execute', arguments: { command: 'echo', arguments: ['through npx'] } });
      expect(r).toMatchObject({ isError: false, structuredContent: { stdout: 'through npx\n', exitCode: 0 } });
    } finally {
      await client.close();
    }
  }, 120_000);

  // What npx runs from a directory is what that directory's node_modules or .npmrc names first: started inside the
  // workspace, the next session would run whatever a command put there, unsandboxed. The genuine hide refuses the
  // first such start, before any command could have written there.
  test('npx started inside the workspace: hide refuses to start, saying why', async () => {
    const project = emptyDir('npx-inside');
    const r = await run(['npx', '-y', '--registry', registry, NPM_WRAPPER, 'stdio', '--workspace', '.'], { cwd: project, env: npmEnv, timeoutMs: 120_000, stdin: '' });
    expect([r.code, r.stdout]).toEqual([2, '']);
    expect(r.stderr).toContain(`hide was started by npm or Bun from ${project}, which lies in the workspace`);
  }, 120_000);

  test('npm install picks only the platform package for this machine (os, cpu, libc)', async () => {
    const dir = emptyDir('install');
    writeFileSync(join(dir, 'package.json'), '{"private":true}\n');
    const r = await run(['npm', 'install', '--registry', registry, `${NPM_WRAPPER}@${VERSION}`], { cwd: dir, env: npmEnv, timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    const installed = readdirSync(join(dir, 'node_modules')).filter((n) => n.startsWith(NPM_WRAPPER)).sort();
    expect(installed).toEqual([NPM_WRAPPER, platform]); // glibc here; no baseline (not an optional dependency)
    expect(existsSync(join(dir, 'node_modules', NPM_WRAPPER, 'node_modules'))).toBe(false);
    const v = await run([join(dir, 'node_modules', '.bin', 'hide'), 'version'], { env: { PATH: npmEnv.PATH! } });
    expect(v.stdout.trim()).toEndWith(`.linux-${cpu}`);
  }, 120_000);

  test('with optional dependencies omitted, the launcher names the missing package', async () => {
    const dir = emptyDir('omitted');
    writeFileSync(join(dir, 'package.json'), '{"private":true}\n');
    const r = await run(['npm', 'install', '--omit=optional', '--registry', registry, `${NPM_WRAPPER}@${VERSION}`], { cwd: dir, env: npmEnv, timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'node_modules', platform))).toBe(false);
    const v = await run([join(dir, 'node_modules', '.bin', 'hide'), 'version'], { env: { PATH: npmEnv.PATH! } });
    expect(v.code).toBe(127);
    expect(v.stderr).toContain(`the npm package ${platform}@${VERSION}`);
    expect(v.stderr).toContain('is not installed');
  }, 120_000);
});
