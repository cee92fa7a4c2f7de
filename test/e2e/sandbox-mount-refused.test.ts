/**
 * A root server whose kernel policy refuses mount(2) — a container runtime's
 * default AppArmor profile does, also to a process holding CAP_SYS_ADMIN.
 * The launcher's private /proc, terminals and temp view need mounts; its
 * other layers (Landlock, seccomp, a PID namespace per command) do not. So
 * the refusal costs those three views, said in a warning, and never the
 * sandbox: under HIDE_SANDBOX=auto no command may run unconfined for it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { startBinary } from '../helpers/binary.ts';
import { callTool, tempDir } from '../helpers/server.ts';

const root = process.getuid?.() === 0;
const python = Bun.which('python3');
const DENY_MOUNT = join(import.meta.dir, 'fixtures', 'deny-mount.py');

describe.skipIf(!root || python === null || landlockAbi() < 1 || !['x64', 'arm64'].includes(process.arch))('a root server whose mounts the kernel refuses (EACCES)', () => {
  let dir: string;
  let workspace: string;
  let secret: string;
  beforeAll(() => {
    dir = tempDir('hide-mount-refused-');
    workspace = join(dir, 'ws');
    mkdirSync(workspace);
    secret = join(dir, 'secret.txt');
    writeFileSync(secret, 'TOP-SECRET\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const mode of ['auto', 'required'] as const) {
    test(`HIDE_SANDBOX=${mode}: commands still run confined, without the private /proc, and the log says why`, async () => {
      const server = await startBinary({
        cwd: dir,
        wrapper: [python!, DENY_MOUNT],
        env: { HIDE_SANDBOX: mode, HIDE_WORKSPACE: workspace, HIDE_AUTH_ENABLED: 'false', HIDE_AUDIT_LOG_FILE: join(dir, `audit-${mode}.jsonl`) },
      });
      try {
        const r = await callTool(`${server.url}/mcp`, 'shell_execute', {
          command: '/bin/sh',
          arguments: ['-c', `grep '^Seccomp:' /proc/self/status; echo "pid $$"; cat ${secret}`],
        });
        expect(r.stdout).not.toContain('TOP-SECRET');
        expect(r.stderr).toContain('Permission denied');
        // Our filter over the wrapper's: the launcher's own is in place (mode 2, filter mode).
        expect(r.stdout).toContain('Seccomp:\t2');
        // The PID namespace per command needs no mount.
        expect(r.stdout).toContain('pid 1\n');
        const health = (await (await fetch(`${server.url}/health`)).json()) as { sandbox: string; sandboxLayers: string[] };
        expect(health.sandbox).toBe('on');
        expect(health.sandboxLayers).toEqual(expect.arrayContaining(['landlock-fs', 'seccomp', 'pid-namespace']));
        expect(health.sandboxLayers).not.toContain('private-proc');
        expect(health.sandboxLayers).not.toContain('private-tmp');
      } finally {
        await server.stop();
      }
      const log = await new Response(server.proc.stderr).text();
      expect(log).toContain('mounting them was refused');
      expect(log).toContain('EACCES');
      expect(log).not.toContain('WITHOUT the sandbox');
    }, 60_000);
  }
});
