/**
 * Default sandbox rules: which system paths a command may read, which device
 * nodes it may write, and how the workspace, allowed paths and network
 * setting turn into Landlock rules.
 */
import { existsSync, realpathSync } from 'node:fs';
import type { LandlockRules } from './landlock.ts';

/**
 * What ordinary tools need from /etc, file by file. /etc as a whole is never
 * granted: it holds /etc/shadow, gshadow, sudoers, ssh host keys, tokens in
 * npmrc or wgetrc, TLS private keys, and the server's own keys file (/etc/hide
 * in deploy/), and Landlock cannot take a hole back out of a granted tree.
 *
 * Each path is opened (O_PATH, which follows symlinks) when the rules are
 * applied, so a rule grants the symlink's target, not the link:
 * /etc/resolv.conf → /run/systemd/resolve/stub-resolv.conf and /etc/localtime
 * → /usr/share/zoneinfo/… are granted where they point. Landlock checks the
 * real location of the file a command opens, so following /etc/alternatives/*
 * into /usr needs the /usr rule, not the /etc one. Paths that do not exist on
 * this host are skipped when the rules are applied.
 */
export const DEFAULT_ETC = [
  // TLS trust stores and OpenSSL configuration (Debian, Alpine, Fedora/RHEL).
  // Not /etc/ssl or /etc/pki/tls whole: their private/ holds TLS keys.
  '/etc/ssl/certs',
  '/etc/ssl/cert.pem',
  '/etc/ssl/openssl.cnf',
  '/etc/ca-certificates',
  '/etc/ca-certificates.conf',
  '/etc/pki/tls/certs',
  '/etc/pki/tls/cert.pem',
  '/etc/pki/tls/openssl.cnf',
  '/etc/pki/ca-trust',
  '/etc/pki/java',
  '/etc/crypto-policies',
  // Users and groups by name (no password hashes: those are in shadow).
  '/etc/passwd',
  '/etc/group',
  // Name resolution and service names.
  '/etc/hosts',
  '/etc/host.conf',
  '/etc/resolv.conf',
  '/etc/nsswitch.conf',
  '/etc/gai.conf',
  '/etc/services',
  '/etc/protocols',
  // The dynamic loader.
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/ld.so.preload',
  '/etc/alternatives',
  // Time, identity of the distribution, tool defaults.
  '/etc/localtime',
  '/etc/timezone',
  '/etc/os-release',
  '/etc/debian_version',
  '/etc/gitconfig',
  '/etc/mime.types',
  // Shells and terminals.
  '/etc/profile',
  '/etc/bash.bashrc',
  '/etc/inputrc',
  '/etc/terminfo',
  // Runtimes whose files under /usr are symlinks into /etc (Debian's
  // sitecustomize.py, the JDK's conf/ and security/).
  '/etc/python3',
  '/etc/python3.9',
  '/etc/python3.10',
  '/etc/python3.11',
  '/etc/python3.12',
  '/etc/python3.13',
  '/etc/python3.14',
  '/etc/java-8-openjdk',
  '/etc/java-11-openjdk',
  '/etc/java-17-openjdk',
  '/etc/java-21-openjdk',
  '/etc/java-25-openjdk',
];

/** Read-only for ordinary tools: binaries, libraries, and the /etc files above. */
export const DEFAULT_READ_ONLY = ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/lib32', '/opt', ...DEFAULT_ETC];

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
  const readOnly = [...(opts.readOnly ?? [...DEFAULT_READ_ONLY, ...DEFAULT_PROC])];
  const readWrite = [opts.workspace, ...(opts.allowedPaths ?? []), ...DEFAULT_DEVICES];
  return {
    readWrite,
    presentAtStart: readWrite.filter((path) => existsSync(path)),
    readOnly,
    readOnlyAt: Object.fromEntries(readOnly.flatMap((path) => {
      try {
        return [[path, realpathSync(path)]];
      } catch {
        return []; // missing now: skipped, as Landlock skips it
      }
    })),
    network: opts.network === 'on' ? 'all' : opts.network === 'off' ? {} : opts.network,
  };
}
