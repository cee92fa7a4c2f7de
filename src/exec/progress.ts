/**
 * Progress of a running command's output, for clients that asked for it:
 * the bytes so far and the newest output, reported every 250 ms, or sooner
 * once 8 KiB have arrived — but never twice within 50 ms: each report crosses
 * the launcher's pipe and goes to the client as an event, and a command that
 * floods its output would otherwise send one per 8 KiB, thousands a second,
 * at the cost of the server every client shares. Once more for output that
 * arrived after the last report, so a command that goes quiet still shows its
 * last line and the final report counts every byte. Bounded: it keeps only
 * the tail it reports.
 */
export interface OutputProgress {
  /** Output bytes so far (both streams); increases with every report. */
  bytes: number;
  /** The newest output, at most TAIL_BYTES of it, decoded leniently. */
  tail: string;
}

export const PROGRESS_INTERVAL_MS = 250;
export const PROGRESS_BYTES = 8 * 1024;
/** The shortest gap between two reports, however fast the output comes. */
export const PROGRESS_MIN_GAP_MS = 50;
/** The newest output carried by a report, in bytes. */
export const TAIL_BYTES = 512;

const decoder = new TextDecoder();

export class ProgressMeter {
  private bytes = 0;
  private reported = 0;
  private lastAt = 0;
  private tail = new Uint8Array(0);
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The gap the planned report waits for (PROGRESS_MIN_GAP_MS or PROGRESS_INTERVAL_MS). */
  private timerDue = 0;
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
    const since = performance.now() - this.lastAt;
    const due = this.bytes - this.reported >= PROGRESS_BYTES ? PROGRESS_MIN_GAP_MS : PROGRESS_INTERVAL_MS;
    if (since >= due) this.flush();
    else if (this.timer === undefined || due < this.timerDue) {
      // 8 KiB that arrived while a later report was planned bring it forward.
      clearTimeout(this.timer);
      this.timerDue = due;
      this.timer = setTimeout(() => this.flush(), due - since);
    }
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
