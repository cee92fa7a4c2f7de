/**
 * The container image without Docker: scripts/release/image-rootfs.sh — what
 * the Dockerfile's first stage runs for each TARGETARCH — builds the root
 * filesystem from dist/release here, and it must hold only the verified x64
 * binary, the libraries ldd lists, the passwd/group entries and the two
 * directories; then, as root, it runs read-only under chroot as uid 65532 and
 * answers /health and a tool call. The Dockerfile itself is checked for the
 * shape it promises (multi-arch from the release, scratch, non-root, label).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MCP_NAME } from '../../scripts/release/targets.ts';
import { tempDir } from '../helpers/temp.ts';
import { startServerProcess } from '../helpers/process.ts';
import { available, ensureRelease, RELEASE_BUILD_MS, RELEASE_DIR, ROOT, run } from './helpers.ts';

const SCRIPT = join(ROOT, 'scripts', 'release', 'image-rootfs.sh');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

test('Dockerfile: per-TARGETARCH rootfs from dist/release, then scratch, non-root, the MCP Registry label', () => {
  const instructions = dockerfile
    .split('\n')
    .filter((l) => /^[A-Z]+ /.test(l))
    .map((l) => l.split(' ')[0]);
  expect(instructions).toEqual(['FROM', 'ARG', 'RUN', 'FROM', 'ARG', 'COPY', 'LABEL', 'ENV', 'WORKDIR', 'USER', 'EXPOSE', 'HEALTHCHECK', 'ENTRYPOINT', 'CMD']);
  expect(dockerfile).toContain('source=dist/release,target=/release');
  expect(dockerfile).toContain('sh /image-rootfs.sh /release "$TARGETARCH" /rootfs');
  expect(dockerfile).toContain('FROM scratch\n');
  expect(dockerfile).toContain('USER 65532:65532');
  expect(dockerfile).toContain(`LABEL io.modelcontextprotocol.server.name="${MCP_NAME}"`);
  // The build context holds only what the Dockerfile reads.
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  expect(ignore).toEqual(['*', '!dist/release/SHA256SUMS', '!dist/release/hide-linux-x64', '!dist/release/hide-linux-arm64', '!scripts/release/image-rootfs.sh']);
});

function missing(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'the amd64 root filesystem is built with ldd on an x64 Linux machine';
  if (process.getuid?.() !== 0) return 'needs root (chown to 65532, chroot)';
  for (const tool of ['ldd', 'sha256sum', '/usr/sbin/chroot', '/usr/bin/unshare']) if (!Bun.which(tool) && !existsSync(tool)) return `${tool} is missing`;
  return undefined;
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [`${e.name}/`, ...files(join(dir, e.name)).map((f) => `${e.name}/${f}`)] : [e.name]));
}

describe.skipIf(!available('image root filesystem', missing()))('image-rootfs.sh for amd64', () => {
  let dir: string;
  let root: string;
  beforeAll(async () => {
    await ensureRelease();
    dir = tempDir('hide-image-');
    root = join(dir, 'rootfs');
    const r = await run(['sh', SCRIPT, RELEASE_DIR, 'amd64', root]);
    if (r.code !== 0) throw new Error(`image-rootfs.sh failed: ${r.stderr}`);
    expect(r.stderr).toBe('hide-linux-x64: OK\n');
  }, RELEASE_BUILD_MS + 20_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('holds the verified binary, its libraries, passwd/group, /workspace (65532) and /tmp (1777) — nothing else', async () => {
    expect(readFileSync(join(root, 'hide'))).toEqual(readFileSync(join(RELEASE_DIR, 'hide-linux-x64')));
    const ldd = (await run(['ldd', join(RELEASE_DIR, 'hide-linux-x64')])).stdout;
    const libs = [...ldd.matchAll(/(\/\S+)/g)].map((m) => m[1]!.slice(1));
    const regular = files(root).filter((f) => !f.endsWith('/'));
    expect(regular.sort()).toEqual(['etc/group', 'etc/passwd', 'hide', ...libs].sort());
    expect(readFileSync(join(root, 'etc', 'passwd'), 'utf8')).toBe('hide:x:65532:65532:hide:/workspace:/sbin/nologin\n');
    expect(statSync(join(root, 'workspace')).uid).toBe(65532);
    expect(statSync(join(root, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect(files(root).some((f) => /(^|\/)(sh|bash|busybox)$/.test(f))).toBe(false);
  });

  test('refuses a binary that does not match SHA256SUMS, and an unknown architecture', async () => {
    const fake = join(dir, 'fake-release');
    mkdirSync(fake);
    writeFileSync(join(fake, 'SHA256SUMS'), readFileSync(join(RELEASE_DIR, 'SHA256SUMS')));
    writeFileSync(join(fake, 'hide-linux-x64'), 'not the binary');
    const bad = await run(['sh', SCRIPT, fake, 'amd64', join(dir, 'bad-root')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('hide-linux-x64: FAILED');
    expect(existsSync(join(dir, 'bad-root'))).toBe(false);
    const arch = await run(['sh', SCRIPT, RELEASE_DIR, 's390x', join(dir, 'other-root')]);
    expect(arch.stderr).toContain('no release binary for s390x');
  });

  /** A shell line that mounts the image root read-only with a fresh volume at /workspace, then runs `/hide <args>` in it as 65532. */
  function chrooted(volume: string, args: string): string {
    mkdirSync(volume);
    chownSync(volume, 65532, 65532);
    return [
      `mkdir -p ${root}/proc ${root}/dev`,
      ...['null', 'zero', 'random', 'urandom'].map((n) => `touch ${root}/dev/${n} && mount --bind /dev/${n} ${root}/dev/${n}`),
      `mount --bind ${root} ${root}`,
      `mount -t proc proc ${root}/proc`,
      `mount -o remount,bind,ro ${root}`,
      `mount --bind ${volume} ${root}/workspace`,
      `exec /usr/sbin/chroot --userspec=65532:65532 ${root} /hide ${args}`,
    ].join(' && ');
  }

  test('runs read-only under chroot as 65532, with only the environment the image sets: /health and a tool call', async () => {
    const volume = join(dir, 'volume'); // docker run -v …:/workspace
    // `serve --port 0` comes as the script's arguments: on a port of its own choosing, found by the address it logs
    // (a port picked here could be taken by then); the flag wins over the image's HIDE_PORT.
    const setup = chrooted(volume, '"$@"');
    // The Dockerfile's ENV, less HIDE_HOST (loopback here, so no key is needed).
    const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HIDE_PORT: '5000', HIDE_WORKSPACE: '/workspace', HIDE_AUDIT_LOG_FILE: '-', HIDE_LOG_FORMAT: 'json' };
    const server = await startServerProcess({ cwd: dir, program: ['/usr/bin/unshare', '-m', '/bin/sh', '-c', setup, 'sh'], env });
    const proc = server.proc;
    try {
      const url = server.url;
      expect(await (await fetch(`${url}/health`)).json()).toMatchObject({ status: 'healthy', version: expect.stringMatching(/\.linux-x64$/) });
      const res = await fetch(`${url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'write_file', arguments: { path: 'hello.txt', content: 'hi' } } }),
      });
      expect(((await res.json()) as { result: { isError: boolean } }).result.isError).toBe(false);
      expect(readFileSync(join(volume, 'hello.txt'), 'utf8')).toBe('hi');
      expect(statSync(join(volume, 'hello.txt')).uid).toBe(65532);
    } finally {
      proc.kill('SIGTERM');
      await proc.exited;
    }
  }, 60_000);

  // server.json's OCI package: `docker run -i --read-only -v …:/workspace <image> stdio`, with every ENV the image sets.
  test('`stdio` as server.json runs it: MCP alone on stdout, the audit log (HIDE_AUDIT_LOG_FILE=-) on stderr', async () => {
    const volume = join(dir, 'stdio-volume');
    const setup = chrooted(volume, 'stdio');
    const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HIDE_HOST: '0.0.0.0', HIDE_PORT: '5000', HIDE_WORKSPACE: '/workspace', HIDE_AUDIT_LOG_FILE: '-', HIDE_LOG_FORMAT: 'json' };
    const proc = Bun.spawn(['/usr/bin/unshare', '-m', '/bin/sh', '-c', setup], { env, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
    const call = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'write_file', arguments: { path: 'hello.txt', content: 'hi' } } };
    proc.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })}\n${JSON.stringify(call)}\n`);
    proc.stdin.end();
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    const answers = out.trim().split('\n').map((l) => JSON.parse(l) as { id: number; result: { tools?: unknown[]; isError?: boolean } });
    expect({ code, ids: answers.map((a) => a.id), isError: answers[1]?.result.isError }).toEqual({ code: 0, ids: [1, 2], isError: false });
    expect(readFileSync(join(volume, 'hello.txt'), 'utf8')).toBe('hi');
    const audited = err.split('\n').filter((l) => l.includes('"event_type":"tool_call"')).map((l) => JSON.parse(l) as { tool_name: string });
    expect(audited.map((e) => e.tool_name)).toEqual(['write_file']);
  }, 60_000);
});
