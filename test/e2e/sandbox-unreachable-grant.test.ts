/**
 * A root server whose workspace lies in another user's home (mode 0700): the
 * launcher, its capabilities dropped before it applies Landlock, cannot look
 * at the workspace it is to grant. That is the configuration's doing, not the
 * kernel's, so under HIDE_SANDBOX=auto no command may run unconfined for it
 * (reading what the server can, its keys among them): calls are refused
 * saying why, and `required` refuses to start.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { callTool, startServer } from '../helpers/server.ts';

const root = process.getuid?.() === 0;
// Outside the system temp directory: as root a launcher's commands see there only their TMPDIR and the granted paths,
// bound back onto a tmpfs through directories of its own making, which would make the closed home reachable.
const PARENT = '/var/tmp';
const apart = realpathSync(tmpdir()) !== realpathSync(PARENT);

describe.skipIf(!root || !apart || landlockAbi() < 1)("a workspace in another user's closed home, root server", () => {
  let top: string;
  let workspace: string;
  let secret: string;
  beforeAll(() => {
    top = realpathSync(mkdtempSync(join(PARENT, 'hide-unreachable-ws-')));
    chmodSync(top, 0o755);
    const home = join(top, 'home');
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, 65534, 65534);
    workspace = join(home, 'ws');
    mkdirSync(workspace);
    secret = join(top, 'secret.txt');
    writeFileSync(secret, 'TOP-SECRET\n');
  });
  afterAll(() => rmSync(top, { recursive: true, force: true }));

  test('HIDE_SANDBOX=auto: a command is refused with the reason, never run unconfined', async () => {
    await using s = await startServer({ HIDE_SANDBOX: 'auto', HIDE_WORKSPACE: workspace });
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: '/bin/cat', arguments: [secret] });
    expect(r.stdout ?? '').not.toContain('TOP-SECRET');
    expect(r.error).toContain('sandbox unavailable');
    expect(r.error).toContain('EACCES');
    const health = (await (await fetch(`${s.url}/health`)).json()) as { sandbox: string };
    expect(health.sandbox).toBe('on');
  });

  test('HIDE_SANDBOX=required refuses to start', async () => {
    await expect(startServer({ HIDE_SANDBOX: 'required', HIDE_WORKSPACE: workspace })).rejects.toThrow('EACCES');
  });
});
