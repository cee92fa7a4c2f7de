import { existsSync, realpathSync } from 'node:fs';
import { expect, test } from 'bun:test';
import { join } from 'node:path';
import { LAUNCHER_COMMAND, launcherArgv } from '../../src/sandbox/launcher-argv.ts';
import { DEFAULT_PROC, DEFAULT_READ_ONLY, sandboxRules } from '../../src/sandbox/rules.ts';

test('from source the launcher is bun running src/main.ts in launcher mode', () => {
  expect(launcherArgv()).toEqual([process.execPath, join(import.meta.dir, '../../src/main.ts'), LAUNCHER_COMMAND]);
});

test('default rules: workspace and allowed paths read-write, system read-only, network off', () => {
  expect(sandboxRules({ workspace: '/w', allowedPaths: ['/data'], network: 'off' })).toEqual({
    readWrite: ['/w', '/data', '/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'],
    readOnly: [...DEFAULT_READ_ONLY, ...DEFAULT_PROC],
    // Where each read-only grant led at the start, for a launcher to check it still does; missing ones are left out.
    readOnlyAt: Object.fromEntries([...DEFAULT_READ_ONLY, ...DEFAULT_PROC].filter((p) => existsSync(p)).map((p) => [p, realpathSync(p)])),
    // The read-write grants there at the start: a launcher refuses to boot when one of them is gone.
    presentAtStart: ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'].filter((p) => existsSync(p)),
    network: {},
  });
  expect(sandboxRules({ workspace: '/w', network: 'on' }).network).toBe('all');
});
