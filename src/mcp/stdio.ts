/**
 * MCP over stdin/stdout: newline-delimited JSON-RPC. stdout carries only MCP
 * messages (logs go to stderr). Requests are answered concurrently, so a long
 * command does not hold up the next call; `notifications/cancelled` aborts the
 * named request's command. An id names one request while it is in flight: a
 * second request with the same id is refused (-32600) and the first runs on,
 * so a cancellation can only ever reach the call it names. The client is the
 * fixed identity "stdio", and the same limiter and audit as HTTP apply through
 * the dispatcher's gate.
 */
import type { CallContext } from '../core/context.ts';
import { HideError, RpcCode } from '../core/errors.ts';
import { logger } from '../core/log.ts';
import type { McpDispatcher } from './dispatcher.ts';
import { LineSplitter, type SplitLine } from '../util/line-splitter.ts';
import { newCorrelationId } from './correlation.ts';
import { asJsonRpcId, errorJson, idKey, parseMessageText, readId, toMessage } from './protocol.ts';

export interface StdioOptions {
  input: ReadableStream<Uint8Array>;
  write: (line: string) => void;
  maxMessageBytes: number;
}

export async function serveStdio(dispatcher: McpDispatcher, opts: StdioOptions): Promise<void> {
  /** Requests being answered, by idKey of their id. */
  const inflight = new Map<string, AbortController>();
  const pending = new Set<Promise<void>>();
  const log = logger.withTag('stdio');

  const handleLine = async (line: string): Promise<void> => {
    let value: unknown;
    try {
      value = parseMessageText(line);
    } catch {
      opts.write(errorJson(null, RpcCode.parseError, 'Parse error: line is not valid JSON'));
      return;
    }
    const id = readId(value);
    let key: string | null = null;
    try {
      const msg = toMessage(value);
      if (msg.kind === 'notification' && msg.method === 'notifications/cancelled') {
        const target = asJsonRpcId(msg.params.requestId);
        if (target !== null) inflight.get(idKey(target))?.abort();
        return;
      }
      const controller = new AbortController();
      if (msg.kind === 'request') {
        const k = idKey(msg.id);
        if (inflight.has(k)) {
          const shown = k.length > 80 ? `${k.slice(0, 80)}…` : k;
          opts.write(errorJson(msg.id, RpcCode.invalidRequest, `Invalid Request: id ${shown} belongs to a request still in flight; use a new id for each request`));
          return;
        }
        inflight.set(k, controller);
        key = k;
      }
      const ctx: CallContext = {
        clientId: 'stdio',
        clientIp: 'stdio',
        apiKeyHash: null,
        correlationId: newCorrelationId(),
        transport: 'stdio',
        signal: controller.signal,
        allowedTools: null,
        readOnly: false,
      };
      const out = await dispatcher.dispatch(msg, ctx);
      if (out.body !== null) opts.write(out.body);
    } catch (err) {
      if (err instanceof HideError) opts.write(errorJson(id, err.rpcCode, err.message, err.data));
      else {
        log.error('unexpected error handling a message:', err instanceof Error ? (err.stack ?? err.message) : err);
        opts.write(errorJson(id, RpcCode.internalError, 'Internal error'));
      }
    } finally {
      if (key !== null) inflight.delete(key);
    }
  };

  const decoder = new TextDecoder();
  const splitter = new LineSplitter(opts.maxMessageBytes);
  const dispatchLine = (line: SplitLine) => {
    if (line.oversized) {
      opts.write(errorJson(null, RpcCode.invalidRequest, `Message exceeds the limit of ${opts.maxMessageBytes} bytes`));
      return;
    }
    const text = decoder.decode(line.bytes);
    if (text.trim() === '') return;
    const p = handleLine(text).finally(() => pending.delete(p));
    pending.add(p);
  };
  for await (const chunk of opts.input as unknown as AsyncIterable<Uint8Array>) {
    for (const line of splitter.push(chunk)) dispatchLine(line);
  }
  const last = splitter.end();
  if (last) dispatchLine(last);
  // stdin closed: answer what is in flight (`echo '{…}' | hide stdio` must
  // work), bounded by each command's own timeout.
  await Promise.allSettled([...pending]);
}
