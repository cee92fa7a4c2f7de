/**
 * In a container /dev/ptmx is a link to pts/ptmx, not a device node of its
 * own. A root launcher with terminals granted it by name as a read-write grant
 * that must lead to itself, found it leading into /dev/pts, and refused to
 * boot: no command ran at all. The server here runs in a mount namespace whose
 * /dev is laid out as a container runtime lays it out.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { callTool } from '../helpers/server.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { tempDir } from '../helpers/temp.ts';

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts');
const supported = process.platform === 'linux' && process.getuid?.() === 0 && landlockAbi() >= 1 && Bun.which('unshare') !== null;

/** /dev as a container has it: a tmpfs, the usual device nodes, a devpts of its own, /dev/ptmx -> pts/ptmx. */
const CONTAINER_DEV = `
set -e
host=$(mktemp -d /var/tmp/hide-host-dev-XXXXXX)
mount --bind /dev "$host"
mount -t tmpfs -o mode=0755,nosuid tmpfs /dev
for d in null zero full random urandom tty; do touch "/dev/$d"; mount --bind "$host/$d" "/dev/$d"; done
mkdir /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
umount -l "$host"
rmdir "$host"
exec "${process.execPath}" --no-env-file "${MAIN}" "$@"
`;

describe.skipIf(!supported)('a root server whose /dev/ptmx is a link into /dev/pts', () => {
  let dir: string;
  let server: ServerProcess;
  beforeAll(async () => {
    dir = tempDir('hide-ptmx-link-');
    mkdirSync(join(dir, 'ws'));
    server = await startServerProcess({
      cwd: dir,
      env: { HIDE_WORKSPACE: join(dir, 'ws'), HIDE_SANDBOX: 'required', HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl') },
      program: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', CONTAINER_DEV, 'sh'],
    });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('commands run, and a process gets its terminal', async () => {
    const url = `${server.url}/mcp`;
    const plain = await callTool(url, 'shell_execute', { command: 'echo', arguments: ['ran'] });
    expect(plain.error ?? null).toBeNull();
    expect(plain.stdout).toBe('ran\n');
    const started = await callTool(url, 'process_start', { command: 'sh', arguments: ['-c', 'tty; test -t 0 && echo is-a-terminal'], terminal: { cols: 80, rows: 24 } });
    expect(started.error ?? null).toBeNull();
    let output = '';
    let cursor = 0;
    for (let i = 0; i < 20 && !output.includes('is-a-terminal'); i++) {
      const r = await callTool(url, 'process_read', { processId: started.processId, cursor, waitMs: 2000 });
      output += r.output;
      cursor = r.cursor;
      if (r.status !== 'running') break;
    }
    expect(output).toContain('/dev/pts/');
    expect(output).toContain('is-a-terminal');
  }, 60_000);
});
