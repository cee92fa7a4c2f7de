/**
 * process_start, process_read, process_write, process_list, process_kill:
 * work that outlives one call — a dev server, a long build, a REPL — as a
 * handle the model passes back. The rules of shell_execute apply to the start
 * (argv, policy, confinement, minimal env, sandbox); the process table
 * (src/exec/process-table.ts) owns handles, bounds and ends.
 */
import * as v from 'valibot';
import type { CallContext } from '../core/context.ts';
import { ProcessError } from '../exec/process-error.ts';
import { MAX_READ_BYTES, MAX_WAIT_MS, MAX_WRITE_BYTES } from '../exec/process-io.ts';
import type { ProcessTable } from '../exec/process-table.ts';
import { PROCESS_SIGNALS } from '../exec/live.ts';
import { argumentObject, CorrelationIdArgument, defineTool, type ToolDefinition, toolArguments, ToolFailureSchema, type ToolOutcome, toolOutput, toolPermitted } from './types.ts';
import { textWithinJsonBudget } from '../util/json-text-cost.ts';

const ProcessId = v.pipe(v.string(), v.minLength(1), v.maxLength(300), v.description('The processId process_start returned.'));
const Status = v.picklist(['running', 'exited', 'killed', 'timed-out']);

const StateFields = {
  status: v.pipe(Status, v.description('running, exited (on its own), killed (process_kill, shutdown, its sandbox launcher died) or timed-out (lifetime or idle limit).')),
  exitCode: v.pipe(v.nullable(v.number()), v.description('Exit status once ended (128 + n after signal n); null while running.')),
  signal: v.pipe(v.nullable(v.string()), v.description('The signal that ended it, if one did.')),
  runningMs: v.pipe(v.number(), v.description('Time since the start (to the end, once ended).')),
  reason: v.pipe(v.nullable(v.string()), v.description('Why it was ended, when it did not exit on its own.')),
};
type Failure = v.InferOutput<typeof ToolFailureSchema>;

function failure(message: string): ToolOutcome<Failure> {
  return { structured: { error: message }, isError: true };
}

/** A refusal the caller can fix becomes an isError result; anything else propagates (a cap refusal is a 429). */
async function guarded<T>(run: () => Promise<ToolOutcome<T>> | ToolOutcome<T>): Promise<ToolOutcome<T | Failure>> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ProcessError) return failure(err.message);
    throw err;
  }
}

/** With either one a client still sees or stops what it started. */
export const REACHING_TOOLS = ['process_read', 'process_kill'] as const;

/** Whether a caller with this grant may call process_read or process_kill: see or stop what it starts. */
export function reachesProcesses(grant: Pick<CallContext, 'allowedTools' | 'readOnly'>): boolean {
  return REACHING_TOOLS.some((name) => toolPermitted({ name, readOnly: false }, grant));
}
const UNREACHABLE_START = 'this client may call neither process_read nor process_kill: nobody could read or stop a process it started, so none is started';

function callerOf(ctx: CallContext, correlationId: string, user: string | undefined) {
  const oauth = ctx.oauth ? { oauth: { issuer: ctx.oauth.issuer, client_id: ctx.oauth.clientId, scopes: ctx.oauth.scopes } } : {};
  return { clientId: ctx.clientId, clientIp: ctx.clientIp, apiKeyHash: ctx.apiKeyHash, user: user ?? null, correlationId, ...oauth };
}

export function processTools(table: ProcessTable, limits: { maxTimeoutSeconds: number; idleTimeoutSeconds: number }): ToolDefinition[] {
  const start = defineTool({
    name: 'process_start',
    title: 'Start a long-running process',
    description:
      'Start a program that keeps running after this call returns — a dev server, a watcher, a long build, a REPL — and ' +
      'get a processId to pass to process_read, process_write and process_kill. Same rules as shell_execute (argv, no ' +
      'shell, workspace confinement, sandbox). Set `terminal` ({cols, rows}) for programs that need a TTY (python3, ' +
      'node, git rebase -i, top); otherwise stdout and stderr are pipes, merged. Read output with process_read and ' +
      'waitMs instead of calling in a loop. The process is killed at its timeout, after idleTimeoutSeconds without a ' +
      'call naming it, and when the server stops.',
    inputSchema: toolArguments({
      command: v.pipe(v.string(), v.minLength(1), v.maxLength(4096), v.description('Program: a name looked up on PATH (e.g. "npm") or a path. No shell.')),
      arguments: v.optional(v.pipe(v.array(v.string()), v.maxLength(4096), v.description('Arguments, one per element, passed verbatim.'))),
      workingDirectory: v.optional(v.pipe(v.string(), v.maxLength(4096), v.description('Directory to run in, relative to the workspace or inside it.'))),
      terminal: v.optional(
        v.pipe(
          v.union(
            [
              v.literal(false),
              argumentObject({ cols: v.pipe(v.number(), v.integer(), v.minValue(10), v.maxValue(1000)), rows: v.pipe(v.number(), v.integer(), v.minValue(2), v.maxValue(1000)) }),
            ],
            // An object with a name the size does not take fails both options: say that, not that an object is no object.
            (issue) => issue.issues?.find((i) => i.kind === 'schema' && i.expected === 'never')?.message ?? `Invalid type: Expected false or {cols, rows} but received ${issue.received}`,
          ),
          v.description('A pseudo-terminal of this size (e.g. {"cols":120,"rows":40}), or false (default) for pipes.'),
        ),
      ),
      env: v.optional(
        v.pipe(
          v.record(v.pipe(v.string(), v.maxLength(128)), v.pipe(v.string(), v.maxLength(8192))),
          v.check((r) => Object.keys(r).length <= 64, 'at most 64 variables'),
          v.description('Extra environment variables; only names on the server\'s allow list (e.g. NODE_ENV, PORT).'),
        ),
      ),
      timeoutSeconds: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(limits.maxTimeoutSeconds), v.description(`Lifetime before the process group is killed (1-${limits.maxTimeoutSeconds}).`)),
      ),
      idleTimeoutSeconds: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(limits.idleTimeoutSeconds), v.description(`Kill it after this long without a read, write or list (1-${limits.idleTimeoutSeconds}).`)),
      ),
      correlationId: CorrelationIdArgument,
      user: v.optional(v.pipe(v.string(), v.maxLength(200), v.description('End user on whose behalf the call is made (recorded in the audit log).'))),
    }),
    outputSchema: toolOutput({
      processId: v.pipe(v.string(), v.description('The handle: pass it to the other process_* tools.')),
      pid: v.pipe(v.nullable(v.number()), v.description('Process id as the server or its sandbox sees it; for display only.')),
      startedAt: v.string(),
    }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    readOnly: false,
    handler: ({ args, ctx, correlationId }) =>
      guarded(async () => {
        // A process only process_read and process_kill see or stop: started by a client that may call neither, nobody
        // could, and it would run on unwatched to its lifetime (a keys reload kills such processes; none is started).
        if (!reachesProcesses(ctx)) throw new ProcessError(UNREACHABLE_START);
        const { correlationId: _c, user, ...startArgs } = args;
        const r = await table.start(callerOf(ctx, correlationId, user), startArgs, ctx.signal);
        return { structured: { ...r, error: null }, isError: false, auditResult: { processId: r.processId, pid: r.pid } };
      }),
  });

  const read = defineTool({
    name: 'process_read',
    title: 'Read a process\'s output',
    description:
      'Output of a started process since `cursor` (0 or omitted: from the oldest output kept), with its status. Pass ' +
      'the returned `cursor` to the next read to get only what is new. With `waitMs` the call waits (up to 30000 ms) ' +
      'until new output arrives or the process ends, so poll with waitMs rather than in a tight loop. `dropped` counts ' +
      'bytes lost between your cursor and the oldest output still kept (the buffer keeps the newest output).',
    inputSchema: toolArguments({
      processId: ProcessId,
      cursor: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(0), v.description('The `cursor` of the previous read; 0 for the start.'))),
      waitMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_WAIT_MS), v.description(`Wait up to this long for new output (0-${MAX_WAIT_MS}).`))),
      maxBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_READ_BYTES), v.description(`Most output bytes to return (default 65536, at most ${MAX_READ_BYTES}; fewer when the output is mostly control characters, which JSON writes as six — the cursor says where to go on).`))),
    }),
    outputSchema: toolOutput({
      output: v.string(),
      cursor: v.pipe(v.number(), v.description('Pass it to the next read.')),
      dropped: v.number(),
      ...StateFields,
    }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    // It changes nothing, but there is nothing to read for a client that cannot start processes.
    readOnly: false,
    handler: ({ args, ctx }) =>
      guarded(async () => {
        const r = await table.read(ctx.clientId, args.processId, { cursor: args.cursor, waitMs: args.waitMs, maxBytes: args.maxBytes, signal: ctx.signal });
        return {
          structured: { ...r, error: null },
          isError: false,
          auditResult: { cursor: r.cursor, outputLength: r.output.length, dropped: r.dropped, status: r.status },
        };
      }),
  });

  const write = defineTool({
    name: 'process_write',
    title: 'Send input to a process',
    description:
      'Write text to a started process\'s input (its terminal when started with one). Include the newline: "1+41\\n". ' +
      'Control keys are characters: Ctrl-C is "\\u0003", Ctrl-D "\\u0004", Escape "\\u001b". `closeStdin` ends the input ' +
      '(end of file) after writing. Then read the answer with process_read. Input the process has not read from its pipe ' +
      'is held up to 1 MiB; beyond that a write waits up to 3 s for the process to read, then fails and delivers nothing ' +
      '(as does a call cancelled while it waits).',
    inputSchema: toolArguments({
      processId: ProcessId,
      input: v.pipe(v.string(), v.maxLength(MAX_WRITE_BYTES), v.description('Text to send, verbatim.')),
      closeStdin: v.optional(v.pipe(v.boolean(), v.description('End the input after writing (pipes: close stdin; terminal: Ctrl-D).'))),
    }),
    outputSchema: toolOutput({ processId: v.string(), bytes: v.number(), ...StateFields }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    readOnly: false,
    // Input can be a password typed into a prompt: the audit log keeps its size only (a digest of a short password
    // gives it away to anyone who hashes guesses).
    sensitiveArguments: ['input'],
    handler: ({ args, ctx }) =>
      guarded(async () => {
        const r = await table.write(ctx.clientId, args.processId, args.input, args.closeStdin ?? false, ctx.signal);
        return {
          structured: { processId: args.processId, ...r, error: null },
          isError: false,
          auditArguments: { processId: args.processId, inputBytes: r.bytes, closeStdin: args.closeStdin ?? false },
          auditResult: { bytes: r.bytes, status: r.status },
        };
      }),
  });

  const list = defineTool({
    name: 'process_list',
    title: 'List your processes',
    description:
      'The processes this client started that are running or ended recently, with their processId, command, status and output size. ' +
      `Long command lines are shortened: at most ${LISTED_ARGUMENTS} arguments, each cut to ${LISTED_CHARS} characters (marked …).`,
    inputSchema: toolArguments({}),
    outputSchema: toolOutput({
      processes: v.array(
        v.object({
          processId: v.string(),
          command: v.string(),
          arguments: v.array(v.string()),
          terminal: v.boolean(),
          pid: v.nullable(v.number()),
          startedAt: v.string(),
          bytesOut: v.number(),
          ...StateFields,
        }),
      ),
    }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    readOnly: false,
    handler: async ({ ctx }) => {
      const processes = table.list(ctx.clientId).map((p) => ({ ...p, command: listed(p.command), arguments: listedArguments(p.arguments) }));
      return { structured: { processes, error: null }, isError: false, auditResult: { count: processes.length } };
    },
  });

  const kill = defineTool({
    name: 'process_kill',
    title: 'Stop a process',
    description:
      'Send a signal to a started process and every process it started (its whole group). The default SIGTERM is ' +
      'followed by SIGKILL after a second if the process is still there, and the call returns once it has ended. ' +
      'SIGINT is Ctrl-C (a REPL may survive it).',
    inputSchema: toolArguments({
      processId: ProcessId,
      signal: v.optional(v.pipe(v.picklist(PROCESS_SIGNALS), v.description('Default SIGTERM.'))),
    }),
    outputSchema: toolOutput({ processId: v.string(), ...StateFields }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    readOnly: false,
    handler: ({ args, ctx }) =>
      guarded(async () => {
        const r = await table.kill(ctx.clientId, args.processId, args.signal);
        return { structured: { processId: args.processId, ...r, error: null }, isError: false, auditResult: { status: r.status, exitCode: r.exitCode, signal: r.signal } };
      }),
  });

  return [start, read, write, list, kill];
}

/**
 * How much of each command line process_list shows. A list holds up to 40 processes per client, each started with
 * up to 4096 arguments of any length, and was answered whole, twice (structured and as text): 40 starts of 4 MB
 * argument lists made every later list a 157 MB answer (341 MB of control characters), holding the server 7-21 s.
 */
const LISTED_ARGUMENTS = 32;
const LISTED_CHARS = 256;

/** `text` as a list shows it: at most LISTED_CHARS characters of JSON text, cut ones ending in `…`. */
function listed(text: string): string {
  const shown = textWithinJsonBudget(text, LISTED_CHARS);
  return shown.cut ? `${shown.text}…` : text;
}

function listedArguments(args: readonly string[]): string[] {
  const shown = args.slice(0, LISTED_ARGUMENTS).map(listed);
  if (args.length > LISTED_ARGUMENTS) shown.push(`… ${args.length - LISTED_ARGUMENTS} more`);
  return shown;
}
