/**
 * shell_execute and shell_execute_json: the seed's command tools. argv only —
 * no shell parses the arguments, so `$(id)` or `;` reach the program as
 * literal text.
 */
import * as v from 'valibot';
import type { CallContext } from '../core/context.ts';
import type { CommandRunner, RunResult } from '../exec/runner.ts';
import { nestingDepth } from '../util/json-measure.ts';
import { CorrelationIdArgument, defineTool, type ToolDefinition, toolArguments, toolOutput } from './types.ts';

/**
 * The parser's reason without the text it quotes: it names the token it
 * stopped at (`Unexpected identifier "hunter2"`), a word of the output, and
 * the reason is audited, which keeps no output. Quoted JSON punctuation
 * (`Expected ']'`) says nothing of the output and stays.
 */
export function jsonErrorWithoutText(message: string): string {
  return message.replace(/^JSON Parse error: /, '').replace(/"[^"]*"|'([^']*)'/g, (quoted, single: string | undefined) => (single !== undefined && /^[[\]{}:,]$/.test(single) ? quoted : '(text not shown)'));
}

/** Deepest stdout JSON shell_execute_json hands back parsed; real tools' output nests a few dozen levels at most. */
const MAX_JSON_DEPTH = 1000;

export function shellInputSchema(maxTimeoutSeconds: number) {
  return toolArguments({
    command: v.pipe(
      v.string(),
      v.minLength(1),
      v.maxLength(4096),
      v.description('Program to run: a name looked up on PATH (e.g. "git") or a path. No shell: pipes, globs and $() are not interpreted.'),
    ),
    arguments: v.optional(
      v.pipe(
        v.array(v.string()),
        v.maxLength(4096),
        v.description('Arguments, one per element, passed verbatim (e.g. ["status", "--short"]).'),
      ),
    ),
    workingDirectory: v.optional(
      v.pipe(
        v.string(),
        v.maxLength(4096),
        v.description('Directory to run in, relative to the workspace or absolute inside it. Defaults to the workspace root.'),
      ),
    ),
    timeoutSeconds: v.optional(
      v.pipe(
        v.number(),
        v.integer(),
        v.minValue(1),
        v.maxValue(maxTimeoutSeconds),
        v.description(`Seconds before the command and all its child processes are killed (1-${maxTimeoutSeconds}).`),
      ),
    ),
    correlationId: CorrelationIdArgument,
    user: v.optional(v.pipe(v.string(), v.maxLength(200), v.description('End user on whose behalf the call is made (recorded in the audit log).'))),
  });
}

/** Result fields shell_execute and shell_execute_json share. */
const runFields = {
  stderr: v.pipe(v.string(), v.description('Standard error, up to the server cap.')),
  exitCode: v.pipe(v.number(), v.integer(), v.description('Exit status; 128 + n after signal n; -1 when the process did not start, timed out or was cancelled.')),
  timedOut: v.boolean(),
  truncated: v.pipe(v.boolean(), v.description('Output beyond the server cap was dropped.')),
  executionTimeMs: v.pipe(v.number(), v.integer(), v.minValue(0)),
  correlationId: v.pipe(v.string(), v.description('The id the audit log files this call under.')),
};

export const shellExecuteOutput = toolOutput({
  stdout: v.pipe(v.string(), v.description('Standard output, up to the server cap.')),
  ...runFields,
});

export const shellExecuteJsonOutput = toolOutput({
  json: v.pipe(v.unknown(), v.description('stdout parsed as JSON; null when it could not be parsed.')),
  parseError: v.pipe(v.nullable(v.string()), v.description('Why stdout was not parsed, else null.')),
  ...runFields,
});

type ShellArgs = v.InferOutput<ReturnType<typeof shellInputSchema>>;

function auditResult(r: RunResult): Record<string, unknown> {
  return {
    exitCode: r.exitCode,
    timedOut: r.timedOut,
    cancelled: r.cancelled,
    truncated: r.truncated,
    executionTimeMs: Math.round(r.durationMs),
    stdoutLength: r.stdout.length,
    stderrLength: r.stderr.length,
  };
}

async function run(runner: CommandRunner, args: ShellArgs, ctx: CallContext): Promise<RunResult> {
  return runner.run({
    owner: ctx.clientId,
    command: args.command,
    arguments: args.arguments,
    workingDirectory: args.workingDirectory,
    timeoutSeconds: args.timeoutSeconds,
    signal: ctx.signal,
    // Only when the caller asked for progress: bytes so far and the newest output.
    onProgress: ctx.progress ? (p) => ctx.progress?.({ progress: p.bytes, message: p.tail }) : undefined,
  });
}

export function shellTools(runner: CommandRunner, maxTimeoutSeconds: number): ToolDefinition[] {
  const input = shellInputSchema(maxTimeoutSeconds);

  const shellExecute = defineTool({
    name: 'shell_execute',
    title: 'Run a command',
    description:
      'Run a program in the workspace and return its stdout, stderr and exit code. The command is executed directly ' +
      '(argv, no shell): pass each argument as a separate array element. For pipes or redirection run a shell ' +
      'explicitly, e.g. command "sh" with arguments ["-c", "..."], if one is installed. Output beyond the server cap ' +
      'is dropped and `truncated` is set. A non-zero exit, timeout or refusal returns isError with a message in `error`.',
    inputSchema: input,
    outputSchema: shellExecuteOutput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    readOnly: false,
    async handler({ args, ctx, correlationId }) {
      const r = await run(runner, args, ctx);
      return {
        structured: {
          stdout: r.stdout,
          stderr: r.stderr,
          exitCode: r.exitCode,
          timedOut: r.timedOut,
          truncated: r.truncated,
          executionTimeMs: Math.round(r.durationMs),
          correlationId,
          error: r.error,
        },
        isError: r.error !== null,
        auditResult: auditResult(r),
      };
    },
  });

  const shellExecuteJson = defineTool({
    name: 'shell_execute_json',
    title: 'Run a command that prints JSON',
    description:
      'Run a program that prints JSON (e.g. "jq", "gh ... --json", "npm ls --json") and return the parsed value in ' +
      '`json`. Same input and rules as shell_execute. If stdout is not valid JSON, `json` is null and `parseError` says why.',
    inputSchema: input,
    outputSchema: shellExecuteJsonOutput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    readOnly: false,
    async handler({ args, ctx, correlationId }) {
      const r = await run(runner, args, ctx);
      let json: unknown = null;
      let parseError: string | null = null;
      if (r.spawnError === null && !r.timedOut && !r.cancelled) {
        if (r.truncated) parseError = 'output was truncated at the server cap; not parsed';
        else {
          try {
            json = JSON.parse(r.stdout);
          } catch (err) {
            parseError = `stdout is not valid JSON: ${jsonErrorWithoutText((err as Error).message)}`;
          }
          // The result is serialised recursively on its way out: JSON nested past that stack would fail the call.
          if (parseError === null && nestingDepth(json, MAX_JSON_DEPTH + 1) > MAX_JSON_DEPTH) {
            json = null;
            parseError = `stdout is JSON nested deeper than ${MAX_JSON_DEPTH} levels; not parsed`;
          }
        }
      }
      const error = r.error ?? (parseError ? parseError : null);
      return {
        structured: {
          json,
          parseError,
          stderr: r.stderr,
          exitCode: r.exitCode,
          timedOut: r.timedOut,
          truncated: r.truncated,
          executionTimeMs: Math.round(r.durationMs),
          correlationId,
          error,
        },
        isError: error !== null,
        auditResult: { ...auditResult(r), parseError },
      };
    },
  });

  return [shellExecute, shellExecuteJson];
}
