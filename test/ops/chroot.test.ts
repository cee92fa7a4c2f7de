/**
 * Distroless proof without Docker: a root directory holding only dist/hide,
 * the shared libraries it links to (ldd) and a passwd/group entry, mounted
 * read-only in a private mount namespace, with /proc and the /dev nodes any
 * container runtime provides, and one writable directory for the audit log.
 * The binary runs there under chroot as uid 65532 and must answer /health
 * and tools/list, turn a shell_execute of a missing command (there is no
 * /bin/sh or anything else) into a clear tool error without crashing, and
 * write the audit line. Skipped unless root with unshare and chroot.
 */
import { describe, expect, test } from 'bun:test';
import { chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureBinary } from '../helpers/binary.ts';
import { startServerProcess } from '../helpers/process.ts';
import { auditLines, rpc, tempDir, waitFor } from './helpers.ts';

const UID = 65532;
const usable = process.platform === 'linux' && process.getuid?.() === 0 && existsSync('/usr/sbin/chroot') && existsSync('/usr/bin/unshare');
const DEV_NODES = ['null', 'zero', 'random', 'urandom'];

/** The libraries `ldd` lists for a binary (absolute paths only; the vDSO has none). */
function sharedLibraries(bin: string): string[] {
  const out = Bun.spawnSync(['ldd', bin]).stdout.toString();
  return [...out.matchAll(/(\/\S+)/g)].map((m) => m[1]!);
}

function buildRoot(bin: string, root: string): void {
  mkdirSync(root, { recursive: true });
  copyFileSync(bin, join(root, 'hide'));
  for (const lib of sharedLibraries(bin)) {
    mkdirSync(join(root, dirname(lib)), { recursive: true });
    copyFileSync(lib, join(root, lib)); // copyFileSync follows symlinks, like cp -L
  }
  for (const d of ['etc', 'workspace', 'audit', 'proc', 'dev', 'tmp']) mkdirSync(join(root, d), { recursive: true });
  for (const n of DEV_NODES) writeFileSync(join(root, 'dev', n), ''); // mount points
  writeFileSync(join(root, 'etc', 'passwd'), `hide:x:${UID}:${UID}:hide:/workspace:/sbin/nologin\n`);
  writeFileSync(join(root, 'etc', 'group'), `hide:x:${UID}:\n`);
}

describe.skipIf(!usable)('distroless root under chroot', () => {
  test('read-only root, uid 65532: /health, tools/list, missing command, audit line', async () => {
    const bin = await ensureBinary();
    const dir = tempDir('hide-chroot-');
    const root = join(dir, 'root');
    const audit = join(dir, 'audit');
    let proc: ReturnType<typeof Bun.spawn> | null = null;
    try {
      buildRoot(bin, root);
      mkdirSync(audit);
      chownSync(audit, UID, UID);
      const setup = [
        `mount --bind ${root} ${root}`,
        ...DEV_NODES.map((n) => `mount --bind /dev/${n} ${root}/dev/${n}`),
        `mount -t proc proc ${root}/proc`,
        `mount -o remount,bind,ro ${root}`,
        `mount --bind ${audit} ${root}/audit`,
        // `serve --port 0` and the rest come as the script's arguments.
        `exec /usr/sbin/chroot --userspec=${UID}:${UID} ${root} /hide "$@"`,
      ].join(' && ');
      // On a port of its own choosing, found by the address it logs: a port picked here could be taken by then.
      const server = await startServerProcess({
        cwd: dir,
        program: ['/usr/bin/unshare', '-m', '/bin/sh', '-c', setup, 'sh'],
        // Nothing from our environment: only what the image would set.
        env: { PATH: '/usr/local/bin:/usr/bin:/bin', HIDE_WORKSPACE: '/workspace', HIDE_AUDIT_LOG_FILE: '/audit/audit.jsonl', HIDE_LOG_FORMAT: 'json' },
      });
      proc = server.proc;
      const url = server.url;

      // It really runs as 65532 on a read-only root.
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(UID));
      const rootMount = readFileSync(`/proc/${proc.pid}/mountinfo`, 'utf8')
        .split('\n')
        .map((l) => l.split(' '))
        .find((f) => f[4] === '/');
      expect(rootMount?.[5]?.split(',')).toContain('ro');

      expect(await (await fetch(`${url}/health`)).json()).toMatchObject({ status: 'healthy' });
      const list = await rpc(url, 'tools/list');
      expect(list.body.result.tools.map((t: { name: string }) => t.name)).toContain('shell_execute');

      const missing = await rpc(url, 'tools/call', { name: 'shell_execute', arguments: { command: 'ls', arguments: ['/'] } });
      expect(missing.status).toBe(200);
      expect(missing.body.result.isError).toBe(true);
      expect(missing.body.result.structuredContent).toMatchObject({ exitCode: -1, error: expect.stringContaining("'ls' was not found") });
      expect((await fetch(`${url}/health`)).status).toBe(200); // still up

      const file = join(audit, 'audit.jsonl');
      await waitFor(() => existsSync(file) && auditLines(file).length === 1, 3000, 'the audit line');
      expect(auditLines(file)[0]).toMatchObject({ event_type: 'tool_call', tool_name: 'shell_execute', error: expect.stringContaining('not found') });
      expect(statSync(file).uid).toBe(UID);

      proc.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    } finally {
      if (proc && proc.exitCode === null) {
        proc.kill('SIGKILL');
        await proc.exited;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
