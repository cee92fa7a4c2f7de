/**
 * Progress of a running command's output, for clients that asked for it:
 * the bytes so far and the newest output, reported at most every 250 ms or
 * every 8 KiB, whichever comes first — and once more for output that arrived
 * after the last report, so a command that goes quiet still shows its last
 * line and the final report counts every byte. Bounded: it keeps only the
 * tail it reports.
 */
export interface OutputProgress {
  /** Output bytes so far (both streams); increases with every report. */
  bytes: number;
  /** The newest output, at most TAIL_BYTES of it, decoded leniently. */
  tail: string;
}

export const PROGRESS_INTERVAL_MS = 250;
export const PROGRESS_BYTES = 8 * 1024;
/** The newest output carried by a report, in bytes. */
export const TAIL_BYTES = 512;

const decoder = new TextDecoder();

export class ProgressMeter {
  private bytes = 0;
  private reported = 0;
  private lastAt = 0;
  private tail = new Uint8Array(0);
  private timer: ReturnType<typeof setTimeout> | undefined;
  private done = false;

  constructor(private readonly report: (p: OutputProgress) => void) {}

  observe(chunk: Uint8Array): void {
    if (this.done || chunk.byteLength === 0) return;
    this.bytes += chunk.byteLength;
    if (chunk.byteLength >= TAIL_BYTES) this.tail = chunk.slice(chunk.byteLength - TAIL_BYTES);
    else {
      const keep = Math.min(this.tail.byteLength, TAIL_BYTES - chunk.byteLength);
      const next = new Uint8Array(keep + chunk.byteLength);
      next.set(this.tail.subarray(this.tail.byteLength - keep), 0);
      next.set(chunk, keep);
      this.tail = next;
    }
    const now = performance.now();
    if (this.bytes - this.reported >= PROGRESS_BYTES || now - this.lastAt >= PROGRESS_INTERVAL_MS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), PROGRESS_INTERVAL_MS - (now - this.lastAt));
  }

  /** The command ended: one last report for output not yet reported (the total), then none — its result follows. */
  stop(): void {
    if (this.done) return;
    this.flush();
    this.done = true;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.done || this.bytes === this.reported) return;
    this.reported = this.bytes;
    this.lastAt = performance.now();
    // A cut at the front may split a character: drop what decodes to U+FFFD there.
    const tail = decoder.decode(this.tail).replace(/^\uFFFD+/, '');
    try {
      this.report({ bytes: this.bytes, tail });
    } catch {
      // A reporter that fails must not fail the command.
    }
  }
}
