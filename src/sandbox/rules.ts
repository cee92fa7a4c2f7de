/**
 * Default sandbox rules: which system paths a command may read, which device
 * nodes it may write, and how the workspace, allowed paths and network
 * setting turn into Landlock rules.
 */
import type { LandlockRules } from './landlock.ts';

/** Read-only for ordinary tools: binaries, libraries, configuration. */
export const DEFAULT_READ_ONLY = ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/lib32', '/etc', '/opt'];

/**
 * /proc read-only so `ps`, `/proc/self/*` and runtimes probing /proc work. It
 * exposes other processes' command lines and status (not their environment,
 * memory or fds: Landlock's ptrace rule hides those across the sandbox edge).
 */
export const DEFAULT_PROC = ['/proc'];

/** Device nodes programs open for writing. */
export const DEFAULT_DEVICES = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'];

export interface SandboxRuleOptions {
  workspace: string;
  allowedPaths?: readonly string[];
  /** Replaces DEFAULT_READ_ONLY + DEFAULT_PROC. */
  readOnly?: readonly string[];
  network: 'off' | 'on' | { allowConnectPorts?: number[]; allowBindPorts?: number[] };
}

export function sandboxRules(opts: SandboxRuleOptions): LandlockRules {
  return {
    readWrite: [opts.workspace, ...(opts.allowedPaths ?? []), ...DEFAULT_DEVICES],
    readOnly: [...(opts.readOnly ?? [...DEFAULT_READ_ONLY, ...DEFAULT_PROC])],
    network: opts.network === 'on' ? 'all' : opts.network === 'off' ? {} : opts.network,
  };
}
