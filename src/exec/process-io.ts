/**
 * Reading a long-running process's output and writing its input: reads from
 * a cursor that may wait for output (woken, never polling), bounded in size;
 * writes bounded per call and, for a terminal, over the process's life.
 */
import { INPUT_WAIT_MS, MAX_PENDING_INPUT } from './pipe-input.ts';
import { ProcessError } from './process-error.ts';
import { type ProcessState, stateOf, touch, type TrackedProcess } from './tracked-process.ts';
import { bytesWithinJsonBudget } from '../util/json-text-cost.ts';

export interface ReadResult extends ProcessState {
  output: string;
  cursor: number;
  dropped: number;
}

/** Longest a read may wait for output. */
export const MAX_WAIT_MS = 30_000;
/** Default and largest amount one read returns. */
export const DEFAULT_READ_BYTES = 64 * 1024;
export const MAX_READ_BYTES = 1024 * 1024;
/** Largest input one write carries. */
export const MAX_WRITE_BYTES = 64 * 1024;
/**
 * Input a terminal process may take over its whole life. A pipe's unread
 * input is bounded where it waits (live.ts); a terminal's cannot be — Bun
 * keeps what the PTY does not take and does not say how much — so a process
 * that never reads its terminal would make its holder (the sandbox launcher,
 * or the server) grow with every write. Interactive input stays far below this.
 */
export const MAX_TERMINAL_INPUT_BYTES = 16 * 1024 * 1024;

const decoder = new TextDecoder();

/**
 * Where a read may stop now: the end of the output, less a UTF-8 sequence
 * still arriving while the process runs (once it has ended, all of it).
 */
function readableEnd(e: TrackedProcess): number {
  return e.status === 'running' ? e.ring.total - e.ring.partialTail : e.ring.total;
}

/**
 * Output since `cursor`; with `waitMs`, waits for new output or the end first
 * (woken, never polling), unless `waitsEnded` says the server is draining.
 */
export async function readOutput(
  e: TrackedProcess,
  opts: { cursor?: number; waitMs?: number; maxBytes?: number; signal?: AbortSignal },
  waitsEnded: () => boolean,
): Promise<ReadResult> {
  touch(e);
  // A cursor past the end (no read ever handed it out) counts from the end as it is now, so the output this read
  // waits for is returned rather than skipped.
  const cursor = Math.min(opts.cursor ?? 0, e.ring.total);
  const deadline = performance.now() + Math.min(opts.waitMs ?? 0, MAX_WAIT_MS);
  while (e.status === 'running' && readableEnd(e) <= cursor && !opts.signal?.aborted && !waitsEnded()) {
    const waitMs = deadline - performance.now();
    if (waitMs <= 0) break;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        e.waiters.delete(done);
        opts.signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      e.waiters.add(done);
      opts.signal?.addEventListener('abort', done, { once: true });
    });
    touch(e);
  }
  const maxBytes = Math.min(opts.maxBytes ?? DEFAULT_READ_BYTES, MAX_READ_BYTES);
  let r = e.ring.read(cursor, maxBytes, readableEnd(e));
  // Text, at two JSON characters a byte at most, always fits twice the read limit; control bytes cost six.
  const fits = bytesWithinJsonBudget(r.bytes, 2 * MAX_READ_BYTES);
  // Fewer bytes this time; the cursor says where the next read goes on.
  if (fits < r.bytes.byteLength) r = e.ring.read(cursor, fits, readableEnd(e));
  return { output: decoder.decode(r.bytes), cursor: r.next, dropped: r.dropped, ...stateOf(e) };
}

/**
 * Sends input; `closeStdin` ends the input afterwards. Returns the input's size
 * for the audit line, and no digest of it: input is often a password typed
 * into a prompt, and a digest of a short one is reversed by hashing guesses.
 */
export async function writeInput(
  e: TrackedProcess,
  processId: string,
  input: string,
  closeStdin: boolean,
  signal?: AbortSignal,
): Promise<{ bytes: number } & ProcessState> {
  if (e.status !== 'running') throw new ProcessError(`process ${processId} has ended (${e.status}); it takes no input`);
  touch(e);
  const bytes = new TextEncoder().encode(input);
  if (bytes.byteLength > MAX_WRITE_BYTES) throw new ProcessError(`input is ${bytes.byteLength} bytes; one write carries at most ${MAX_WRITE_BYTES}`);
  if (e.terminal && e.inputBytes + bytes.byteLength > MAX_TERMINAL_INPUT_BYTES) {
    throw new ProcessError(
      `process ${processId} has taken ${e.inputBytes} bytes of terminal input; a terminal process takes at most ${MAX_TERMINAL_INPUT_BYTES} over its life — start it without a terminal to stream more`,
    );
  }
  e.inputBytes += bytes.byteLength;
  // A call its client cancels takes its input back while it still waits for room.
  const outcome = bytes.byteLength > 0 ? await e.handle.write(bytes, signal) : 'taken';
  if (outcome !== 'taken') {
    e.inputBytes -= bytes.byteLength;
    throw new ProcessError(
      outcome === 'full'
        ? `process ${processId} holds ${MAX_PENDING_INPUT} bytes of earlier input it has not read, and this input found no room within ${INPUT_WAIT_MS / 1000} s; it was not delivered — the process may be waiting for you to read its output (process_read); write it again once it reads`
        : outcome === 'cancelled'
          ? `the write to process ${processId} was cancelled while it waited for room; this input was not delivered`
          : `process ${processId} no longer takes input (its input is closed or it is ending); this input was not delivered`,
    );
  }
  touch(e);
  // Only after this write was queued: the end of input must come after it.
  if (closeStdin) e.handle.closeInput();
  return { bytes: bytes.byteLength, ...stateOf(e) };
}
