/**
 * The sandbox's layers by name, as /health, check-config and docs/sandbox.md's
 * threat model name them: from what a launcher reported, or predicted from
 * the kernel and privileges for check-config, which starts no launcher.
 */
import { landlockAbi } from './landlock.ts';
import { tmpWritable } from './private-tmp.ts';
import type { LayerReport } from './protocol.ts';

export function layerNames(l: LayerReport): string[] {
  return [
    'landlock-fs',
    ...(l.networkEnforced ? ['landlock-net'] : []),
    ...(l.scoped ? ['landlock-scope'] : []),
    ...(l.seccomp ? ['seccomp'] : []),
    ...(l.pidNamespace ? ['pid-namespace'] : []),
    ...(l.privateProc ? ['private-proc'] : []),
    ...(l.privateTmp ? ['private-tmp'] : []),
    ...(l.privateNetwork ? ['private-network'] : []),
    ...(l.readOnlyMounts ? ['read-only-mounts'] : []),
    ...(l.nonDumpable ? ['non-dumpable'] : []),
    'launcher-per-client',
  ];
}

/** What a launcher started now would report (PID namespaces need CAP_SYS_ADMIN, which root has). */
export function predictedLayers(network: 'off' | 'on'): string[] {
  const abi = process.platform === 'linux' ? landlockAbi() : 0;
  if (abi === 0) return [];
  return layerNames({
    abi,
    networkEnforced: network === 'on' || abi >= 4,
    scoped: abi >= 6,
    skipped: [],
    seccomp: process.arch === 'x64' || process.arch === 'arm64',
    pidNamespace: process.getuid?.() === 0,
    privateProc: process.getuid?.() === 0,
    privateTmp: process.getuid?.() === 0 && tmpWritable(),
    privateNetwork: process.getuid?.() === 0 && network === 'off',
    readOnlyMounts: process.getuid?.() === 0,
    nonDumpable: true,
    namespaceRefused: null,
    mountRefused: null,
    networkRefused: null,
    readOnlyRefused: null,
    tmpViewRefused: null,
    yieldRefused: null,
  });
}
