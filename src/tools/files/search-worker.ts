/**
 * The search worker's entrypoint: a thread where the built-in engine runs
 * the client's regular expression over one file's text at a time. A
 * backtracking pattern can take seconds per line; here that stalls only this
 * thread, which search-regex-workers.ts terminates at its deadline, never the
 * server's event loop. It is an extra entrypoint of the compiled binary (see
 * the "build" script), as Bun requires for workers.
 */
import { parentPort } from 'node:worker_threads';
import { matchLines } from './search-lines.ts';

/** A request from the server: one file's text and the pattern, compiled here (a RegExp is not shared across threads). */
export interface MatchJob {
  source: string;
  flags: string;
  text: string;
  limit: number;
}

let compiled: { source: string; flags: string; regex: RegExp } | null = null;

function regexFor(job: MatchJob): RegExp {
  if (compiled === null || compiled.source !== job.source || compiled.flags !== job.flags) {
    compiled = { source: job.source, flags: job.flags, regex: new RegExp(job.source, job.flags) };
  }
  return compiled.regex;
}

parentPort?.on('message', (job: MatchJob) => {
  try {
    const started = performance.now();
    const found = matchLines(job.text, regexFor(job), job.limit);
    // Its own run time: what the search's regex budget is charged (the round trip also holds the thread's queueing).
    parentPort?.postMessage({ ok: true, ...found, ranMs: performance.now() - started });
  } catch (err) {
    parentPort?.postMessage({ ok: false, message: (err as Error).message });
  }
});
