/**
 * read_file: a file's text by line range, with the total line count, so an
 * agent can page through a large file and quote exact text to edit_file.
 * Binaries and files over the size limit are refused with a message saying so.
 */
import * as v from 'valibot';
import type { Confiner } from '../../workspace/confine.ts';
import { openFileForRead, readChecked } from '../../workspace/open.ts';
import { charsWithinJsonBudget } from '../../util/json-text-cost.ts';
import { pairSafeEnd } from '../../util/utf16.ts';
import { defineTool, type ToolDefinition, toolArguments, toolOutput } from '../types.ts';
import { type FileLimits, failure, looksBinary, lossyUtf8, mib, pathSchemaDescription, READ_ANNOTATIONS, reachedPath, refusalsAsResults } from './common.ts';

export const DEFAULT_READ_LINES = 2000;
const MAX_READ_LINES = 100_000;
/** Most text one call returns; larger ranges come back truncated at a line boundary. */
export const MAX_READ_CHARS = 512 * 1024;
/** The same cap in JSON text: twice the characters, which text of line breaks, tabs and quotes alone stays within. */
const MAX_READ_JSON = 2 * MAX_READ_CHARS;


/*
 * Lines are found by scanning, never stored: the start of every line of a
 * 10 MiB file of newlines is 10 million numbers — ~100 MB and a quarter of a
 * second of the event loop per call.
 */

/** Lines of a text: a line ends after its '\n'; the last line may lack one. */
function countLines(text: string): number {
  if (text.length === 0) return 0;
  let n = 1;
  for (let i = 0; i < text.length - 1; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** Offset where 1-based line `line` starts. */
function startOfLine(text: string, line: number): number {
  if (line <= 1) return 0;
  let seen = 1;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10 && ++seen === line) return i + 1;
  return text.length;
}

/** Offset just past the line that starts at `start`. */
function endOfLineAt(text: string, start: number): number {
  const nl = text.indexOf('\n', start);
  return nl === -1 ? text.length : nl + 1;
}

export const readFileOutput = toolOutput({
  path: v.pipe(v.string(), v.description('The path relative to the workspace root (as given when it could not be resolved).')),
  content: v.pipe(v.string(), v.description('The exact text of lines startLine..endLine, line endings included.')),
  startLine: v.pipe(v.number(), v.integer(), v.minValue(0), v.description('First line returned, 1-based; 0 for an empty file.')),
  endLine: v.pipe(v.number(), v.integer(), v.minValue(0), v.description('Last line returned.')),
  totalLines: v.pipe(v.number(), v.integer(), v.minValue(0)),
  truncated: v.pipe(v.boolean(), v.description('More lines follow: continue with offset = endLine + 1.')),
});

export function readFileTool(confiner: Confiner, limits: FileLimits): ToolDefinition {
  return defineTool({
    name: 'read_file',
    title: 'Read a file',
    description:
      'Read a text file from the workspace, by line range. Returns `content` (the exact text of lines startLine..endLine, ' +
      `line endings included), \`totalLines\`, and \`truncated\` when more lines follow. Reads ${DEFAULT_READ_LINES} lines from ` +
      '`offset` (1-based, default 1) unless `limit` says otherwise; continue with offset = endLine + 1. ' +
      `At most ${MAX_READ_CHARS / 1024} KiB of text a call: fewer lines when they are long, and a line longer than that is cut ` +
      '(the rest of it is not returned: read such a file with a command). ' +
      `Binary files (a NUL byte in the first 8 KiB) and files over ${mib(limits.maxFileBytes)} are refused.`,
    inputSchema: toolArguments({
      path: v.pipe(v.string(), v.minLength(1), v.maxLength(4096), v.description(pathSchemaDescription('File to read'))),
      offset: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.description('First line to return, 1-based. Default 1.'))),
      limit: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_READ_LINES), v.description(`Number of lines to return. Default ${DEFAULT_READ_LINES}.`)),
      ),
    }),
    outputSchema: readFileOutput,
    annotations: READ_ANNOTATIONS,
    readOnly: true,
    async handler({ args }) {
      const base = { path: args.path, content: '', startLine: 0, endLine: 0, totalLines: 0, truncated: false };
      return refusalsAsResults(base, async () => {
        const opened = await openFileForRead(confiner, args.path);
        let bytes: Uint8Array;
        try {
          if (opened.stat.size > limits.maxFileBytes) {
            return failure(base, `file '${args.path}' is ${mib(opened.stat.size)}, over the ${mib(limits.maxFileBytes)} read limit; search it with search_files instead`);
          }
          bytes = await readChecked(opened.handle, opened.stat.size);
        } finally {
          await opened.handle.close();
        }
        if (looksBinary(bytes)) return failure(base, `file '${args.path}' looks binary (it has a NUL byte in its first 8 KiB); read_file returns text only`);
        const text = lossyUtf8.decode(bytes);
        const totalLines = countLines(text);
        const path = confiner.display(opened.real);
        const startLine = args.offset ?? 1;
        if (startLine > Math.max(totalLines, 1)) {
          return failure({ ...base, path, totalLines }, `offset ${startLine} is past the end of '${args.path}', which has ${totalLines} lines`);
        }
        const wanted = Math.min(totalLines, startLine + (args.limit ?? DEFAULT_READ_LINES) - 1);
        const from = startOfLine(text, startLine);
        // Whole lines within the output cap, in characters and in what they cost as JSON (a control character is six:
        // 600 KiB of them made a 6.8 MB answer); a first line over the cap is cut rather than skipped.
        let endLine = startLine - 1;
        let end = from;
        let cost = 0;
        while (endLine < wanted) {
          const next = endOfLineAt(text, end);
          if (next - from > MAX_READ_CHARS) break;
          const line = charsWithinJsonBudget(text, end, next, MAX_READ_JSON - cost);
          if (line.end < next) break;
          cost += line.cost;
          endLine++;
          end = next;
        }
        let cut = false;
        if (endLine < startLine && totalLines > 0) {
          endLine = startLine;
          // Never half of a surrogate pair.
          end = pairSafeEnd(text, charsWithinJsonBudget(text, from, Math.min(endOfLineAt(text, from), from + MAX_READ_CHARS), MAX_READ_JSON).end, from);
          cut = true;
        }
        const content = totalLines === 0 ? '' : text.slice(from, end);
        const truncated = cut || endLine < totalLines;
        return {
          structured: { path, content, startLine: totalLines === 0 ? 0 : startLine, endLine, totalLines, truncated, error: null },
          isError: false,
          auditResult: { ...reachedPath(args.path, path), bytes: bytes.length, startLine, endLine, totalLines, truncated },
        };
      });
    },
  });
}
