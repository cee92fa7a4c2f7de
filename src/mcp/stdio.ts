/**
 * MCP over stdin/stdout: newline-delimited JSON-RPC. stdout carries only MCP
 * messages (logs go to stderr). Requests are answered concurrently, so a long
 * command does not hold up the next call; `notifications/cancelled` aborts the
 * named request's command. The client is the fixed identity "stdio", and the
 * same limiter and audit as HTTP apply through the dispatcher's gate.
 */
import type { CallContext } from '../context.ts';
import { HideError, RpcCode } from '../errors.ts';
import { logger } from '../log.ts';
import type { McpDispatcher } from './dispatcher.ts';
import { LineSplitter, type SplitLine } from '../util/line-splitter.ts';
import { errorJson, type JsonRpcId, readId, toMessage } from './protocol.ts';

export interface StdioOptions {
  input: ReadableStream<Uint8Array>;
  write: (line: string) => void;
  maxMessageBytes: number;
}

export async function serveStdio(dispatcher: McpDispatcher, opts: StdioOptions): Promise<void> {
  const inflight = new Map<JsonRpcId, AbortController>();
  const pending = new Set<Promise<void>>();
  const log = logger.withTag('stdio');

  const handleLine = async (line: string): Promise<void> => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      opts.write(errorJson(null, RpcCode.parseError, 'Parse error: line is not valid JSON'));
      return;
    }
    const id = readId(value);
    let controller: AbortController | undefined;
    try {
      const msg = toMessage(value);
      if (msg.kind === 'notification' && msg.method === 'notifications/cancelled') {
        const target = msg.params.requestId;
        if (typeof target === 'string' || typeof target === 'number') inflight.get(target)?.abort();
        return;
      }
      controller = new AbortController();
      if (msg.kind === 'request') inflight.set(msg.id, controller);
      const ctx: CallContext = {
        clientId: 'stdio',
        clientIp: 'stdio',
        apiKeyHash: null,
        correlationId: crypto.randomUUID(),
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
      if (id !== null && inflight.get(id) === controller) inflight.delete(id);
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
