/** How this program starts itself again — a launcher, the server under a supervisor — and a launcher's runtime options. */
import { fileURLToPath } from 'node:url';
import { isCompiled } from '../core/compiled.ts';

/** argv word that selects launcher mode in src/main.ts. */
export const LAUNCHER_COMMAND = '__launcher';

/** argv word, followed by the supervisor's pid and a command, that marks the server a supervisor started (supervisor.ts). */
export const SUPERVISED_COMMAND = '__supervised';

/**
 * The file this process runs, to start again: on Linux through `/proc/self/exe`, the very file it was started
 * from, never a lookup of its name. A command that can write where the executable lies (it sits in the workspace)
 * renamed a program of its own over it, and the next client's launcher, started by name, ran that program outside
 * every sandbox layer.
 */
function selfExecutable(): string {
  return process.platform === 'linux' ? '/proc/self/exe' : process.execPath;
}

/** This program: the executable when compiled, else Bun, with the flags it was run with, on src/main.ts. */
export function programArgv(): string[] {
  if (isCompiled()) return [selfExecutable()];
  return [process.execPath, ...process.execArgv, fileURLToPath(new URL('../main.ts', import.meta.url))];
}

/** The executable itself when compiled, else Bun running src/main.ts. */
export function launcherArgv(): string[] {
  if (isCompiled()) return [selfExecutable(), LAUNCHER_COMMAND];
  return [process.execPath, fileURLToPath(new URL('../main.ts', import.meta.url)), LAUNCHER_COMMAND];
}

/**
 * JavaScriptCore options for the launcher process. The launcher forks each
 * terminal process with Bun.spawn and a PID namespace pending on its JS
 * thread (see pidns.ts; other commands start through libc), and while one is
 * pending the kernel refuses every thread that thread creates (clone with
 * CLONE_THREAD fails with EINVAL), which the runtime treats as fatal. JSC
 * starts its JIT and garbage-collector helper threads on demand, from
 * whichever thread needs one, and lets them exit when idle: a launcher idle
 * for a few minutes had lost them, and its next fork aborted it, killing
 * every process of its client. With these the JIT compiles on
 * the JS thread and the collector marks there, and the heap keeps no block
 * warm-up thread, so none of them starts a thread. The supervisor and the
 * server below it run with them too (supervisor.ts): a thread the kernel
 * refuses for want of processes, the uid's count full, aborts the runtime.
 */
export const LAUNCHER_RUNTIME_ENV: Readonly<Record<string, string>> = {
  BUN_JSC_useConcurrentJIT: '0',
  BUN_JSC_useConcurrentGC: '0',
  BUN_JSC_numberOfGCMarkers: '1',
  // The heap's block warm-up thread stops after 10-20 s without a new block and is restarted by the next allocation.
  BUN_JSC_useWarmUpMarkedBlocks: '0',
};
