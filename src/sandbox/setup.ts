/**
 * Decides, at start-up, whether commands run in the Landlock sandbox
 * (HIDE_SANDBOX=auto|required|off), starts the launcher when they do, and
 * installs it as the command runner's spawn backend. The result is what
 * /health and check-config report.
 */
import { accessSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Config } from '../config/schema.ts';
import type { CommandRunner } from '../exec/runner.ts';
import { spawnCommand } from '../exec/spawn.ts';
import { logger } from '../log.ts';
import { isWithin } from '../workspace/confine.ts';
import { landlockAbi } from './landlock.ts';
import { SandboxLauncher } from './launcher-client.ts';
import type { ResourceLimits } from './rlimits.ts';
import { sandboxRules } from './rules.ts';

export interface SandboxStatus {
  /** The configured mode. */
  mode: 'auto' | 'required' | 'off';
  /** Whether commands actually run sandboxed. */
  active: boolean;
  /** Landlock ABI version in use (0 = none). */
  abi: number;
  network: 'off' | 'on';
  /** Why it is off, when it is. */
  reason: string | null;
}

export class SandboxUnavailableError extends Error {}

function tmpWritable(): boolean {
  try {
    accessSync(tmpdir(), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function limitsFrom(c: Config['sandbox']): ResourceLimits | undefined {
  const limits: ResourceLimits = {};
  if (c.cpuSeconds > 0) limits.cpuSeconds = c.cpuSeconds;
  if (c.memoryBytes > 0) limits.memoryBytes = c.memoryBytes;
  if (c.openFiles > 0) limits.openFiles = c.openFiles;
  if (c.fileSizeBytes > 0) limits.fileSizeBytes = c.fileSizeBytes;
  if (c.processes > 0) limits.processes = c.processes;
  return Object.keys(limits).length > 0 ? limits : undefined;
}

/**
 * Starts the sandbox when the mode and kernel allow it. Throws
 * SandboxUnavailableError when `required` cannot be met.
 */
export async function setupSandbox(
  config: Config,
  roots: readonly string[],
  runner: CommandRunner,
): Promise<{ status: SandboxStatus; launcher: SandboxLauncher | null }> {
  const log = logger.withTag('sandbox');
  const mode = config.sandbox.mode;
  const base = { mode, network: config.sandbox.network } as const;
  if (mode === 'off') return { status: { ...base, active: false, abi: 0, reason: 'HIDE_SANDBOX=off' }, launcher: null };

  const abi = process.platform === 'linux' ? landlockAbi() : 0;
  const off = (reason: string) => {
    if (mode === 'required') throw new SandboxUnavailableError(`HIDE_SANDBOX=required but ${reason}`);
    log.warn(`commands run WITHOUT the sandbox: ${reason} (HIDE_SANDBOX=auto)`);
    return { status: { ...base, active: false, abi, reason }, launcher: null };
  };
  if (abi === 0) return off('this kernel does not support Landlock');

  const launcher = new SandboxLauncher({
    rules: sandboxRules({
      workspace: roots[0]!,
      allowedPaths: roots.slice(1),
      readOnly: config.sandbox.readOnlyPaths.length > 0 ? config.sandbox.readOnlyPaths : undefined,
      network: config.sandbox.network,
    }),
    log: (m) => log.warn(m),
    // A private TMPDIR needs a writable temp directory; a read-only root
    // without a tmpfs has none, and commands then get no TMPDIR at all.
    privateTmp: tmpWritable(),
  });
  // Landlock cannot carve a hole inside a granted tree: say so if the server's
  // own files sit where commands may write.
  const own = [config.auth.keysFile, config.audit.file === '-' ? undefined : config.audit.file].filter((p): p is string => !!p);
  for (const file of own) {
    if (roots.some((root) => isWithin(root, file))) {
      log.warn(`${file} lies inside the workspace or an allowed path: sandboxed commands can read and change it; move it outside`);
    }
  }

  const status: SandboxStatus = { ...base, active: true, abi, reason: null };
  const limits = limitsFrom(config.sandbox);
  // A timer, not a microtask: in `auto` mode the server gets to listen before
  // the launcher (a second process) boots and competes for the CPU.
  const started = new Promise((resolve) => setTimeout(resolve, 0)).then(() => launcher.start()).then(
    () => {
      log.debug(`commands run sandboxed (Landlock ABI ${abi}, network ${config.sandbox.network})`);
      return true;
    },
    async (err: Error) => {
      await launcher.close();
      if (mode === 'required') throw new SandboxUnavailableError(`HIDE_SANDBOX=required but the sandbox launcher could not start: ${err.message}`);
      Object.assign(status, off(`the sandbox launcher could not start: ${err.message}`).status);
      return false;
    },
  );
  if (mode === 'required') {
    // Refuse to start rather than run one command unconfined.
    await started;
    runner.setBackend((req) => launcher.run({ ...req, limits }));
  } else {
    // auto: the launcher (a second process) starts while the server begins to
    // listen; a command that arrives first waits for it, never runs unconfined
    // unless the launcher turned out not to work.
    let sandboxed: boolean | null = null;
    void started.then((ok) => {
      sandboxed = ok;
    });
    runner.setBackend(async (req) => {
      if (sandboxed === null) sandboxed = await started;
      return sandboxed ? launcher.run({ ...req, limits }) : spawnCommand(req);
    });
  }
  return { status, launcher };
}
