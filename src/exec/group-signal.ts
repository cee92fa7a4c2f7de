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

/** What `/proc/<pid>` says of a process's signals, and when it started (a reused pid starts later). */
interface SignalState {
  caught: bigint;
  ignored: bigint;
  blocked: bigint;
  /** Pending for the thread or the process. */
  pending: bigint;
  /** In sigwait (sigtimedwait): what it waits for is unblocked meanwhile, and still delivered. */
  waiting: boolean;
  zombie: boolean;
  startTime: string;
}

function signalState(pid: number): SignalState | null {
  let status: string;
  let stat: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const mask = (field: string) => {
    const hex = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1];
    return hex === undefined ? null : BigInt(`0x${hex}`);
  };
  const [caught, ignored, blocked, pending, shared] = ['SigCgt', 'SigIgn', 'SigBlk', 'SigPnd', 'ShdPnd'].map(mask);
  if (caught == null || ignored == null || blocked == null) return null;
  let waiting: boolean;
  try {
    waiting = readFileSync(`/proc/${pid}/wchan`, 'utf8').includes('sigtimedwait');
  } catch {
    return null;
  }
  // Field 22 of stat, counted after the command name, which may hold spaces and parentheses.
  const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { caught, ignored, blocked, pending: (pending ?? 0n) | (shared ?? 0n), waiting, zombie: afterName[0] === 'Z', startTime: afterName[19] ?? '' };
}

const bitOf = (sig: NodeJS.Signals) => 1n << BigInt(constants.signals[sig] - 1);

/**
 * Whether a signal reaches `pid` when it is the init of a PID namespace: the
 * kernel delivers to an init only the signals it catches (or blocks, to take
 * later); one it leaves at the default action is discarded, so a SIGTERM or
 * SIGINT would do nothing at all. True when it catches, ignores or blocks it
 * (sigwait included), or when its state cannot be read. Ask before sending:
 * afterwards a woken sigwait shows neither the mask nor the wait.
 */
export function initTakes(pid: number, sig: NodeJS.Signals): boolean {
  const state = signalState(pid);
  if (state === null) return true;
  const bit = bitOf(sig);
  return ((state.caught | state.ignored | state.blocked) & bit) !== 0n || state.waiting;
}

/**
 * When an init that leaves `sig` at its default only blocked it (a shell
 * blocks nearly every signal around each fork, dash for about a tenth of a
 * busy loop's time), the kernel discards it at the unblocking: looks again a
 * few times over 640 ms (a loaded machine may not run the shell for a
 * while), and sends the SIGKILL the default action amounts to once the
 * signal is neither blocked nor pending and still not caught or ignored. A
 * program that blocks it to take it another way (signalfd, sigwaitinfo) is
 * seen with it blocked and no longer pending, and is left alone.
 */
const RECHECK_MS = [2, 3, 5, 10, 20, 40, 80, 160, 320];

function killOnceDiscarded(pid: number, sig: NodeJS.Signals, startTime: string, step = 0, takenLooks = 0): void {
  if (step >= RECHECK_MS.length) return;
  setTimeout(() => {
    const state = signalState(pid);
    // Gone, ending, or its pid taken by another process since.
    if (state === null || state.zombie || state.startTime !== startTime) return;
    const bit = bitOf(sig);
    if (((state.caught | state.ignored) & bit) !== 0n || state.waiting) return;
    const blocked = (state.blocked & bit) !== 0n;
    const pending = (state.pending & bit) !== 0n;
    // Blocked and no longer pending: taken while blocked (signalfd, sigwaitinfo), which a later unblocking does not
    // undo. Seen twice running: a shell blocks it again at its next fork, for a tenth of the time.
    if (blocked && !pending) {
      if (takenLooks + 1 < 2) killOnceDiscarded(pid, sig, startTime, step + 1, takenLooks + 1);
      return;
    }
    if (blocked || pending) return killOnceDiscarded(pid, sig, startTime, step + 1);
    killGroup(pid, 'SIGKILL');
  }, RECHECK_MS[step]).unref();
}

/**
 * Sends `sig` to the group led by `pid`. When the leader is a namespace init
 * (`namespaceInit`) that would discard it, the leader gets what its default
 * action amounts to, SIGKILL, which ends its namespace with it; the rest of
 * the group gets `sig` first. So does one that had it blocked only for a
 * moment and then discarded it (killOnceDiscarded). A signal the leader
 * handles, ignores or keeps blocked is delivered as sent (and a caller's
 * grace before SIGKILL still applies).
 */
export function signalGroup(pid: number, sig: NodeJS.Signals, namespaceInit: boolean): void {
  // Judged before the signal is sent: a look afterwards found an init woken from sigwait running, with no wait
  // channel to show, took it for one that discards the signal and killed it.
  const state = namespaceInit && sig !== 'SIGKILL' ? signalState(pid) : null;
  const bit = bitOf(sig);
  const handled = state === null || ((state.caught | state.ignored) & bit) !== 0n || state.waiting;
  killGroup(pid, sig);
  if (handled) return;
  if ((state.blocked & bit) === 0n) killGroup(pid, 'SIGKILL');
  else killOnceDiscarded(pid, sig, state.startTime);
}
