/**
 * Bun runs asynchronous file-system calls (every file tool's) on a pool of
 * worker threads it starts on first use. A pool whose first thread the
 * kernel refuses — the user's process count full, which any client's
 * commands can fill, bounded by their own limits — never runs a call again,
 * not even once the count has freed: the file tools would hang for every
 * client from then on. Started before any command runs, the threads stay for
 * the life of the process, and a pool holding one runs every later call even
 * when it cannot grow.
 */
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { StartupError } from '../core/startup-error.ts';
import { settlesWithin } from '../util/settles-within.ts';

/** How long the pool may take to run its first calls before the start is refused. */
const START_MS = 10_000;

/**
 * Resolves once the pool has run one call per core, sent together so it starts the threads a burst would; refuses the
 * start when it runs none in time.
 */
export async function startFileWorkers(timeoutMs = START_MS): Promise<void> {
  if (!(await settlesWithin(Promise.all(Array.from({ length: availableParallelism() }, () => stat('/'))), timeoutMs))) {
    throw new StartupError(
      `the runtime's file-system worker threads did not run a call within ${timeoutMs / 1000} s; is this user's process count (RLIMIT_NPROC) full?`,
    );
  }
}
