/**
 * Lines to a non-blocking byte sink (Bun's FileSink over stdout), with the two
 * facts a transport needs that the sink does not give on its own: how many
 * bytes are still queued because the reader is not reading (the sink buffers
 * without limit, so its caller must stop producing), and that the reader is
 * gone (EPIPE), reported once and never as an unhandled rejection.
 *
 * Bun's FileSink answers a write or flush it could not finish at once with a
 * promise that settles when its whole buffer has drained (or rejects with the
 * write error), so every queued line is settled together.
 */

export interface ByteSink {
  write(chunk: string): number | Promise<number>;
  flush(): number | Promise<number>;
}

export class LineWriter {
  private queued = 0;
  private broken = false;
  private waiters: { limit: number; resolve: () => void }[] = [];

  /** `onGone` runs once, on the first failed write: the reader has closed its end. */
  constructor(
    private readonly sink: ByteSink,
    private readonly onGone: (err: unknown) => void,
  ) {}

  /** Bytes handed to the sink that the reader has not taken yet. */
  get backlog(): number {
    return this.queued;
  }

  /** Whether the reader is gone: writes are dropped from then on. */
  get gone(): boolean {
    return this.broken;
  }

  /** Queues one line (the "\n" is added); never throws. */
  write(line: string): void {
    if (this.broken) return;
    const pending: Promise<number>[] = [];
    try {
      const written = this.sink.write(`${line}\n`);
      if (written instanceof Promise) pending.push(written);
      const flushed = this.sink.flush();
      if (flushed instanceof Promise) pending.push(flushed);
    } catch (err) {
      // The write may have handed back a promise before the flush threw (a line the sink could not take at once,
      // then EPIPE): it rejects with the same error, and unhandled it would end the process with a stack trace.
      for (const p of pending) p.catch(() => {});
      this.fail(err);
      return;
    }
    if (pending.length === 0) return;
    const bytes = Buffer.byteLength(line) + 1;
    this.queued += bytes;
    Promise.all(pending).then(
      () => this.settle(bytes),
      (err: unknown) => {
        this.settle(bytes);
        this.fail(err);
      },
    );
  }

  /** Resolves once at most `limit` bytes are queued, or the reader is gone. */
  below(limit: number): Promise<void> {
    if (this.broken || this.queued <= limit) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ limit, resolve }));
  }

  /** Resolves once everything queued is written, or the reader is gone. */
  flushed(): Promise<void> {
    return this.below(0);
  }

  private settle(bytes: number): void {
    this.queued -= bytes;
    this.wake();
  }

  private fail(err: unknown): void {
    if (this.broken) return;
    this.broken = true;
    this.wake();
    this.onGone(err);
  }

  private wake(): void {
    const ready = this.waiters.filter((w) => this.broken || this.queued <= w.limit);
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }
}
