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
import { ensureBinary } from '../helpers/binary.ts';
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
});
