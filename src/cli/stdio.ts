/** `hide stdio`: MCP over stdin/stdout; logs on stderr only. */
import { constants } from 'node:os';
import { logger } from '../core/log.ts';
import { serveStdio } from '../mcp/stdio.ts';
import { StopRequests } from '../ops/stop-requests.ts';
import { createRuntime } from '../runtime/runtime.ts';
import { LineWriter } from '../util/line-writer.ts';
import { settlesWithin } from '../util/settles-within.ts';
import { watchReaderGone } from '../util/reader-gone.ts';
import { loadForCommand, parseFlags } from './common.ts';

export const STDIO_USAGE = `Usage: hide stdio [--config FILE] [--workspace DIR]

Serves the same MCP tools over stdin/stdout (newline-delimited JSON-RPC), for
clients that launch the server as a subprocess. stdout carries only MCP messages.

SIGTERM/SIGINT: stop running calls, answer them, exit 0 (a second signal exits at once;
answers the client has not read 5 s after the signal are dropped).
SIGHUP: reload the keys file and reopen the audit log.`;

export async function runStdio(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { config: { type: 'string' }, workspace: { type: 'string' } }, STDIO_USAGE);
  if (flags.help) {
    process.stdout.write(`${STDIO_USAGE}\n`);
    return 0;
  }
  const { config, files } = loadForCommand(flags);
  const rt = await createRuntime(config, { transport: 'stdio', secretFiles: files });
  logger.withTag('stdio').debug(`serving MCP on stdio (workspace ${rt.confiner.workspace})`);
  // No drain on stdio: the one client sent the signal (or its host did) and wants the server gone. Running calls are
  // stopped on purpose, then answered and audited like any that ends; a second signal exits at once, recording
  // what still runs as interrupted; the first delivered twice at once (to the group and by a wrapper) is not a second.
  const stop = new AbortController();
  const requests = new StopRequests();
  const onSignal = (name: NodeJS.Signals) => {
    if (requests.take() === 'echo') return;
    rt.ops.killChildren();
    if (!stop.signal.aborted) {
      stop.abort();
      return;
    }
    rt.ops.recordUnfinishedCalls();
    void Promise.resolve(rt.audit.flush()).finally(() => process.exit(128 + (constants.signals[name] ?? 15)));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // As for serve: an external logrotate's postrotate signal must not end the session.
  process.on('SIGHUP', () => {
    rt.ops.reopenAudit();
    rt.keyStore?.reload();
  });
  // The client closed its end of stdout (EPIPE at a write, or seen while nothing is written: a client that crashed
  // mid-call): nobody can read an answer any more, so stop as on a signal: running calls are killed and audited, and
  // the server exits rather than run commands for no one.
  let closed = false;
  const stdoutClosed = (why: string) => {
    if (closed) return;
    closed = true;
    logger.withTag('stdio').warn(`stdout closed by the client (${why}): stopping running calls and exiting`);
    rt.ops.killChildren();
    stop.abort();
  };
  const output = new LineWriter(Bun.stdout.writer(), (err) => stdoutClosed(String((err as Error).message ?? err)));
  const unwatch = watchReaderGone(1, () => stdoutClosed('its reader is gone'));
  await serveStdio(rt.core, { input: Bun.stdin.stream(), output, maxMessageBytes: config.maxBodyBytes, stop: stop.signal });
  unwatch();
  // Closed first: its audit lines must not wait on a client that has stopped reading.
  await rt.close();
  if (!stop.signal.aborted) {
    await output.flushed();
    // The client is gone and everything is answered and audited: what is still open (with the sandbox off, a pipe
    // whose write end a process that left its group still holds) must not keep the server running for no one.
    process.exit(0);
  }
  // Signalled: the stopped calls' answers go out if the client reads them, but a client that has stopped reading
  // stdout must not keep alive the server it asked to end (the unwritten answers would hold the process open).
  if (!(await settlesWithin(output.flushed(), SIGNAL_OUTPUT_GRACE_MS))) {
    logger.withTag('stdio').warn(`stopping with ${output.backlog} bytes of answers the client did not read`);
    process.exit(0);
  }
  return 0;
}

/** After a stop signal, how long answers may wait for a client that does not read stdout. */
const SIGNAL_OUTPUT_GRACE_MS = 5000;
