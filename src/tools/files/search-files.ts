/**
 * search_files: regular-expression search over workspace files. Uses ripgrep
 * when the server found `rg` on its PATH at start-up and the built-in engine
 * otherwise; both return the same shape and, for the same tree, the same
 * matches (see search-shared.ts). `engine` says which one ran: a ripgrep
 * that is killed or crashes hands the search to the built-in engine. Neither runs
 * the client's pattern on the event loop: ripgrep is a process, the built-in
 * engine uses a worker thread with a time budget; a search cut short by any
 * limit says so in `error` and `truncated`.
 */
import * as v from 'valibot';
import { logger } from '../../core/log.ts';
import type { Confiner } from '../../workspace/confine.ts';
import { GlobFilter, MAX_GLOB_CHARS } from '../../workspace/gitignore.ts';
import { hardLinkRefusal, lstatConfined } from '../../workspace/open.ts';
import { defineTool, type ToolDefinition, toolArguments, toolOutput } from '../types.ts';
import { type FileLimits, failure, mib, READ_ANNOTATIONS, refusalsAsResults } from './common.ts';
import { builtinSearch } from './search-builtin.ts';
import type { Spawner } from '../../exec/spawner.ts';
import { ripgrepSearch } from './search-rg.ts';
import { compilePattern, type SearchEngine, type SearchMatch } from './search-shared.ts';
import { jsonTextCost } from '../../util/json-text-cost.ts';

const log = logger.withTag('files');
const DEFAULT_MAX_RESULTS = 100;
const MAX_RESULTS = 1000;

export const searchFilesOutput = toolOutput({
  matches: v.array(
    v.object({
      path: v.pipe(v.string(), v.description('Relative to the workspace root.')),
      line: v.pipe(v.number(), v.integer(), v.minValue(1)),
      column: v.pipe(v.number(), v.integer(), v.minValue(1), v.description('Of the first match on the line, in characters.')),
      text: v.pipe(v.string(), v.description('The matching line.')),
    }),
  ),
  truncated: v.pipe(v.boolean(), v.description('There were more matches, or a limit cut the search short (then `error` says which).')),
  engine: v.picklist(['ripgrep', 'builtin']),
});

export interface SearchToolOptions {
  /** Absolute path of the `rg` binary, or null to always use the built-in engine. */
  rgPath: string | null;
  /** Starts ripgrep, as every process is started. */
  spawner: Spawner;
}

export function searchFilesTool(confiner: Confiner, limits: FileLimits, opts: SearchToolOptions): ToolDefinition {
  const engineName: 'ripgrep' | 'builtin' = opts.rgPath ? 'ripgrep' : 'builtin';
  const engine: SearchEngine = opts.rgPath ? ripgrepSearch(opts.rgPath, opts.spawner) : builtinSearch;
  return defineTool({
    name: 'search_files',
    title: 'Search files',
    description:
      'Search file contents in the workspace with a regular expression, line by line. Returns `matches` ({path, line, ' +
      'column, text}; line and column 1-based, column in characters) in path order, at most `maxResults`, with `truncated` when ' +
      'there were more. A search cut short by a limit (time, output size, a pattern that backtracks too much) returns what it ' +
      'found with `truncated` and the reason in `error`. ' +
      'Skips hidden files and directories (names starting with "."), what .gitignore files ignore, binary files, symlinks ' +
      `and files over ${mib(limits.maxFileBytes)}. \`glob\` filters by path relative to the workspace, gitignore-style ` +
      '("*.ts", "src/**/*.test.ts"; a leading "!" excludes). Syntax is the common subset of ripgrep and JavaScript ' +
      'regular expressions: no lookaround, no backreferences; `\\w`, `\\d` and `\\b` are Unicode-aware with ripgrep and ' +
      'ASCII-only in the built-in engine.',
    inputSchema: toolArguments({
      pattern: v.pipe(v.string(), v.minLength(1), v.maxLength(1000), v.description('Regular expression, e.g. "function\\\\s+main" or "TODO".')),
      path: v.optional(v.pipe(v.string(), v.maxLength(4096), v.description('Directory or file to search, relative to the workspace root. Default: the root.'))),
      glob: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_GLOB_CHARS), v.description('Only files whose workspace-relative path matches, e.g. "*.ts" or "*.{ts,tsx}"; "!dist/**" excludes.'))),
      maxResults: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_RESULTS), v.description(`Most matches to return, 1-${MAX_RESULTS}. Default ${DEFAULT_MAX_RESULTS}.`)),
      ),
      caseSensitive: v.optional(v.pipe(v.boolean(), v.description('Match case exactly. Default true.'))),
    }),
    outputSchema: searchFilesOutput,
    annotations: READ_ANNOTATIONS,
    readOnly: true,
    async handler({ args, ctx }) {
      const input = args.path === undefined || args.path === '' ? '.' : args.path;
      const caseSensitive = args.caseSensitive ?? true;
      const base = { matches: [] as unknown[], truncated: false, engine: engineName };
      const regex = compilePattern(args.pattern, caseSensitive);
      if (typeof regex === 'string') return failure(base, regex);
      let glob: { text: string; filter: GlobFilter } | null = null;
      if (args.glob !== undefined) {
        try {
          glob = { text: args.glob, filter: new GlobFilter(args.glob) };
        } catch (err) {
          return failure(base, (err as Error).message);
        }
      }
      return refusalsAsResults(base, async () => {
        const start = await confiner.resolveExisting(input);
        const st = await lstatConfined(confiner, start, input);
        if (st.isFile()) {
          if (st.nlink > 1) throw hardLinkRefusal(input);
          if (st.size > limits.maxFileBytes) return failure(base, `file '${input}' is ${mib(st.size)}, over the ${mib(limits.maxFileBytes)} search limit`);
        } else if (!st.isDirectory()) return failure(base, `path '${input}' is neither a file nor a directory`);
        const req = {
          pattern: args.pattern,
          regex,
          caseSensitive,
          root: confiner.rootOf(start),
          start,
          startIsFile: st.isFile(),
          startIdentity: { dev: st.dev, ino: st.ino },
          glob,
          maxResults: args.maxResults ?? DEFAULT_MAX_RESULTS,
          maxFileBytes: limits.maxFileBytes,
          signal: ctx.signal,
          owner: ctx.clientId,
        };
        let ran = engineName;
        let out = await engine(confiner, req);
        if (out.died === true) {
          // ripgrep reads a .gitignore whole, whatever its size: one of hundreds of MiB (planted, or a file caught
          // growing) kills it at its memory limit. The built-in engine counts such a file as none and still answers.
          log.warn(`${out.error}; the built-in engine searched instead`);
          ran = 'builtin';
          out = await builtinSearch(confiner, req);
        }
        out = withinJsonBudget(out);
        return {
          structured: { matches: out.matches, truncated: out.truncated, engine: ran, error: out.error },
          isError: out.error !== null,
          auditResult: { matches: out.matches.length, truncated: out.truncated, engine: ran },
        };
      });
    },
  });
}

/**
 * Most JSON text the matches' paths and lines may take: a line of control characters is six times its length in
 * JSON, and 1000 matches of them made a 17 MB answer to a 140-byte request. Ordinary matches come nowhere near it.
 */
const MAX_MATCHES_JSON = 2 * 1024 * 1024;

function withinJsonBudget<T extends { matches: SearchMatch[]; truncated: boolean; error: string | null }>(out: T): T {
  let cost = 0;
  for (let i = 0; i < out.matches.length; i++) {
    const m = out.matches[i]!;
    cost += jsonTextCost(m.path) + jsonTextCost(m.text);
    if (cost > MAX_MATCHES_JSON) {
      const error = `the matches passed ${MAX_MATCHES_JSON / (1024 * 1024)} MiB as JSON text (a control character takes six): the first ${i} are shown`;
      return { ...out, matches: out.matches.slice(0, i), truncated: true, error: out.error ?? error };
    }
  }
  return out;
}
