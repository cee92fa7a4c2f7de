/**
 * A response body handed to the connection only as fast as the client takes
 * it, which tells when it has all been taken.
 *
 * Bun writes a string or Blob body into its own buffer whole, however slowly
 * the client reads; a client that sends tool calls with large answers and
 * never reads them would hold that memory in the server for as long as each
 * connection lasts, long after the call ended and gave back its concurrency
 * slot. Sent through this body instead, an answer is pulled a chunk at a time
 * when the socket has room, and the call keeps its slot until the last chunk
 * is taken (or the client hangs up): a client's unread answers are then bound
 * by its concurrency limit.
 */
import { pairSafeEnd } from '../util/utf16.ts';

/** An answer up to this many characters goes out at once: the socket's buffer takes it whole. */
export const SENT_AT_ONCE_CHARS = 64 * 1024;

/** Characters encoded per chunk handed to the connection. */
const CHUNK_CHARS = 64 * 1024;

const encoder = new TextEncoder();

export class TakenBody {
  readonly stream: ReadableStream<Uint8Array>;
  private readonly parts: string[] = [];
  /** Where the next chunk of `parts[0]` starts. */
  private offset = 0;
  /** Characters pushed and not yet taken. */
  private queuedChars = 0;
  private ended = false;
  private finished = false;
  /** Set while the connection waits for something to send. */
  private wake: (() => void) | null = null;

  /**
   * `onTaken` runs once: when the last chunk has been taken after `end()`, or
   * when the connection gives up on the body (the client hung up).
   */
  constructor(private readonly onTaken: () => void) {
    this.stream = new ReadableStream<Uint8Array>(
      {
        pull: (controller) => this.pull(controller),
        cancel: () => this.finish(),
      },
      // Nothing is encoded ahead of the connection asking for it.
      { highWaterMark: 0 },
    );
  }

  /** Characters pushed that the client has not taken yet. */
  get unsentChars(): number {
    return this.queuedChars;
  }

  /** Queues `text` to be sent after what is queued already. */
  push(text: string): void {
    if (this.ended || this.finished || text.length === 0) return;
    this.parts.push(text);
    this.queuedChars += text.length;
    this.wake?.();
  }

  /** Nothing more will be pushed: the body ends once the queue is taken. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.wake?.();
  }

  private pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> | void {
    const text = this.parts[0];
    if (text === undefined) {
      if (this.ended) {
        controller.close();
        this.finish();
        return;
      }
      // Answered from the push or end that wakes it, within the same pull: a pull that resolved having
      // enqueued nothing would not be called again for the read still waiting.
      return new Promise<void>((resolve) => {
        this.wake = () => {
          this.wake = null;
          this.pull(controller);
          resolve();
        };
      });
    }
    const end = pairSafeEnd(text, Math.min(this.offset + CHUNK_CHARS, text.length), this.offset);
    const chunk = this.offset === 0 && end === text.length ? text : text.slice(this.offset, end);
    this.queuedChars -= end - this.offset;
    if (end === text.length) {
      this.parts.shift();
      this.offset = 0;
    } else {
      this.offset = end;
    }
    controller.enqueue(encoder.encode(chunk));
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.parts.length = 0;
    this.queuedChars = 0;
    this.wake = null;
    this.onTaken();
  }
}
