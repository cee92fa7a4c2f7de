/**
 * Orphans: processes whose parent died. A child subreaper gets them instead
 * of init, and can then kill them, because the kernel — not the orphan —
 * says they descend from us: nothing a command reports, writes into its
 * environment or names itself is trusted. Bun does not wait for children it
 * did not spawn, so the sweep reaps their zombies too.
 *
 * Used by the launcher when commands cannot have a PID namespace of their own
 * (an unprivileged server), and for what a dead launcher leaves by the
 * supervisor above the server (supervisor.ts), or by the server without one.
 */
import { ptr } from 'bun:ffi';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { constants } from 'node:os';
import { check, lastErrno, libc } from '../util/libc.ts';

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;

export function becomeSubreaper(): void {
  check(libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 'prctl(PR_SET_CHILD_SUBREAPER)');
}

/**
 * True when /proc names processes as this process does. Inside a PID
 * namespace of its own with the host's /proc it does not, and pids read there
 * must never be signalled.
 */
export function procMatchesOwnPids(): boolean {
  try {
    return readlinkSync('/proc/self') === String(process.pid);
  } catch {
    return false;
  }
}

/** Children of a process (default: this one), over all its threads (an orphan goes to any live thread). */
export function childPids(pid: number | 'self' = 'self'): number[] {
  const pids: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return pids;
  }
  for (const tid of tasks) {
    try {
      const list = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (list !== '') pids.push(...list.split(' ').map(Number));
    } catch {
      // Thread gone.
    }
  }
  return pids;
}

/** The fields of a /proc stat line after the command name (state, ppid, …); null when the process is gone. */
function statFields(path: string): string[] | null {
  try {
    const stat = readFileSync(path, 'utf8');
    // The command name in parentheses may hold anything: the fields follow the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** State letter (R, S, T, Z, …) of a process, or of one of its threads; null when it is gone. */
export function stateOf(pid: number, tid?: string): string | null {
  return statFields(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`)?.[0]?.[0] ?? null;
}

const P_PID = 1;
const WEXITED = 4;
const WNOWAIT = 0x01000000;
// siginfo_t as waitid fills it, on x86_64 and aarch64: the pid at byte 16 of 128.
const SI_PID = 16;
const siginfo = new Uint8Array(128);
const siginfoView = new DataView(siginfo.buffer);

/**
 * True for a child of ours that has ended, every thread of it, and for one
 * that is no longer ours (reaped). waitid reports a process only once its
 * last thread is gone (a main thread that exited while the others run on
 * shows "Z" in /proc but is not reported), and WNOWAIT leaves it unreaped,
 * its pid still its own. One call, no /proc read: a sweep asks this of every
 * child, and a chain that hops leaves a dead child at each hop.
 */
function hasEnded(pid: number): boolean {
  // With WNOHANG and nothing ended, waitid need not touch the pid field: it is cleared first.
  siginfo.fill(0, SI_PID, SI_PID + 4);
  if (libc().waitid(P_PID, pid, ptr(siginfo), WEXITED | WNOHANG | WNOWAIT) !== 0) return true;
  return siginfoView.getInt32(SI_PID, true) !== 0;
}

/** Most processes one orphan's tree may hold before the sweep stops walking it (the rest go in the next round). */
const MAX_TREE = 4096;

// pidfd_open and pidfd_send_signal have one number on every architecture.
const SYS_pidfd_open = 434;
const SYS_pidfd_send_signal = 424;
const SIGKILL = 9;
const SIGSTOP = 19;
const ESRCH = constants.errno.ESRCH;

/** A process held by a descriptor (pidfd): signals through it reach that process or nobody, never a successor to its pid. */
interface Held {
  pid: number;
  fd: number;
}

function hold(pid: number): Held | null {
  const fd = Number(libc().syscall(SYS_pidfd_open, pid, 0, 0, 0, 0));
  return fd < 0 ? null : { pid, fd };
}

/** Sends `sig` (0: only asks whether it is still there); false once the process is gone. */
function signalHeld(p: Held, sig: number): boolean {
  return Number(libc().syscall(SYS_pidfd_send_signal, p.fd, sig, 0, 0, 0)) === 0;
}

/**
 * Processes a whole-forest sweep killed that are not gone yet, held by
 * pidfd. A pending SIGKILL refuses every fork, so none of them can grow the
 * forest again: no sweep stops or waits for them again (one asleep in the
 * kernel may take long to die, and would hold every sweep for its settling
 * wait), and they are let go once gone or reaped.
 */
const dying = new Map<number, Held>();

/** True while `pid` is a process a sweep killed that is still there (a zombie included). */
function isDying(pid: number): boolean {
  const held = dying.get(pid);
  if (held === undefined) return false;
  if (signalHeld(held, 0)) return true;
  letGo(pid);
  return false;
}

function letGo(pid: number): void {
  const held = dying.get(pid);
  if (held === undefined) return;
  libc().close(held.fd);
  dying.delete(pid);
}

/** Sends SIGSTOP through a pidfd from elsewhere (true: sent; null: that way is gone); null: from this thread. */
let stopSender: ((fd: number) => boolean | null) | null = null;

/**
 * Stop signals go through `send` from now on: a launcher whose seccomp
 * filter refuses them has a thread outside it send them.
 */
export function sendStopSignalsThrough(send: (fd: number) => boolean | null): void {
  stopSender = send;
}

/**
 * Stops a process of the tree; false once it is gone. Should the way the
 * stop goes be gone, the process is killed at once instead: its children
 * are then handed over unfrozen, and the sweep's next rounds take them.
 */
function freeze(p: Held): boolean {
  const sent = stopSender === null ? signalHeld(p, SIGSTOP) : stopSender(p.fd);
  return sent ?? signalHeld(p, SIGKILL);
}

function parentOf(pid: number): number | null {
  const ppid = statFields(`/proc/${pid}/stat`)?.[1];
  return ppid === undefined ? null : Number(ppid);
}

/**
 * Holds `pid`, listed as a child of `parent`, if it still is one. A pid read
 * from a list names a process only until that process is reaped, and a
 * stopped parent that ignores SIGCHLD has its children reaped by the kernel
 * the moment they exit: the pid may by now belong to anyone (another
 * client's command, a launcher). Held first, then checked: the parent, still
 * there, has kept its pid, so a process whose parent it is descends from the
 * tree; had the pid changed hands before the hold, its new owner fails the
 * check; after it, the descriptor names the dead child and reaches nobody.
 */
function holdChild(pid: number, parent: Held): Held | null {
  const child = hold(pid);
  if (child === null) return null;
  if (parentOf(pid) === parent.pid && signalHeld(parent, 0)) return child;
  libc().close(child.fd);
  return null;
}

/**
 * How long a kill of a tree that is not swept again waits for the processes it stopped to show as stopped or dead
 * before it looks again (longer while they are still settling: waitToSettle). A process can stay unsettled (a vfork
 * parent waits, unstoppable, for its stopped child), so the wait has a bound, and a sweep (which lists its children again until none is left) does not wait at all: the
 * event loop it runs on serves every client.
 */
export const SETTLE_MS = 100;
/** How far past its bound the wait goes on while the tree is still settling (a process of many threads on a busy machine). */
const SETTLE_MAX_MS = 1000;
/** How long the walk watches a process it stopped for the stop to show, before it lists its children anyway. */
const STOP_SPIN_MS = 0.5;
/** Looks at the stopped tree after the first walk, at most (each must find someone new to earn the next). */
const MAX_LOOKS = 8;

/** True for the state of a process or thread that is stopped or dead (null: gone). */
function isStill(state: string | null): boolean {
  return state === null || state === 'T' || state === 't' || state === 'Z' || state === 'X';
}

/** Threads of a stopped tree that may still fork or hand children over; `running`: one of them is runnable. */
interface Unsettled {
  threads: number;
  running: boolean;
}

/**
 * Counts `pid`'s threads that are not stopped or dead yet. Each thread stops on its own: one in the middle of a fork
 * stops only when the fork returns, and the child appears only then, while the others (the main thread among them,
 * whose state /proc/PID/stat shows) may have stopped long before, or exited. A runnable one ("R") stops as soon as
 * it runs, or its syscall returns; one asleep in the kernel ("D": a vfork parent waiting for its stopped child) may
 * never.
 */
function countUnsettled(pid: number, into: Unsettled): void {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const tid of tids) {
    const state = stateOf(pid, tid);
    if (isStill(state)) continue;
    into.threads++;
    if (state === 'R') into.running = true;
  }
}

function unsettled(frozen: Held[]): Unsettled {
  const into = { threads: 0, running: false };
  for (const p of frozen) countUnsettled(p.pid, into);
  return into;
}

/**
 * Waits for the stopped tree to settle until `settleBy`, and past it, up to SETTLE_MAX_MS, for as long as it is
 * still settling: a thread of it is runnable, or fewer of its threads were running than at a look within the last
 * SETTLE_MS. A loaded machine can take longer than the bound to stop a process of many threads (each must be
 * scheduled to stop), and one of them may be in the middle of a fork whose child would be born after the last look
 * and outlive the kill; a tree that does not move at all (a vfork parent waiting for its stopped child) is not waited
 * for past the bound. A sweep (`settleBy` 0) does not wait, nor read the tree's states at all.
 */
function waitToSettle(frozen: Held[], settleBy: number): void {
  const cap = settleBy + SETTLE_MAX_MS;
  if (settleBy <= 0 || performance.now() >= cap) return;
  let left = unsettled(frozen).threads;
  let until = settleBy;
  while (left > 0) {
    Bun.sleepSync(1);
    const now = unsettled(frozen);
    if (now.threads < left || now.running) until = Math.max(until, Math.min(performance.now() + SETTLE_MS, cap));
    left = now.threads;
    if (performance.now() >= until) return;
  }
}

/** Reaps children of ours that are dead (their pids then free), and empties the list. */
function reapAll(pids: number[]): void {
  for (const pid of pids) {
    libc().waitpid(pid, null, WNOHANG);
    letGo(pid);
  }
  pids.length = 0;
}

/**
 * Stops `root` and every descendant, then kills them all. Killing only the
 * orphan would let a child of it (re-parented to us in turn) fork a
 * successor before the next sweep, and so on for ever; a stopped process
 * cannot fork, so the tree is frozen from the top before anything dies.
 * SIGSTOP is asynchronous: each process is listed once it shows as stopped
 * (or after STOP_SPIN_MS), so a fork that raced the signal is mostly still
 * seen, and the looks below find the rest. Every process is signalled
 * through a pidfd taken while it was known to be in the tree.
 *
 * A sweep's walk also ends at `deadline`, with the part it stopped killed:
 * what it had not reached yet is handed to us as its stopped parents die,
 * and the next sweep takes it, so no tree holds the event loop for long.
 *
 * A process that dies during the walk (a kill sent just before it, or its
 * own end) hands its children to the nearest subreaper above it, which may
 * have been listed already: they would be missed, and live on once the
 * subreaper is killed too. So every stopped process is listed again, until
 * a look finds nobody new; before the looks it waits, until `settleBy` and
 * past it while the tree is still settling (waitToSettle), for the tree to
 * settle (every process stopped or dead: nothing can hand children over any
 * more).
 */
function killTree(root: number, budget: number, settleBy: number, deadline = Infinity): number {
  return killTrees([root], budget, settleBy, deadline, null);
}

/**
 * killTree over several of our children at once: every tree is stopped
 * before any process dies. With `adopt`, the looks go on while they find
 * someone new (not MAX_LOOKS), and each also takes our own new children that
 * `adopt` accepts (a member that exits during the walk hands its children to
 * us, the nearest subreaper), so nothing of the forest is left running when
 * the kill frees its processes' places in the uid's count. Children of ours
 * that have ended (`dead`, and those the looks find) are reaped after each
 * walk, once what it found is stopped.
 */
function killTrees(roots: readonly number[], budget: number, settleBy: number, deadline: number, adopt: ((pid: number) => boolean) | null, dead: number[] = []): number {
  const tops = new Map<number, Held>();
  let byPid = 0;
  for (const root of roots) {
    // Our own child, not reaped yet: its pid names it alone.
    const top = hold(root);
    if (top !== null) tops.set(root, top);
    else if (lastErrno() !== ESRCH) byPid += killChildByPid(root);
  }
  if (tops.size === 0) return byPid;
  const frozen: Held[] = [];
  const inTree = new Set<number>();
  const queue: { pid: number; parent: Held | null }[] = [...tops.keys()].map((pid) => ({ pid, parent: null }));
  const opened: Held[] = [...tops.values()];
  try {
    for (let look = 0; ; look++) {
      // A root is always taken, even past the deadline: a sweep that stopped nobody would find the same tree next time.
      while (queue.length > 0 && frozen.length < budget && (inTree.size === 0 || performance.now() < deadline)) {
        const { pid, parent } = queue.pop()!;
        if (inTree.has(pid) || (adopt !== null && isDying(pid))) continue;
        // Not in the tree (yet): a child handed over meanwhile is found again under its new parent.
        let p: Held | null;
        if (parent !== null) {
          p = holdChild(pid, parent);
          if (p !== null) opened.push(p);
        } else {
          p = tops.get(pid) ?? hold(pid);
          if (p !== null && !tops.has(pid)) opened.push(p);
        }
        if (p === null) continue;
        inTree.add(pid);
        if (!freeze(p)) continue;
        frozen.push(p);
        // Bounded in time, not in reads: on a machine the tree's own processes keep busy, each read can wait long.
        const spinEnd = performance.now() + STOP_SPIN_MS;
        while (!isStill(stateOf(pid)) && performance.now() < spinEnd);
        for (const child of childPids(pid)) queue.push({ pid: child, parent: p });
      }
      // What it found is stopped: only now are places in the uid's count freed, for what it has not found yet.
      reapAll(dead);
      if (frozen.length >= budget || (adopt === null && look === MAX_LOOKS) || performance.now() >= deadline) break;
      waitToSettle(frozen, settleBy);
      for (const p of frozen) for (const child of childPids(p.pid)) if (!inTree.has(child)) queue.push({ pid: child, parent: p });
      // Ours, not reaped: their pids name them alone. The dead among them (a chain that hops leaves one at each
      // hop) are reaped after the next walk: left to the end of the looks, they filled the uid's count while the
      // looks went on, and every fork of every client failed.
      if (adopt !== null) {
        for (const child of childPids()) {
          if (inTree.has(child) || !adopt(child)) continue;
          if (hasEnded(child)) dead.push(child);
          else queue.push({ pid: child, parent: null });
        }
      }
      if (queue.length === 0) break;
    }
    for (const p of frozen) {
      signalHeld(p, SIGKILL);
      if (adopt !== null && !dying.has(p.pid)) dying.set(p.pid, p);
    }
    reapAll(dead);
  } finally {
    for (const p of opened) if (dying.get(p.pid) !== p) libc().close(p.fd);
  }
  return frozen.length + byPid;
}

/**
 * Stops and kills `pid`, a child of ours, with every process below it, at
 * once: the frozen tree cannot fork a successor, and nothing below is
 * re-parented away before it is seen. Returns how many were killed (at most
 * MAX_TREE; what lies beyond is left for a sweep). `settleBy` (a
 * performance.now() time) bounds the wait for the stopped tree to settle;
 * several trees killed together share one.
 */
export function killProcessTree(pid: number, settleBy = performance.now() + SETTLE_MS): number {
  return killTree(pid, MAX_TREE, settleBy);
}

/**
 * Without pidfds (a container's seccomp profile that predates pidfd_open
 * refuses it; kernels before 5.3 lack it) only our own children can be
 * signalled safely: one is killed by its pid, which nobody else can get
 * before we reap it. Its children become ours in turn and go the same way in
 * the sweep's next rounds, a level at a time and without the freeze, but
 * never reaching a stranger.
 */
function killChildByPid(pid: number): number {
  try {
    process.kill(pid, 'SIGKILL');
    return 1;
  } catch {
    return 0;
  }
}

/**
 * True when the process runs under a seccomp filter: everything a launcher
 * started does, and nothing else the server's process starts (a test runner
 * hosting the server spawns other programs; those are never touched).
 */
export function isSandboxed(pid: number): boolean {
  try {
    return /^Seccomp:\s*2$/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Rounds of one sweep: each lists our children again, since killing a tree hands us its orphans. */
const ROUNDS = 50;
/**
 * Processes one sweep may stop, kill or reap, and the time it may take,
 * before it yields: thousands of orphans must not hold the event loop (of
 * the server, serving every client) for seconds. Both bounds are needed: a
 * client's orphans can keep the machine's cores so busy that every /proc read
 * and signal of the sweep waits its turn, and 200 busy orphans then took a
 * sweep of their trees 5–10 s. The rest is for the next sweep, a tick later.
 */
const SWEEP_BUDGET = 256;
const SWEEP_MS = 10;

/**
 * Kills every child of ours that is not in `keep` (the processes we spawned
 * and still wait for) and that `candidate` accepts, with its whole tree, and
 * reaps the dead. A child's pid cannot be reused before we reap it, so the
 * kill cannot reach a stranger. Lists our children again until none is left
 * or the rounds run out, and stops once it has worked past `deadline` (a
 * performance.now() time; each sweep does at least one kill or reap).
 * Returns 0 when nothing is left, else how many it saw still there.
 */
export function sweepOrphans(keep: ReadonlySet<number>, candidate: (pid: number) => boolean = () => true, deadline = performance.now() + SWEEP_MS): number {
  const c = libc();
  let left = 0;
  let budget = SWEEP_BUDGET;
  for (let round = 0; round < ROUNDS; round++) {
    left = 0;
    for (const pid of childPids()) {
      if (keep.has(pid) || !candidate(pid)) continue;
      left++;
      if (hasEnded(pid)) {
        c.waitpid(pid, null, WNOHANG);
        budget--;
      } else {
        // SIGKILL reaches every thread, the main one gone or not.
        budget -= killTree(pid, budget, 0, deadline);
      }
      if (budget <= 0 || performance.now() >= deadline) return left;
    }
    if (left === 0) return 0;
  }
  return left;
}

/**
 * Sweeps now and again for as long as anything is left — a tree that keeps
 * growing keeps being swept — yielding between sweeps so the server serves.
 */
export function sweepUntilQuiet(keep: () => ReadonlySet<number>, candidate: (pid: number) => boolean): void {
  if (sweepOrphans(keep(), candidate) > 0) setTimeout(() => sweepUntilQuiet(keep, candidate), 10);
}

/** How long a last sweep (its parent gone) goes on while something is left. */
export const LAST_SWEEP_MS = 30_000;

export interface ForestSweep {
  /** Children of ours never touched: what the sweeping process spawned itself and waits for. */
  keep?: ReadonlySet<number>;
  /** Longest the sweep may block. */
  limitMs?: number;
  /**
   * Whether to wait, within `limitMs`, for killed processes to be gone and
   * reap them: for a last sweep. Else the sweep returns once every process
   * left has been killed, and the next sweep reaps them.
   */
  waitForDying?: boolean;
}

/**
 * Kills every child of ours but those in `keep`, with its whole tree, and
 * reaps them — stopping the whole forest before it kills any process — and
 * again until none is left, or for `limitMs`. True when none is left.
 *
 * Killing a tree at a time, as the sweeps of a process that serves every
 * client do, frees places in the uid's process count that a member still
 * running takes at once: a fork bomb held at the count regrew as fast as it
 * was killed, and outlived its sweeps. Blocks: for a launcher, whose loop
 * serves only the client whose commands left what it kills; for the last
 * sweep of a process whose server is gone; for the supervisor, which serves
 * nobody.
 */
export function sweepUntilNoneLeft({ keep = new Set(), limitMs = LAST_SWEEP_MS, waitForDying = true }: ForestSweep = {}): boolean {
  const until = performance.now() + limitMs;
  const ours = () => childPids().filter((pid) => !keep.has(pid));
  // One whose parent ignores SIGCHLD is reaped by the kernel, never by us: let go of those gone, or their
  // descriptors would stay open for good.
  for (const pid of dying.keys()) isDying(pid);
  for (;;) {
    const dead: number[] = [];
    const live: number[] = [];
    for (const pid of ours()) {
      if (hasEnded(pid)) dead.push(pid);
      else if (!isDying(pid)) live.push(pid);
    }
    // The dead are reaped once the live are stopped: a reap frees a place in the uid's count that a process still
    // running would take at once.
    if (live.length > 0 && performance.now() < until) killTrees(live, Infinity, performance.now() + SETTLE_MS, until, (pid) => !keep.has(pid), dead);
    reapAll(dead);
    if (live.length === 0 && ours().length === 0) return true;
    if (performance.now() >= until || (live.length === 0 && !waitForDying)) return false;
    if (live.length === 0) Bun.sleepSync(1);
  }
}
