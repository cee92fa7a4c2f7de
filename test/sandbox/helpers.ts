/**
 * Shared fixtures for the sandbox tests: a temp workspace with a sibling
 * "outside" directory holding a secret, a launcher started from source, and
 * condition waits for processes that must disappear.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxLauncher, type SandboxLauncherOptions } from '../../src/sandbox/launcher-client.ts';
import type { SandboxRunRequest, SandboxRunResult } from '../../src/sandbox/protocol.ts';
import { PidNamespaces } from '../../src/sandbox/pidns.ts';
import { type SandboxRuleOptions, sandboxRules } from '../../src/sandbox/rules.ts';
import { isLive } from '../helpers/procfs.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor as waitUntil } from '../helpers/wait.ts';

/** From source the launcher is bun running src/main.ts in launcher mode (launcherArgv's default). */

export interface Fixture {
  root: string;
  workspace: string;
  outside: string;
  secret: string;
  [Symbol.dispose](): void;
}

/** root/ws is the workspace; root/outside/secret.txt must stay out of reach. */
export function makeFixture(): Fixture {
  const root = tempDir('hide-sbx-test-');
  const workspace = join(root, 'ws');
  const outside = join(root, 'outside');
  mkdirSync(workspace);
  mkdirSync(outside);
  const secret = join(outside, 'secret.txt');
  writeFileSync(secret, 'TOP-SECRET\n');
  return { root, workspace, outside, secret, [Symbol.dispose]: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * Where the fixtures' launchers make their private TMPDIRs: as root a launcher
 * hides the rest of that directory from its commands, and the fixtures'
 * secrets, beside their workspaces in the system temp directory, must stay
 * there for Landlock to be what refuses them.
 */
let tmpParent: string | null = null;
const launcherTmpParent = () => (tmpParent ??= tempDir('hide-sbx-tmpdirs-'));

export function makeLauncher(
  workspace: string,
  network: SandboxRuleOptions['network'] = 'off',
  extra: Partial<SandboxLauncherOptions> = {},
): SandboxLauncher {
  return new SandboxLauncher({
    rules: sandboxRules({ workspace, network }),
    // As the server does: the launcher is the init of its own PID namespace (root), so nothing outlives it.
    pidNamespaces: PidNamespaces.open(),
    tmpParent: launcherTmpParent(),

    log: (m) => console.error(m),
    ...extra,
  });
}

export const ENV = { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: '/nonexistent' };

export function request(argv: string[], cwd: string, more: Partial<SandboxRunRequest> = {}): SandboxRunRequest {
  return { argv, cwd, env: ENV, timeoutMs: 10_000, maxOutputBytes: 1 << 20, ...more };
}

/** `sh -c script` in the sandbox. */
export function sh(launcher: SandboxLauncher, cwd: string, script: string, more: Partial<SandboxRunRequest> = {}): Promise<SandboxRunResult> {
  return launcher.run(request(['/bin/sh', '-c', script], cwd, more));
}

/** Live (non-zombie) processes whose command line contains `marker`. */
export function liveProcesses(marker: string): number[] {
  const found = Bun.spawnSync(['pgrep', '-f', marker]).stdout.toString().trim();
  if (found === '') return [];
  return found
    .split('\n')
    .map(Number)
    .filter((pid) => isLive(`/proc/${pid}`));
}

/** Polls until `check` holds (10 s by default: process storms take a while to end). */
export const waitFor = (check: () => boolean, limitMs = 10_000): Promise<boolean> => waitUntil(check, limitMs, 'condition');

/** A marker unlikely to appear in any other command line: a fractional sleep length. */
export function uniqueSleep(): string {
  return `30.${process.pid}${Math.floor(Math.random() * 1e9)}`;
}

/** Direct children (zombies included) of a process, over all its threads. */
export function childrenOf(pid: number): number[] {
  const pids: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      pids.push(...readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    } catch {
      // Thread gone.
    }
  }
  return pids;
}
