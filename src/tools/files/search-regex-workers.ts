/**
 * Where the built-in engine's regular expressions run: worker threads
 * (search-worker.ts), never the server's event loop. JavaScript's regex
 * engine backtracks, so a pattern like `(a+)+$` can spend seconds on one
 * short line; a search holds one worker, gives it a time budget, and
 * terminates it when the budget runs out or the request is cancelled. A
 * healthy worker goes back to a small idle pool for the next search, so a
 * search does not pay a thread's start-up.
 */
import { pathToFileURL } from 'node:url';
import type { LinesResult } from './search-lines.ts';
import type { MatchJob } from './search-worker.ts';
import { isCompiled } from '../../core/compiled.ts';

/** Idle workers kept for reuse; more concurrent searches start their own. */
const MAX_IDLE = 2;
const idle: Worker[] = [];

/**
 * The worker's module. From source it sits beside this file; in the compiled
 * binary every module is bundled into chunks at the root of Bun's embedded
 * file system, next to the main entrypoint (src/main.ts), and the worker
 * entrypoint keeps its path relative to src/.
 */
function workerUrl(): URL {
  if (isCompiled()) return new URL('tools/files/search-worker.ts', pathToFileURL(Bun.main));
  return new URL('./search-worker.ts', import.meta.url);
}

function acquire(): Worker {
  const reused = idle.pop();
  if (reused) return reused;
  const worker = new Worker(workerUrl());
  // An idle worker must not keep the process alive at shutdown.
  worker.unref();
  // One that dies while idle leaves the pool rather than be handed a search it would never answer.
  worker.addEventListener('close', () => {
    const at = idle.indexOf(worker);
    if (at !== -1) idle.splice(at, 1);
  });
  return worker;
}

function release(worker: Worker): void {
  if (idle.length < MAX_IDLE) idle.push(worker);
  else worker.terminate();
}

export type MatchAnswer =
  | ({ kind: 'done'; ranMs: number } & LinesResult)
  | { kind: 'deadline' }
  | { kind: 'cancelled' }
  | { kind: 'failed'; message: string };

/**
 * One search's use of a worker: files are matched one after another on the
 * same thread, and the time the regex ran adds up against `budgetMs` (not the
 * round trips: 300,000 small files spent the budget in messages, and the
 * search blamed the pattern). A call is cut off at what is left of it, wall
 * time, which a regex stuck in one line reaches.
 * Call close() when the search ends.
 */
export class RegexSession {
  private worker: Worker | null = null;
  private spentMs = 0;

  constructor(
    private readonly regex: RegExp,
    private readonly budgetMs: number,
    private readonly signal: AbortSignal,
  ) {}

  /** The matches of the regex in `text` (at most `limit`), or why there is no answer. */
  match(text: string, limit: number): Promise<MatchAnswer> {
    if (this.signal.aborted) return Promise.resolve({ kind: 'cancelled' });
    const left = this.budgetMs - this.spentMs;
    if (left <= 0) return Promise.resolve({ kind: 'deadline' });
    let worker: Worker;
    try {
      worker = this.worker ??= acquire();
    } catch (err) {
      return Promise.resolve({ kind: 'failed', message: (err as Error).message });
    }
    const started = performance.now();
    return new Promise((resolve) => {
      let settled = false;
      const settle = (answer: MatchAnswer, healthy: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.signal.removeEventListener('abort', onAbort);
        worker.removeEventListener('message', onMessage);
        worker.removeEventListener('error', onError);
        worker.removeEventListener('close', onClose);
        this.spentMs += answer.kind === 'done' ? answer.ranMs : performance.now() - started;
        if (!healthy) {
          // A worker stuck in a regex cannot be interrupted any other way; its thread ends once the current exec returns.
          this.worker = null;
          worker.terminate();
        }
        resolve(answer);
      };
      const onMessage = (e: MessageEvent) => {
        const d = e.data as ({ ok: true; ranMs: number } & LinesResult) | { ok: false; message: string };
        if (d.ok) settle({ kind: 'done', found: d.found, gaveUp: d.gaveUp, ranMs: d.ranMs }, true);
        else settle({ kind: 'failed', message: d.message }, false);
      };
      const onError = (e: Event) => settle({ kind: 'failed', message: (e as ErrorEvent).message || 'the search worker failed' }, false);
      const onClose = () => settle({ kind: 'failed', message: 'the search worker exited' }, false);
      const onAbort = () => settle({ kind: 'cancelled' }, false);
      const timer = setTimeout(() => settle({ kind: 'deadline' }, false), left);
      this.signal.addEventListener('abort', onAbort, { once: true });
      worker.addEventListener('message', onMessage);
      worker.addEventListener('error', onError);
      worker.addEventListener('close', onClose);
      const job: MatchJob = { source: this.regex.source, flags: this.regex.flags, text, limit };
      worker.postMessage(job);
    });
  }

  /** Ends the session; a worker that answered every request goes back to the pool. */
  close(): void {
    if (this.worker !== null) release(this.worker);
    this.worker = null;
  }
}
