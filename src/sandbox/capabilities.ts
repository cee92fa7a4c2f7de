/**
 * Drops every Linux capability from the calling thread and its future
 * children. Landlock confines paths and TCP ports, but a root process keeps
 * powers Landlock does not see (raw sockets, loading kernel modules, ignoring
 * file ownership inside the allowed paths); the launcher sheds them before
 * spawning anything.
 */
import { ptr } from 'bun:ffi';
import { readFileSync } from 'node:fs';
import { check, libc } from '../util/libc.ts';

const PR_CAPBSET_DROP = 24;
const PR_CAP_AMBIENT = 47;
const PR_CAP_AMBIENT_CLEAR_ALL = 4;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

/** True when the calling thread holds any effective capability. */
export function hasCapabilities(): boolean {
  const line = readFileSync('/proc/thread-self/status', 'utf8').match(/^CapEff:\s*([0-9a-f]+)$/m);
  return line !== null && BigInt(`0x${line[1]}`) !== 0n;
}

/** CAP_SYS_ADMIN: what the launcher keeps, as root, to give each command a PID namespace. */
export const CAP_SYS_ADMIN = 21;

/**
 * Clears the bounding set (so exec of anything, even as uid 0, grants no
 * capability), the ambient and inheritable sets, then the thread's own sets
 * but for `keep`, which stays permitted and effective for this thread only:
 * with an empty bounding and inheritable set no program it executes gets it
 * back. No-op when the thread has none.
 */
export function dropCapabilities(keep: readonly number[] = []): void {
  if (!hasCapabilities()) return;
  const c = libc();
  const last = Number.parseInt(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'), 10);
  for (let cap = 0; cap <= last; cap++) check(c.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), `prctl(PR_CAPBSET_DROP, ${cap})`);
  check(c.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), 'prctl(PR_CAP_AMBIENT_CLEAR_ALL)');
  // __user_cap_header_struct {u32 version; s32 pid} and two zeroed
  // __user_cap_data_struct {u32 effective, permitted, inheritable}.
  const header = new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0]);
  const data = new Uint32Array(6);
  for (const cap of keep) {
    const word = cap >> 5;
    const bit = 1 << (cap & 31);
    data[word * 3] = (data[word * 3] ?? 0) | bit; // effective
    data[word * 3 + 1] = (data[word * 3 + 1] ?? 0) | bit; // permitted
  }
  check(c.capset(ptr(header), ptr(data)), 'capset');
}
