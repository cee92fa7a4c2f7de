/**
 * The exact environment a command gets, through the real server run as its
 * own process (so the server's environment is ours to set): PATH, HOME, LANG
 * and TERM (src/exec/policy.ts buildChildEnv), plus TMPDIR — the launcher's
 * private temporary directory — with the sandbox on (src/sandbox/launcher.ts).
 * Nothing names the call, and none of the server's own variables leak: not
 * HIDE_* settings, not the API key, not an unrelated SECRET_TOKEN; a name in
 * HIDE_EXEC_ENV_PASSTHROUGH is passed with its value.
 */
import { describe, expect, test } from 'bun:test';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { startServerProcess } from '../helpers/process.ts';
import { callTool } from '../helpers/server.ts';
import { tempDir } from '../helpers/temp.ts';

const API_KEY = 'child-env-test-key-0123456789abcdef';

/** Starts `hide serve` with secrets in its environment, runs /usr/bin/env through shell_execute, returns the variables the command saw. */
async function childEnv(sandbox: 'off' | 'required', extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const dir = tempDir('hide-child-env-');
  const workspace = join(dir, 'ws');
  await Bun.write(join(workspace, '.keep'), '');
  const server = await startServerProcess({
    cwd: dir,
    env: {
      HIDE_WORKSPACE: workspace,
      HIDE_SANDBOX: sandbox,
      HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'),
      HIDE_AUTH_ENABLED: 'true',
      HIDE_API_KEY: API_KEY,
      SECRET_TOKEN: 'must-not-reach-commands',
      FOO: 'foo-value',
      ...extra,
    },
  });
  try {
    const r = await callTool(`${server.url}/mcp`, 'shell_execute', { command: '/usr/bin/env' }, { 'x-api-key': API_KEY });
    if (r.isError) throw new Error(`env failed: ${JSON.stringify(r)}`);
    const lines = (r.stdout as string).split('\n').filter((l) => l !== '');
    return Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const names = (env: Record<string, string>) => Object.keys(env).sort();
const hasLandlock = landlockAbi() > 0;

describe('a command environment', () => {
  test('sandbox off: only PATH, HOME, LANG and TERM', async () => {
    expect(names(await childEnv('off'))).toEqual(['HOME', 'LANG', 'PATH', 'TERM']);
  });

  test.skipIf(!hasLandlock)('sandbox required: the same plus the private TMPDIR', async () => {
    expect(names(await childEnv('required'))).toEqual(['HOME', 'LANG', 'PATH', 'TERM', 'TMPDIR']);
  });

  test('sandbox off: a passthrough name is passed with its value, nothing else is added', async () => {
    const env = await childEnv('off', { HIDE_EXEC_ENV_PASSTHROUGH: 'FOO' });
    expect({ names: names(env), FOO: env.FOO }).toEqual({ names: ['FOO', 'HOME', 'LANG', 'PATH', 'TERM'], FOO: 'foo-value' });
  });

  test.skipIf(!hasLandlock)('sandbox required: a passthrough name is passed with its value, nothing else is added', async () => {
    const env = await childEnv('required', { HIDE_EXEC_ENV_PASSTHROUGH: 'FOO' });
    expect({ names: names(env), FOO: env.FOO }).toEqual({ names: ['FOO', 'HOME', 'LANG', 'PATH', 'TERM', 'TMPDIR'], FOO: 'foo-value' });
  });
});
