/**
 * A root server whose kernel policy refuses some of what a launcher does as
 * root: mount(2) (a container runtime's default AppArmor profile denies it,
 * also to a process holding CAP_SYS_ADMIN), a network namespace
 * (user.max_net_namespaces=0) or mount_setattr(2) (before Linux 5.12). The
 * private /proc, terminals, temp view and read-only mounts need mounts, the
 * private network a namespace; the other layers (Landlock,
 * seccomp, a PID namespace per command) need neither. So a refusal costs only
 * what needs it, said in a warning, and never the sandbox: under
 * HIDE_SANDBOX=auto no command may run unconfined for it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { startBinary } from '../helpers/binary.ts';
import { callTool, tempDir } from '../helpers/server.ts';

const root = process.getuid?.() === 0;
const python = Bun.which('python3');
const REFUSE = join(import.meta.dir, 'fixtures', 'refuse-syscalls.py');

const CASES = [
  { refuse: '--mount', mode: 'auto', gone: ['private-proc', 'private-tmp', 'read-only-mounts'], kept: ['private-network'], says: ['mounting them was refused', 'EACCES'] },
  { refuse: '--mount', mode: 'required', gone: ['private-proc', 'private-tmp', 'read-only-mounts'], kept: ['private-network'], says: ['mounting them was refused', 'EACCES'] },
  { refuse: '--netns', mode: 'auto', gone: ['private-network'], kept: ['private-proc', 'private-tmp', 'read-only-mounts'], says: ['without its empty network namespace', 'ENOSPC'] },
  { refuse: '--mount-setattr', mode: 'auto', gone: ['read-only-mounts'], kept: ['private-proc', 'private-tmp', 'private-network'], says: ['without read-only mounts outside the granted paths', 'ENOSYS'] },
] as const;

describe.skipIf(!root || python === null || landlockAbi() < 1 || !['x64', 'arm64'].includes(process.arch))('a root server whose kernel refuses mounts or a network namespace', () => {
  let dir: string;
  let workspace: string;
  let secret: string;
  beforeAll(() => {
    dir = tempDir('hide-refused-layers-');
    workspace = join(dir, 'ws');
    mkdirSync(workspace);
    secret = join(dir, 'secret.txt');
    writeFileSync(secret, 'TOP-SECRET\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const c of CASES) {
    test(`${c.refuse}, HIDE_SANDBOX=${c.mode}: commands still run confined, without ${c.gone.join(' and ')}, and the log says why`, async () => {
      const server = await startBinary({
        cwd: dir,
        wrapper: [python!, REFUSE, c.refuse, '--'],
        env: { HIDE_SANDBOX: c.mode, HIDE_WORKSPACE: workspace, HIDE_AUTH_ENABLED: 'false', HIDE_AUDIT_LOG_FILE: join(dir, `audit-${c.refuse}-${c.mode}.jsonl`) },
      });
      try {
        const r = await callTool(`${server.url}/mcp`, 'shell_execute', {
          command: '/bin/sh',
          arguments: ['-c', `grep '^Seccomp:' /proc/self/status; echo "pid $$"; cat ${secret}`],
        });
        expect(r.stdout).not.toContain('TOP-SECRET');
        // Refused by Landlock, or not there at all behind the private temp view.
        expect(r.stderr).toMatch(/Permission denied|No such file/);
        // The launcher's filter is in place (mode 2: filter), over the wrapper's.
        expect(r.stdout).toContain('Seccomp:\t2');
        // The PID namespace per command needs neither.
        expect(r.stdout).toContain('pid 1\n');
        const health = (await (await fetch(`${server.url}/health`)).json()) as { sandbox: string; sandboxLayers: string[] };
        expect(health.sandbox).toBe('on');
        expect(health.sandboxLayers).toEqual(expect.arrayContaining(['landlock-fs', 'seccomp', 'pid-namespace', ...c.kept]));
        for (const layer of c.gone) expect(health.sandboxLayers).not.toContain(layer);
      } finally {
        await server.stop();
      }
      const log = server.logs();
      for (const words of c.says) expect(log).toContain(words);
      expect(log).not.toContain('WITHOUT the sandbox');
    }, 60_000);
  }
});
