/**
 * The supervisor. Where commands share the server's PID namespace (a server
 * without capabilities, so no namespace per command), `hide serve` and
 * `hide stdio` run as two processes: the supervisor, a child subreaper that
 * does nothing but wait, and below it the server. When the server dies
 * without a shutdown (a crash, an OOM kill, SIGKILL), whatever its launchers
 * and their commands leave is re-parented to the supervisor, which stops and
 * kills it, until nothing is left, and then exits with the server's status.
 *
 * Why a process above the server: a launcher sweeps what its client's
 * commands leave once its server is gone, but a command shares its
 * launcher's uid and Landlock domain and can SIGKILL it first (by a thread
 * id, or through a /proc directory used as a pidfd: no list of pids refuses
 * every route, and commands must be able to kill their own processes); what
 * the launcher ran then goes to the nearest living subreaper above it, which
 * without a supervisor is init. The supervisor lies outside every launcher's
 * Landlock domain, so no command can signal it (Landlock's signal scoping),
 * and the kernel, not a command, decides what it inherits.
 *
 * While the server runs, the supervisor also takes what a launcher that
 * died leaves (the server, supervised, is no subreaper, so that goes past
 * it): killing it means stopping a whole forest before any of it dies (a
 * fork bomb held at the uid's process count regrows from what is left
 * running as fast as places free), which blocks, and the server's event loop
 * serves every client; the supervisor's serves nobody.
 *
 * The server runs in a session of its own, so a terminal's Ctrl-C reaches it
 * once, passed on by the supervisor, as do SIGTERM and SIGHUP sent to the
 * supervisor. A supervisor that dies (SIGKILL) leaves the server a signal
 * (PR_SET_PDEATHSIG): the server takes back what its launchers leave, a
 * subreaper again, and stops as on SIGTERM.
 */
import { FFIType, ptr } from 'bun:ffi';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { check, cString, lastErrno, libc, openLibc, SyscallError } from '../util/libc.ts';
import { hasCapabilities } from './capabilities.ts';
import { LAUNCHER_RUNTIME_ENV, programArgv, SUPERVISED_COMMAND } from './launcher-argv.ts';
import { becomeSubreaper, LAST_SWEEP_MS, procMatchesOwnPids, stateOf, sweepUntilNoneLeft } from './orphans.ts';

const PR_SET_PDEATHSIG = 1;
/** What the server gets when its supervisor dies; it then stops as on SIGTERM. */
const DEATH_SIGNAL = 'SIGUSR2';
const PR_SET_DUMPABLE = 4;

/** How often the supervisor looks for what a dead launcher left it while the server runs. */
const INHERITED_POLL_MS = 100;
/** How long one sweep of that may block before the supervisor handles signals again (and then goes on). */
const INHERITED_SWEEP_MS = 5000;

/** The supervisor's pid, in the server it started; null elsewhere. */
let supervisorPid: number | null = null;

/** The signals an operator or a terminal sends the server, passed on from the supervisor. */
const PASSED_ON = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/**
 * True when `hide serve` or `hide stdio` should start under a supervisor:
 * its launchers' commands will share its PID namespace (no capability, the
 * launcher's own test for a namespace per command), it is not the init of
 * its PID namespace (whose death ends every process in it), and the sandbox
 * is not switched off in the environment.
 */
export function wantsSupervisor(env: NodeJS.ProcessEnv = process.env): boolean {
  return process.platform === 'linux' && process.pid !== 1 && env.HIDE_SANDBOX !== 'off' && procMatchesOwnPids() && !hasCapabilities();
}

/**
 * Runs `argv` (a command and its flags) as the supervised server and waits
 * for it; then kills what it left. Resolves with its exit code (128 plus the
 * signal's number when a signal ended it).
 */
export async function supervise(argv: readonly string[]): Promise<number> {
  // JavaScriptCore starts its JIT and collector helper threads when first needed, and a thread the kernel refuses
  // (the uid's process count full: one client's fork bomb can fill it) aborts the runtime. The supervisor is there
  // for exactly that moment, and the server must not die of it either, so both run with the launcher's settings,
  // which start none (the server inherits them). They are read at start: this process starts again with them,
  // under the same pid. Should that fail, it goes on as it is.
  if (!Object.entries(LAUNCHER_RUNTIME_ENV).every(([name, value]) => process.env[name] === value)) startAgainSettled();
  becomeSubreaper();
  // It holds the server's environment (a key, a Redis password): as the server, no same-uid process may read it.
  check(libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), 'prctl(PR_SET_DUMPABLE, 0)');
  let server: ReturnType<typeof Bun.spawn> | undefined;
  // Caught before the server starts: a signal's default action here would end the supervisor with the server
  // running. One that comes while the server starts is handled once the spawn has returned, and passed on.
  for (const signal of PASSED_ON) process.on(signal, () => server?.kill(signal));
  try {
    server = Bun.spawn([...programArgv(), SUPERVISED_COMMAND, String(process.pid), ...argv], {
      stdio: ['inherit', 'inherit', 'inherit'],
      env: process.env,
      detached: true,
    });
  } catch (err) {
    process.stderr.write(`hide: cannot start the server: ${(err as Error).message}\n`);
    return 1;
  }
  // Re-parenting sends no signal: what a dead launcher leaves is found by looking (a look at nothing costs two
  // reads of our children, and lets go of the killed that are gone).
  const keep = new Set([server.pid]);
  const inherited = setInterval(() => sweepUntilNoneLeft({ keep, limitMs: INHERITED_SWEEP_MS, waitForDying: false }), INHERITED_POLL_MS);
  await server.exited;
  clearInterval(inherited);
  if (!sweepUntilNoneLeft()) process.stderr.write(`hide: processes the server's commands left were still there ${LAST_SWEEP_MS / 1000} s after it ended (asleep in the kernel?)\n`);
  const signal = server.signalCode;
  if (signal !== null) return 128 + (typeof signal === 'number' ? signal : (constants.signals[signal] ?? 0));
  return server.exitCode ?? 1;
}

/**
 * Replaces this process, keeping its pid and argv, by this program with the
 * runtime settings of LAUNCHER_RUNTIME_ENV; returns only when that failed.
 */
function startAgainSettled(): void {
  const env = { ...process.env, ...LAUNCHER_RUNTIME_ENV };
  const argv = readFileSync('/proc/self/cmdline', 'utf8').split('\0').slice(0, -1);
  // Kept referenced until execve returns (it returns only on failure).
  const held: Buffer[] = [];
  const array = (texts: string[]) => {
    const pointers = new BigUint64Array(texts.length + 1);
    texts.forEach((text, i) => {
      const bytes = cString(text);
      held.push(bytes);
      pointers[i] = BigInt(ptr(bytes));
    });
    return pointers;
  };
  const argvArray = array(argv);
  const envArray = array(Object.entries(env).map(([name, value]) => `${name}=${value}`));
  const { execve } = openLibc({ execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 } });
  // The very file this process runs, not a lookup of its name (launcher-argv.ts).
  const path = cString(process.platform === 'linux' ? '/proc/self/exe' : process.execPath);
  execve(ptr(path), ptr(argvArray), ptr(envArray));
  const err = new SyscallError('execve', lastErrno());
  process.stderr.write(`hide: the supervisor runs without its runtime settings: ${err.message}\n`);
}

/**
 * In the server a supervisor started: a SIGTERM when the supervisor dies,
 * once, and false when it is gone already (the server must not run on without
 * the process that catches what it leaves).
 */
export function followSupervisor(supervisor: number): boolean {
  check(libc().prctl(PR_SET_PDEATHSIG, constants.signals[DEATH_SIGNAL], 0, 0, 0), 'prctl(PR_SET_PDEATHSIG)');
  if (process.ppid !== supervisor) return false;
  supervisorPid = supervisor;
  // The kernel sends it each time a thread of the supervisor that was our parent exits — its main thread, then
  // the one we were handed to, and so on — so it comes more than once, and may come before the supervisor is all
  // gone: what launchers leave is handed back to the server, and the server stopped with one SIGTERM, once the
  // supervisor is seen gone.
  const gone = (looks: number) => {
    if (supervisorPid === null) return;
    if (!isGone(supervisorPid)) {
      if (looks > 0) setTimeout(() => gone(looks - 1), 10);
      return;
    }
    supervisorPid = null;
    for (const takeOver of whenGone.splice(0)) takeOver();
    process.kill(process.pid, 'SIGTERM');
  };
  process.on(DEATH_SIGNAL, () => gone(100));
  return true;
}

/**
 * True once the supervisor is gone or going: re-parented away, or its main
 * thread (which started us) exited, which shows as a zombie while its other
 * threads are still on their way out.
 */
function isGone(supervisor: number): boolean {
  if (process.ppid !== supervisor) return true;
  const state = stateOf(supervisor);
  return state === null || state === 'Z' || state === 'X';
}

/** True in a server a supervisor started, while that supervisor lives. */
export function underSupervisor(): boolean {
  return supervisorPid !== null;
}

const whenGone: Array<() => void> = [];

/** Runs `takeOver` once the supervisor is gone (it has died: the server is stopping). */
export function whenSupervisorGone(takeOver: () => void): void {
  if (supervisorPid === null) takeOver();
  else whenGone.push(takeOver);
}
