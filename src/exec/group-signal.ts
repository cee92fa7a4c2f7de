/**
 * Signals to a command's process group, and the one judgement both kinds of
 * command (one-shot and long-lived) need about them: under the sandbox as
 * root the group's leader is the init of its own PID namespace, and the
 * kernel discards a signal such an init leaves at its default action. A
 * SIGTERM to a `sleep` there does nothing at all, so a timeout, a
 * cancellation or a process_kill would wait out the whole grace for the
 * SIGKILL; `signalGroup` sends that SIGKILL at once instead, as the default
 * action (ending the process) would have done.
 */
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';

export function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Whether a signal reaches `pid` when it is the init of a PID namespace: the
 * kernel delivers to an init only the signals it catches (or blocks, to take
 * later); one it leaves at the default action is discarded, so a SIGTERM or
 * SIGINT would do nothing at all. True when it catches, ignores or blocks it
 * (sigwait included), or when its state cannot be read. Ask before sending:
 * afterwards a woken sigwait shows neither the mask nor the wait.
 */
export function initTakes(pid: number, sig: NodeJS.Signals): boolean {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return true;
  }
  const bit = 1n << BigInt(constants.signals[sig] - 1);
  for (const field of ['SigCgt', 'SigIgn', 'SigBlk']) {
    const hex = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1];
    if (hex === undefined || (BigInt(`0x${hex}`) & bit) !== 0n) return true;
  }
  // sigwait unblocks what it waits for while it waits (SigBlk no longer shows it), and the kernel still delivers it.
  try {
    return readFileSync(`/proc/${pid}/wchan`, 'utf8').includes('sigtimedwait');
  } catch {
    return true;
  }
}

/**
 * Sends `sig` to the group led by `pid`. When the leader is a namespace init
 * (`namespaceInit`) that would discard it, the leader gets what its default
 * action amounts to, SIGKILL, which ends its namespace with it; the rest of
 * the group gets `sig` first. A signal the leader handles, ignores or blocks
 * is delivered as sent (and a caller's grace before SIGKILL still applies).
 */
export function signalGroup(pid: number, sig: NodeJS.Signals, namespaceInit: boolean): void {
  // Judged before the signal is sent: a look afterwards found an init woken from sigwait running, with no wait
  // channel to show, took it for one that discards the signal and killed it.
  const discarded = namespaceInit && sig !== 'SIGKILL' && !initTakes(pid, sig);
  killGroup(pid, sig);
  if (discarded) killGroup(pid, 'SIGKILL');
}
