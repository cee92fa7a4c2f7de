/**
 * A root server that cannot make a PID namespace (the count root may hold is
 * reached: a host busy with containers, or namespaces a command kept open
 * elsewhere) runs its commands without the private /proc, temp view, empty
 * network and read-only mounts that need one. That is said as a warning with
 * the kernel's reason, not as the news an unprivileged server gets. The count
 * is made small in a user namespace of the test's own, so nothing outside it
 * is touched.
 */
import { describe, expect, test } from 'bun:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBinary } from '../helpers/binary.ts';
import { childrenOf } from '../helpers/procfs.ts';
import { startServerProcess } from '../helpers/process.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';
import { landlockAbi } from '../../src/sandbox/landlock.ts';

const usable = process.platform === 'linux' && process.getuid?.() === 0 && Bun.which('unshare') !== null && landlockAbi() > 0;

describe.skipIf(!usable)('a root server that may make no PID namespace', () => {
  test('warns with the kernel\'s reason and the layers lost, and says nothing of needing root', async () => {
    const bin = await ensureBinary();
    const dir = tempDir('hide-no-pidns-');
    // A user namespace of its own (root mapped to root) where root may hold no PID namespace at all; exec'd, so
    // the server is the process the test signals.
    const program = ['unshare', '-U', '-r', '-m', '--propagation', 'private', 'sh', '-c', 'echo 0 > /proc/sys/user/max_pid_namespaces && exec "$0" "$@"', bin];
    const server = await startServerProcess({ cwd: dir, env: { HOME: dir, HIDE_WORKSPACE: dir, HIDE_AUDIT_LOG_ENABLED: 'false' }, program });
    try {
      const res = await fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'echo', arguments: ['still runs'] } } }),
      });
      expect(((await res.json()) as { result: { structuredContent: { stdout: string } } }).result.structuredContent.stdout).toBe('still runs\n');
      await waitFor(() => server.logs().includes('although the server may make one'), 15_000, 'the warning');
      const lines = server.logs().split('\n').filter((l) => l.includes('PID namespace of their own'));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'warn', tag: 'sandbox' });
      expect(lines[0]).toContain('ENOSPC');
      expect(lines[0]).toContain('read-only mounts');
      expect(server.logs()).not.toContain('that needs root');
    } finally {
      await server.stop();
    }
  }, 60_000);

  // Each client has a launcher of its own, booted when it first calls: one that boots once the count is reached
  // gets none of those layers either, and was said nowhere (only the first launcher's report was looked at).
  test('a later launcher that gets fewer layers than the first is warned about too, and /health shows the fewer', async () => {
    const bin = await ensureBinary();
    const dir = tempDir('hide-no-ipcns-');
    const keys = join(dir, 'keys.json');
    const [alice, bob] = ['a'.repeat(40), 'b'.repeat(40)];
    writeFileSync(keys, JSON.stringify({ clients: [{ client_id: 'alice', api_key: alice }, { client_id: 'bob', api_key: bob }] }), { mode: 0o600 });
    // Room for three IPC namespaces: this one, the first launcher's own and the one it makes to see that it can. A
    // PID namespace of its own too, owned by the new user namespace (else the server may enter none of them).
    const program = ['unshare', '-U', '-r', '-m', '-i', '-p', '-f', '--propagation', 'private', 'sh', '-c', 'echo 3 > /proc/sys/user/max_ipc_namespaces && exec "$0" "$@"', bin];
    const env = { HOME: dir, HIDE_WORKSPACE: dir, HIDE_AUDIT_LOG_ENABLED: 'false', HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keys };
    const server = await startServerProcess({ cwd: dir, env, program });
    // The command's own pid: 1 as the init of a PID namespace of its own.
    const pid = async (key: string) => {
      const res = await fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell_execute', arguments: { command: 'sh', arguments: ['-c', 'echo $$'] } } }),
      });
      return ((await res.json()) as { result: { structuredContent: { stdout: string } } }).result.structuredContent.stdout;
    };
    const layers = async () => ((await (await fetch(`${server.url}/health`)).json()) as { sandboxLayers: string[] }).sandboxLayers;
    try {
      // Asked of the command, not of /health: the spare launcher booted after alice's may already have reported fewer.
      expect(await pid(alice)).toBe('1\n');
      expect(await pid(bob)).not.toBe('1\n');
      await waitFor(() => server.logs().includes('although the server may make one'), 15_000, 'the warning for the second launcher');
      expect(server.logs()).toContain('ENOSPC');
      expect(await layers()).not.toContain('pid-namespace');
    } finally {
      // unshare waits out its child and ignores SIGTERM itself: the server gets it.
      for (const pid of childrenOf(server.proc.pid)) process.kill(pid, 'SIGTERM');
      await server.ended();
    }
  }, 60_000);
});
