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
 */
import type { CallContext } from '../core/context.ts';
import { InvalidRequestError } from '../core/errors.ts';
import { LineSplitter, type SplitLine } from '../util/line-splitter.ts';
import type { McpCore } from './core.ts';
import { newCorrelationId } from './correlation.ts';

export interface StdioOptions {
  input: ReadableStream<Uint8Array>;
  write: (line: string) => void;
  maxMessageBytes: number;
  /** Stops reading input (the server was signalled): calls in flight are still answered, as when stdin closes. */
  stop?: AbortSignal;
}

/** Never aborted by the transport: stdin closing lets calls in flight finish. */
const STDIO_SIGNAL = new AbortController().signal;

export async function serveStdio(core: McpCore, opts: StdioOptions): Promise<void> {
  const pending = new Set<Promise<void>>();

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
      opts.write(core.refusal(incoming.id, ctx, incoming.error).body!);
      return;
    }
    const out = await core.answer(incoming, ctx, { notify: opts.write, exclusiveIds: true, silenceCancelled: true });
    if (out.body !== null) opts.write(out.body);
  };

  const decoder = new TextDecoder();
  const splitter = new LineSplitter(opts.maxMessageBytes);
  const dispatchLine = (line: SplitLine) => {
    if (line.oversized) {
      opts.write(core.refusal(null, { correlationId: '' }, new InvalidRequestError(`Message exceeds the limit of ${opts.maxMessageBytes} bytes`)).body!);
      return;
    }
    const text = decoder.decode(line.bytes);
    if (text.trim() === '') return;
    const p = handleLine(text).finally(() => pending.delete(p));
    pending.add(p);
  };
  const reader = opts.input.getReader();
  const stopped = new Promise<'stopped'>((resolve) => {
    if (opts.stop?.aborted) resolve('stopped');
    opts.stop?.addEventListener('abort', () => resolve('stopped'), { once: true });
  });
  for (;;) {
    const next = await Promise.race([reader.read(), stopped]);
    if (next === 'stopped') {
      // A partial line is dropped: its sender is being shut down.
      reader.cancel().catch(() => {});
      break;
    }
    if (next.done) {
      const last = splitter.end();
      if (last) dispatchLine(last);
      break;
    }
    for (const line of splitter.push(next.value)) dispatchLine(line);
  }
  // stdin closed: answer what is in flight (`echo '{…}' | hide stdio` must
  // work), bounded by each command's own timeout.
  await Promise.allSettled([...pending]);
}
