/**
 * The launcher's one writer to the server: messages go out in order, and the
 * output of long-lived processes is held per process while an earlier write
 * is still on its way, then sent as one message per process. A server that
 * reads slowly (or a process that floods) therefore costs the launcher at
 * most `pendingBytes` per process: beyond it the oldest held output is
 * dropped and the next message says how many bytes were lost.
 */
/** Largest output message, in raw bytes (its base64 is a third larger). */
export const MAX_OUTPUT_MESSAGE = 256 * 1024;
/**
 * A write that carried this much output means a process floods: the next one
 * waits FLOOD_PAUSE_MS, so a flood costs the server a bounded share of a core
 * (about 25 MB/s at most is carried; the rest is dropped here and counted)
 * while ordinary output still leaves at once.
 */
export const FLOOD_BYTES = 64 * 1024;
export const FLOOD_PAUSE_MS = 10;

interface Held {
  chunks: Uint8Array[];
  bytes: number;
  lost: number;
  cap: number;
}

export class LauncherWriter {
  private readonly held = new Map<number, Held>();
  private control: string[] = [];
  /** Called once the write carrying the control messages queued with them has completed. */
  private written: (() => void)[] = [];
  private writing = false;

  constructor(private readonly write: (text: string, done: () => void) => void) {}

  /**
   * A control message (ready, started, result, exit…), sent after the output
   * held before it. `onWritten` runs once the write that carries it has
   * completed: the message is then in the pipe, and reaches the server even
   * if this process dies the next moment.
   */
  send(message: unknown, onWritten?: () => void): void {
    this.control.push(`${JSON.stringify(message)}\n`);
    if (onWritten) this.written.push(onWritten);
    this.flush();
  }

  /** Output of long-lived process `id`, at most `cap` bytes held for it. */
  output(id: number, chunk: Uint8Array, cap: number, lost = 0): void {
    let h = this.held.get(id);
    if (!h) {
      h = { chunks: [], bytes: 0, lost: 0, cap };
      this.held.set(id, h);
    }
    h.lost += lost;
    h.chunks.push(chunk);
    h.bytes += chunk.byteLength;
    while (h.bytes > h.cap && h.chunks.length > 0) {
      const first = h.chunks[0]!;
      const over = h.bytes - h.cap;
      if (first.byteLength <= over) {
        h.chunks.shift();
        h.bytes -= first.byteLength;
        h.lost += first.byteLength;
      } else {
        h.chunks[0] = first.subarray(over);
        h.bytes -= over;
        h.lost += over;
      }
    }
    this.flush();
  }

  private flush(): void {
    if (this.writing || (this.held.size === 0 && this.control.length === 0)) return;
    let text = '';
    let carried = 0;
    for (const [id, h] of this.held) {
      carried += h.bytes;
      const all = h.chunks.length === 1 ? h.chunks[0]! : Buffer.concat(h.chunks);
      for (let at = 0; at < all.byteLength; at += MAX_OUTPUT_MESSAGE) {
        const part = all.subarray(at, at + MAX_OUTPUT_MESSAGE);
        text += `${JSON.stringify({ t: 'output', id, data: Buffer.from(part.buffer, part.byteOffset, part.byteLength).toString('base64'), lost: at === 0 ? h.lost : 0 })}\n`;
      }
    }
    this.held.clear();
    text += this.control.join('');
    this.control = [];
    const written = this.written;
    this.written = [];
    this.writing = true;
    this.write(text, () => {
      for (const then of written) then();
      if (carried >= FLOOD_BYTES) {
        setTimeout(() => {
          this.writing = false;
          this.flush();
        }, FLOOD_PAUSE_MS);
        return;
      }
      this.writing = false;
      this.flush();
    });
  }
}
