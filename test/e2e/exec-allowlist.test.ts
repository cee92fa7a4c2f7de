/**
 * HIDE_EXEC_ALLOWED_COMMANDS through the real HTTP server: with a list set,
 * only the listed base names run; anything else is a tool error that names
 * the command and starts nothing; the deny list still wins, under a link's
 * name or its target's; and nothing in the workspace runs, whatever it is
 * called — a link or a copy named `echo` may be any program.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, copyFileSync, existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { callTool, startServer, tempDir, type TestServer } from '../helpers/server.ts';

let s: TestServer;

beforeAll(async () => {
  // Comma-separated list syntax (src/config/fields.ts List); the deny list stays the default (rm, dd, …).
  s = await startServer({ HIDE_EXEC_ALLOWED_COMMANDS: 'echo, ls' });
});
afterAll(() => s.stop());

/** What a refused call returns: nothing ran, so no output and no time. */
function refusal(error: string, correlationId: string) {
  return { stdout: '', stderr: '', exitCode: -1, timedOut: false, truncated: false, executionTimeMs: 0, correlationId, error, isError: true };
}

describe('allowed commands', () => {
  test('a listed command runs', async () => {
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: 'echo', arguments: ['allowed'], correlationId: 'allow-echo' });
    // The run's duration is not asserted.
    const seen: Record<string, unknown> = { ...r, executionTimeMs: 0 };
    expect(seen).toEqual({
      stdout: 'allowed\n',
      stderr: '',
      exitCode: 0,
      timedOut: false,
      truncated: false,
      executionTimeMs: 0,
      correlationId: 'allow-echo',
      error: null,
      isError: false,
    });
  });

  test('an unlisted command is refused with a message naming it', async () => {
    await Bun.write(join(s.workspace, 'readme.txt'), 'not to be read\n');
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: 'cat', arguments: ['readme.txt'], correlationId: 'allow-cat' });
    expect(r).toEqual(refusal("command 'cat' is not in the server's allowed commands (echo, ls)", 'allow-cat'));
  });

  test('a refused command starts nothing: touch leaves no marker', async () => {
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: 'touch', arguments: ['marker'], correlationId: 'allow-touch' });
    expect({ result: r, markerExists: existsSync(join(s.workspace, 'marker')) }).toEqual({
      result: refusal("command 'touch' is not in the server's allowed commands (echo, ls)", 'allow-touch'),
      markerExists: false,
    });
  });

  test('an unlisted command given by absolute path is refused by its base name', async () => {
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: '/usr/bin/touch', arguments: ['marker'], correlationId: 'allow-abs' });
    expect({ result: r, markerExists: existsSync(join(s.workspace, 'marker')) }).toEqual({
      result: refusal("command 'touch' is not in the server's allowed commands (echo, ls)", 'allow-abs'),
      markerExists: false,
    });
  });

  test('the deny list still applies: a denied command is refused as denied', async () => {
    await Bun.write(join(s.workspace, 'victim.txt'), 'x');
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: 'rm', arguments: ['victim.txt'], correlationId: 'allow-rm' });
    expect({ result: r, victimExists: existsSync(join(s.workspace, 'victim.txt')) }).toEqual({
      result: refusal("command 'rm' is denied by the server's policy", 'allow-rm'),
      victimExists: true,
    });
  });

  test('a denial wins over the allow list', async () => {
    await using both = await startServer({ HIDE_EXEC_ALLOWED_COMMANDS: 'echo,ls', HIDE_EXEC_DENIED_COMMANDS: 'ls' });
    const r = await callTool(both.mcpUrl, 'shell_execute', { command: 'ls', correlationId: 'allow-both' });
    expect(r).toEqual(refusal("command 'ls' is denied by the server's policy", 'allow-both'));
  });
});

describe('a name in the workspace proves nothing', () => {
  const inWorkspace = (name: string) => `command '${join(s.workspace, name)}' lies in the workspace; with an allow list only the server's own programs run (echo, ls)`;

  test("a link named 'echo' to cat is refused, and cat reads nothing", async () => {
    symlinkSync(Bun.which('cat')!, join(s.workspace, 'echo'));
    await Bun.write(join(s.workspace, 'secret.txt'), 'read by cat\n');
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: './echo', arguments: ['secret.txt'], correlationId: 'link-cat' });
    expect(r).toEqual(refusal(inWorkspace('echo'), 'link-cat'));
  });

  test("a copy of touch named 'ls' is refused and leaves no marker", async () => {
    copyFileSync(Bun.which('touch')!, join(s.workspace, 'ls'));
    chmodSync(join(s.workspace, 'ls'), 0o755);
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: './ls', arguments: ['marker-ls'], correlationId: 'copy-ls' });
    expect({ result: r, markerExists: existsSync(join(s.workspace, 'marker-ls')) }).toEqual({ result: refusal(inWorkspace('ls'), 'copy-ls'), markerExists: false });
  });

  test('a link to an allowed program is refused too: the allow list names system programs', async () => {
    symlinkSync(Bun.which('echo')!, join(s.workspace, 'say'));
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: './say', arguments: ['via link'], correlationId: 'link-say' });
    expect(r).toEqual(refusal(inWorkspace('say'), 'link-say'));
  });

  test("outside the workspace too: a copy of touch named 'echo' in a scratch directory is refused; the echo on PATH, named by its path, runs", async () => {
    const scratch = tempDir('hide-allowlist-scratch-');
    copyFileSync(Bun.which('touch')!, join(scratch, 'echo'));
    chmodSync(join(scratch, 'echo'), 0o755);
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: join(scratch, 'echo'), arguments: [join(scratch, 'marker')], correlationId: 'scratch-echo' });
    expect({ result: r, markerExists: existsSync(join(scratch, 'marker')) }).toEqual({
      result: refusal(
        `command '${join(scratch, 'echo')}' is not the 'echo' found on PATH; with an allow list only the server's own programs run (echo, ls)`,
        'scratch-echo',
      ),
      markerExists: false,
    });
    const real = await callTool(s.mcpUrl, 'shell_execute', { command: Bun.which('echo')!, arguments: ['by path'], correlationId: 'path-echo' });
    expect({ stdout: real.stdout, isError: real.isError }).toEqual({ stdout: 'by path\n', isError: false });
  });

  test('a link to a denied program is refused as denied, by the target name', async () => {
    symlinkSync(Bun.which('rm')!, join(s.workspace, 'tidy'));
    await Bun.write(join(s.workspace, 'keep.txt'), 'x');
    const r = await callTool(s.mcpUrl, 'shell_execute', { command: './tidy', arguments: ['keep.txt'], correlationId: 'link-rm' });
    expect({ result: r, kept: existsSync(join(s.workspace, 'keep.txt')) }).toEqual({
      result: refusal("command 'rm' is denied by the server's policy", 'link-rm'),
      kept: true,
    });
  });
});
