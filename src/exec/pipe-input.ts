/**
 * Input for a long-lived process through its stdin pipe. Writes go out one
 * chunk at a time, the next handed over only once the pipe took the last, and
 * at most MAX_PENDING_INPUT waits unread: a process that never reads its stdin
 * must not make whoever holds its pipe (the server, or its sandbox launcher)
 * grow without bound. Past that a write waits for room and is then refused
 * whole — never dropped while its writer is told it went through, never half
 * delivered, never overtaken by a later write.
 */
import type { InputSink } from './spawn.ts';

/** Input a process has not taken from its pipe yet, held at most. */
export const MAX_PENDING_INPUT = 1024 * 1024;

/**
 * How long a write waits, at most, for room when the pending input is full,
 * before it is refused. A process that reads slowly (or starts slowly) gets its
 * input late rather than lost; one that never reads gets the writer a clear
 * refusal. Also bounds how long the sandbox launcher may take to answer a write.
 */
export const INPUT_WAIT_MS = 3000;

/**
 * What became of one write: `taken` (queued for the process, in order),
 * `full` (no room within INPUT_WAIT_MS, the process leaving MAX_PENDING_INPUT
 * unread; none of this write was queued), `closed` (its input is closed or
 * it is ending) or `cancelled` (its caller withdrew it before it was queued).
 */
export type InputOutcome = 'taken' | 'full' | 'closed' | 'cancelled';
export const INPUT_OUTCOMES = ['taken', 'full', 'closed', 'cancelled'] as const satisfies readonly InputOutcome[];

interface Waiting {
  data: Uint8Array;
  /** When this write is refused if it has found no room; the head's deadline rules. */
  deadline: number;
  settle(outcome: InputOutcome): void;
}

export class PipeInput {
  private readonly queued: Uint8Array[] = [];
  private queuedBytes = 0;
  private readonly waiting: Waiting[] = [];
  private waitTimer: ReturnType<typeof setTimeout> | undefined;
  private pumping = false;
  private open = true;
  private endAfterQueue = false;
  private stopped = false;

  constructor(private readonly stdin: InputSink) {}

  write(data: Uint8Array, signal?: AbortSignal): Promise<InputOutcome> {
    if (!this.open || this.stopped || this.endAfterQueue) return Promise.resolve('closed');
    if (signal?.aborted) return Promise.resolve('cancelled');
    if (this.waiting.length === 0 && this.queuedBytes + data.byteLength <= MAX_PENDING_INPUT) {
      this.enqueue(data);
      if (!this.pumping) void this.pump();
      return Promise.resolve('taken');
    }
    return new Promise<InputOutcome>((resolve) => {
      // A write its caller gave up on must not reach the process later: a retry would deliver it twice.
      const cancel = () => {
        const at = this.waiting.indexOf(w);
        if (at < 0) return;
        this.waiting.splice(at, 1);
        resolve('cancelled');
        // The writes behind it may fit now, and the next head's deadline rules.
        this.admitWaiting();
      };
      const w: Waiting = {
        data,
        deadline: performance.now() + INPUT_WAIT_MS,
        settle: (outcome) => {
          signal?.removeEventListener('abort', cancel);
          resolve(outcome);
        },
      };
      this.waiting.push(w);
      signal?.addEventListener('abort', cancel, { once: true });
      this.waitTimer ??= setTimeout(() => this.refuseWaiting('full'), INPUT_WAIT_MS);
    });
  }

  /** Ends the input once what is queued has gone out. */
  close(): void {
    if (!this.open || this.stopped) return;
    if (this.pumping) this.endAfterQueue = true;
    else this.end();
  }

  /** The process is gone: nothing more goes out, and waiting writes are refused as closed. */
  stop(): void {
    this.stopped = true;
    this.refuseWaiting('closed');
  }

  private enqueue(data: Uint8Array): void {
    this.queued.push(data);
    this.queuedBytes += data.byteLength;
  }

  private refuseWaiting(outcome: InputOutcome): void {
    clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    // Later writes must not overtake a refused one: they are refused with it.
    for (const w of this.waiting.splice(0)) w.settle(outcome);
  }

  private admitWaiting(): void {
    while (this.waiting.length > 0 && this.queuedBytes + this.waiting[0]!.data.byteLength <= MAX_PENDING_INPUT) {
      const w = this.waiting.shift()!;
      this.enqueue(w.data);
      w.settle('taken');
    }
    clearTimeout(this.waitTimer);
    const head = this.waiting[0];
    this.waitTimer = head ? setTimeout(() => this.refuseWaiting('full'), Math.max(0, head.deadline - performance.now())) : undefined;
  }

  private end(): void {
    this.open = false;
    this.queued.length = 0;
    this.queuedBytes = 0;
    this.refuseWaiting('closed');
    try {
      void this.stdin.end();
    } catch {
      // Already closed.
    }
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    let broken = false;
    try {
      while (this.queued.length > 0 && this.open && !this.stopped) {
        const chunk = this.queued[0]!;
        const wrote = this.stdin.write(chunk);
        await (wrote instanceof Promise ? wrote : this.stdin.flush());
        this.queued.shift();
        this.queuedBytes -= chunk.byteLength;
        if (this.waiting.length > 0) this.admitWaiting();
      }
    } catch {
      // The process closed its input or is gone: later writes are refused as closed.
      broken = true;
    } finally {
      this.pumping = false;
    }
    if (broken || (this.endAfterQueue && this.open)) this.end();
    else if (this.stopped) this.refuseWaiting('closed');
  }
}
