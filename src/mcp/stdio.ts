/**
 * MCP over stdin/stdout: newline-delimited JSON-RPC, an adapter over the
 * message core (core.ts). stdout carries only MCP messages (logs go to
 * stderr). Requests are answered concurrently, so a long command does not hold
 * up the next call; `notifications/cancelled` aborts the named request's
 * command, and a request with a `progressToken` gets `notifications/progress`
 * lines before its answer; a cancelled request gets no answer at all (the
 * protocol asks so: its client has stopped waiting for one). An id names one
 * request while it is in flight, a cancelled one until its process is gone: a
 * second request with the same id is refused (-32600) and the first runs on,
 * so a cancellation can only ever reach the call it names. The client is the
 * fixed identity "stdio", and the same limiter and audit as HTTP apply through
 * the dispatcher's gate.
 *
 * A client that stops reading stdout is not read either: while more than
 * OUTPUT_HIGH_WATER bytes of answers wait to be taken, no further line is
 * read from stdin (the pipe then fills and holds the client's writes), so its
 * requests cannot pile answers up in memory without limit; progress
 * notifications are dropped while the output is behind (answers never are).
 * And at most MAX_IN_FLIGHT requests are answered at once: beyond that a
 * request is refused at once (-31429) rather than held, so stdin keeps being
 * read and a cancellation still reaches the calls that run.
 */
import type { CallContext } from '../core/context.ts';
import { InvalidRequestError, ParseError, RateLimitError } from '../core/errors.ts';
import { LineSplitter, type SplitLine } from '../util/line-splitter.ts';
import { decodeMessage } from './message-text.ts';
import type { McpCore } from './core.ts';
import { newCorrelationId } from './correlation.ts';

/** Where answers go: one line per message, and how far the reader is behind. */
export interface StdioOutput {
  write(line: string): void;
  /** Bytes written but not yet taken by the reader. */
  readonly backlog: number;
  /** Resolves once at most `limit` bytes wait to be taken (or the reader is gone). */
  below(limit: number): Promise<void>;
}

export interface StdioOptions {
  input: ReadableStream<Uint8Array>;
  output: StdioOutput;
  maxMessageBytes: number;
  /** Stops reading input (the server was signalled): calls in flight are still answered, as when stdin closes. */
  stop?: AbortSignal;
}

/** Never aborted by the transport: stdin closing lets calls in flight finish. */
const STDIO_SIGNAL = new AbortController().signal;
/** Answers waiting for the reader beyond this stop stdin from being read. */
export const OUTPUT_HIGH_WATER = 1024 * 1024;
/** Progress notifications are dropped while this much output waits (the next one carries the newer total). */
const PROGRESS_HIGH_WATER = 256 * 1024;
/** Requests being answered at once; each may end in an answer of several MB that waits for the reader. */
export const MAX_IN_FLIGHT = 64;

export async function serveStdio(core: McpCore, opts: StdioOptions): Promise<void> {
  const { output } = opts;
  const pending = new Set<Promise<void>>();
  let inFlight = 0;
  const notify = (json: string) => {
    if (output.backlog <= PROGRESS_HIGH_WATER) output.write(json);
  };

  const handleLine = async (line: string): Promise<void> => {
    const ctx: CallContext = {
      clientId: 'stdio',
      clientIp: 'stdio',
      apiKeyHash: null,
      correlationId: newCorrelationId(),
      transport: 'stdio',
      signal: STDIO_SIGNAL,
      allowedTools: null,
      readOnly: false,
    };
    const incoming = core.read(line, null);
    if (!incoming.ok) {
      core.refusedRead(ctx, incoming, incoming.error);
      output.write(core.refusal(incoming.id, ctx, incoming.error).body!);
      return;
    }
    if (incoming.message.kind === 'request' && inFlight >= MAX_IN_FLIGHT) {
      const busy = new RateLimitError(`Too many requests: ${MAX_IN_FLIGHT} requests of this session are in flight; wait for an answer first`, 1, { reason: 'in_flight' });
      output.write(core.refusal(incoming.id, ctx, busy).body!);
      return;
    }
    const answered = core.answer(incoming, ctx, { notify, exclusiveIds: true, silenceCancelled: true });
    let out = answered as Awaited<typeof answered>;
    if (answered instanceof Promise) {
      inFlight++;
      try {
        out = await answered;
      } finally {
        inFlight--;
      }
    }
    if (out.body !== null) output.write(out.body);
  };

  const splitter = new LineSplitter(opts.maxMessageBytes);
  const dispatchLine = (line: SplitLine) => {
    if (line.oversized) {
      output.write(core.refusal(null, { correlationId: '' }, new InvalidRequestError(`Message exceeds the limit of ${opts.maxMessageBytes} bytes`)).body!);
      return;
    }
    let text: string;
    try {
      text = decodeMessage(line.bytes);
    } catch (err) {
      output.write(core.refusal(null, { correlationId: '' }, err as ParseError).body!);
      return;
    }
    if (text.trim() === '') return;
    const p = handleLine(text).finally(() => pending.delete(p));
    pending.add(p);
  };
  const reader = opts.input.getReader();
  // A stop cancels the read in progress, which then ends as stdin closing does. Not Promise.race against a
  // promise that lives as long as the session: every race leaves a reaction on it that holds its read's
  // chunk, so a session kept every byte it was ever sent.
  const cancelRead = () => void reader.cancel().catch(() => {});
  if (opts.stop?.aborted) cancelRead();
  else opts.stop?.addEventListener('abort', cancelRead, { once: true });
  try {
    reading: for (;;) {
      const next = await reader.read();
      if (next.done) {
        // A partial line is dropped when the stop ended the read: its sender is being shut down.
        const last = opts.stop?.aborted ? null : splitter.end();
        if (last) dispatchLine(last);
        break;
      }
      for (const line of splitter.push(next.value)) {
        // Line by line: one chunk of small requests can ask for many large answers.
        if (output.backlog > OUTPUT_HIGH_WATER && !(await roomOrStop(output, opts.stop))) break reading;
        dispatchLine(line);
      }
      if (opts.stop?.aborted) break;
    }
  } finally {
    opts.stop?.removeEventListener('abort', cancelRead);
  }
  // stdin closed: answer what is in flight (`echo '{…}' | hide stdio` must
  // work), bounded by each command's own timeout.
  await Promise.allSettled([...pending]);
}

/** Waits until the reader has taken the output down to the high-water mark (true) or the session is stopped (false). */
function roomOrStop(output: StdioOutput, stop: AbortSignal | undefined): Promise<boolean> {
  if (stop?.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onStop = () => resolve(false);
    stop?.addEventListener('abort', onStop, { once: true });
    void output.below(OUTPUT_HIGH_WATER).then(() => {
      stop?.removeEventListener('abort', onStop);
      resolve(true);
    });
  });
}
