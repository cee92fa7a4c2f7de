/**
 * A root server's commands hold no capability but are uid 0, the owner of
 * most of the host's files, and Landlock does not govern a file's mode,
 * times or extended attributes. Outside the read-write grants every mount
 * is read-only for them, so a command cannot `chmod 666` a root-only file
 * it may not read, nor stamp or tag it; inside the workspace and its
 * TMPDIR it changes modes as any build does.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { callTool, startServer, type TestServer } from '../helpers/server.ts';

const root = process.getuid?.() === 0;
// The system's: a per-user shim (pyenv) lies outside what commands may read.
const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : null;

describe.skipIf(!root || python === null || landlockAbi() < 1)('a root server: read-only mounts outside the grants', () => {
  let server: TestServer;
  let top: string;
  let canary: string;
  beforeAll(async () => {
    // Outside the system temp directory, which the private temp view hides: the file must be in view to be attacked.
    top = mkdtempSync('/var/tmp/hide-ro-mounts-');
    mkdirSync(join(top, 'closed'), { mode: 0o700 });
    canary = join(top, 'closed', 'canary');
    writeFileSync(canary, 'root only\n', { mode: 0o600 });
    chmodSync(canary, 0o600);
    server = await startServer({ HIDE_SANDBOX: 'required' });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(top, { recursive: true, force: true });
  });

  test('/health names the layer', async () => {
    const health = (await (await fetch(`${server.url}/health`)).json()) as { sandboxLayers: string[] };
    expect(health.sandboxLayers).toContain('read-only-mounts');
  });

  test("a command cannot change the mode, times or extended attributes of a root-owned file outside its grants, nor of its directory", async () => {
    const before = statSync(canary);
    const script = [
      'import os, sys',
      'out = {}',
      'def attempt(name, f):',
      '    try:',
      '        f()',
      "        out[name] = 'done'",
      '    except OSError as e:',
      '        out[name] = os.strerror(e.errno)',
      `p = ${JSON.stringify(canary)}`,
      "attempt('chmod', lambda: os.chmod(p, 0o666))",
      "attempt('chmod dir', lambda: os.chmod(os.path.dirname(p), 0o777))",
      "attempt('utime', lambda: os.utime(p, (0, 0)))",
      "attempt('xattr', lambda: os.setxattr(p, 'user.hide', b'x'))",
      "attempt('acl', lambda: os.setxattr(p, 'system.posix_acl_access', bytes.fromhex('02000000010006000000ffffffff020006006400000004000400ffffffff10000600ffffffff20000400ffffffff')))",
      'import json; print(json.dumps(out))',
    ].join('\n');
    const r = await callTool(server.mcpUrl, 'shell_execute', { command: python!, arguments: ['-c', script] });
    const erofs = 'Read-only file system';
    expect(JSON.parse(r.stdout)).toEqual({ chmod: erofs, 'chmod dir': erofs, utime: erofs, xattr: erofs, acl: erofs });
    const after = statSync(canary);
    expect({ mode: after.mode, mtime: after.mtimeMs }).toEqual({ mode: before.mode, mtime: before.mtimeMs });
    expect(statSync(join(top, 'closed')).mode & 0o777).toBe(0o700);
  });

  test('inside the workspace and its TMPDIR it writes, makes directories and changes modes as usual', async () => {
    const r = await callTool(server.mcpUrl, 'shell_execute', {
      command: '/bin/sh',
      arguments: ['-c', 'set -e; mkdir -p build/out; echo "#!/bin/sh" > build/out/run.sh; chmod +x build/out/run.sh; touch -d 2001-01-01 build/out/run.sh; echo t > "$TMPDIR/t"; chmod 600 "$TMPDIR/t"; echo x > /dev/null; echo ok'],
    });
    expect({ stdout: r.stdout, error: r.error }).toEqual({ stdout: 'ok\n', error: null });
    expect(statSync(join(server.workspace, 'build/out/run.sh')).mode & 0o111).toBe(0o111);
  });
});
