/**
 * createRuntime as a list of steps that each register their cleanup: a start
 * that fails half-way closes what it had opened.
 */
import { expect, test } from 'bun:test';
import { closeSync, openSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import { logger } from '../src/core/log.ts';
import { createRuntime, StartupError } from '../src/runtime/runtime.ts';
import { tempDir } from './helpers/temp.ts';

/** Files this process holds open under `dir`. */
function openUnder(dir: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir) ? [target] : [];
    } catch {
      return [];
    }
  });
}

test('a bad IP rule after the audit log was opened refuses the start and leaves the log closed', async () => {
  const dir = tempDir('hide-runtime-');
  const audit = join(dir, 'audit.jsonl');
  const { config } = loadConfig({
    cwd: dir,
    env: { HIDE_WORKSPACE: dir, HIDE_AUDIT_LOG_FILE: audit, HIDE_ALLOWED_CLIENT_IPS: '10.0.0.0/8', HIDE_SANDBOX: 'off' },
  });
  // Valid when loaded; broken afterwards, so the failure comes after the audit step.
  config.allowedClientIps = ['10.0.0.0/33'];
  const started = createRuntime(config, { transport: 'http' });
  await expect(started).rejects.toBeInstanceOf(StartupError);
  expect(openUnder(dir)).toEqual([]);
});

test('a keys file without a usable key refuses the start and leaves no watcher or file open', async () => {
  const dir = tempDir('hide-runtime-');
  const keys = join(dir, 'keys.json');
  writeFileSync(keys, JSON.stringify({ clients: [{ client_id: 'x', api_key: 'k'.repeat(40), enabled: false }] }));
  const { config } = loadConfig({
    cwd: dir,
    env: { HIDE_WORKSPACE: dir, HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'), HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: keys, HIDE_SANDBOX: 'off' },
  });
  await expect(createRuntime(config, { transport: 'http' })).rejects.toThrow(/no usable key/);
  expect(openUnder(dir)).toEqual([]);
  // The directory can be reused at once: nothing holds it.
  closeSync(openSync(join(dir, 'probe'), 'w'));
});

test('an allowed path of / starts, with a warning that the whole host is reachable', async () => {
  const dir = tempDir('hide-runtime-');
  const warnings: string[] = [];
  const reporter = { log: (entry: { type: string; args: unknown[] }) => void (entry.type === 'warn' && warnings.push(entry.args.join(' '))) };
  logger.addReporter(reporter);
  try {
    const { config } = loadConfig({ cwd: dir, env: { HIDE_WORKSPACE: dir, HIDE_ALLOWED_PATHS: '/', HIDE_AUDIT_LOG_ENABLED: 'false', HIDE_SANDBOX: 'off' } });
    const rt = await createRuntime(config, { transport: 'stdio' });
    await rt.close();
  } finally {
    logger.removeReporter(reporter);
  }
  expect(warnings.filter((w) => w.includes('whole host'))).toEqual([
    "the workspace or HIDE_ALLOWED_PATHS is / : the file tools and commands can read and write the whole host (only the server's own files stay out of reach)",
  ]);
});
