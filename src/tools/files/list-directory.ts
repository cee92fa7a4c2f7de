/**
 * list_directory: what is in a workspace directory, a bounded number of
 * entries, breadth first so a cap drops the deepest levels. Symlinks are
 * listed as symlinks and never followed, so a link to a directory outside
 * shows up as one entry and nothing behind it.
 */
import * as v from 'valibot';
import type { Confiner } from '../../workspace/confine.ts';
import { openDirectory } from '../../workspace/open.ts';
import { compareNames, type EntryType, walk, WalkStopped } from '../../workspace/walk.ts';
import { defineTool, type ToolDefinition, toolArguments, toolOutput } from '../types.ts';
import { READ_ANNOTATIONS, refusalsAsResults } from './common.ts';
import { jsonTextCost } from '../../util/json-text-cost.ts';

export const MAX_LIST_ENTRIES = 1000;
/**
 * Most JSON text the entries' paths may take: a name of control characters is six times its length in JSON, and
 * 1000 deep paths of them made a 32 MB answer to a 120-byte request. Ordinary names come nowhere near it.
 */
const MAX_LIST_JSON = 1024 * 1024;
const MAX_DEPTH = 10;
/** Time one listing may take, as a search may: a directory of millions of names, or costly .gitignore rules, end it there. */
const LIST_MS = 60_000;

/** What a listing cut short says, with the entries found before. */
const STOPPED: Record<WalkStopped['reason'], string> = {
  cancelled: 'listing cancelled',
  deadline: `listing stopped after ${LIST_MS / 1000} s`,
  gitignore:
    'the .gitignore rules here cost too much to match (more than a listing may spend per entry); stopped with the entries found so far: ' +
    'list without respectGitignore, or a narrower path',
};

export const listDirectoryOutput = toolOutput({
  path: v.pipe(v.string(), v.description('The directory relative to the workspace root ("." for the root).')),
  entries: v.array(
    v.object({
      path: v.pipe(v.string(), v.description('Relative to the workspace root.')),
      type: v.picklist(['file', 'directory', 'symlink', 'other']),
      size: v.pipe(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0))), v.description('Bytes, for files; else null.')),
    }),
  ),
  truncated: v.pipe(v.boolean(), v.description(`More than ${MAX_LIST_ENTRIES} entries exist (or their paths passed 1 MiB as JSON text), or the listing was stopped (\`error\` says why).`)),
});

export function listDirectoryTool(confiner: Confiner): ToolDefinition {
  return defineTool({
    name: 'list_directory',
    title: 'List a directory',
    description:
      'List a workspace directory: `entries` with a path relative to the workspace, `type` (file, directory, symlink, other) ' +
      `and \`size\` in bytes (files only, else null), sorted by path. \`depth\` 1 (default) lists direct children, up to ${MAX_DEPTH}. ` +
      `At most ${MAX_LIST_ENTRIES} entries; \`truncated\` says more exist (list a subdirectory or lower depth). Hidden entries ` +
      '(names starting with ".") are skipped unless `includeHidden`; `respectGitignore` skips what .gitignore files ignore. ' +
      'Symlinks are listed, never followed.',
    inputSchema: toolArguments({
      path: v.optional(v.pipe(v.string(), v.maxLength(4096), v.description('Directory to list, relative to the workspace root. Default: the root.'))),
      depth: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_DEPTH), v.description(`Levels to descend, 1-${MAX_DEPTH}. Default 1.`))),
      includeHidden: v.optional(v.pipe(v.boolean(), v.description('Include names starting with ".". Default false; .git is listed but never descended.'))),
      respectGitignore: v.optional(v.pipe(v.boolean(), v.description('Skip entries that .gitignore files ignore. Default false.'))),
    }),
    outputSchema: listDirectoryOutput,
    annotations: READ_ANNOTATIONS,
    readOnly: true,
    async handler({ args, ctx }) {
      const input = args.path === undefined || args.path === '' ? '.' : args.path;
      const base = { path: input, entries: [] as unknown[], truncated: false };
      return refusalsAsResults(base, async () => {
        const dir = await openDirectory(confiner, input);
        await dir.handle.close();
        const entries: Array<{ path: string; type: EntryType; size: number | null }> = [];
        let truncated = false;
        const walker = walk(confiner, dir.real, {
          order: 'breadth-first',
          maxDepth: args.depth ?? 1,
          gitignore: args.respectGitignore ?? false,
          accept: (e) => (args.includeHidden || !e.name.startsWith('.')) && e.ignore !== 'ignore',
          // A repository's internals are thousands of entries of no use to an agent.
          descend: (e) => e.name !== '.git',
          // One past the cap tells whether more exist; a directory of a million names is then read, not kept.
          limit: MAX_LIST_ENTRIES + 1,
          signal: ctx.signal,
          deadline: performance.now() + LIST_MS,
        });
        let cost = 0;
        let stopped: string | null = null;
        try {
          for await (const e of walker) {
            const path = confiner.display(e.real);
            cost += jsonTextCost(path);
            if (entries.length === MAX_LIST_ENTRIES || cost > MAX_LIST_JSON) {
              truncated = true;
              break;
            }
            entries.push({ path, type: e.type, size: e.type === 'file' ? e.size : null });
          }
        } catch (err) {
          if (!(err instanceof WalkStopped)) throw err;
          truncated = true;
          stopped = STOPPED[err.reason];
        }
        entries.sort((a, b) => compareNames(a.path, b.path));
        return {
          structured: { path: confiner.display(dir.real), entries, truncated, error: stopped },
          isError: stopped !== null,
          auditResult: { entries: entries.length, truncated },
        };
      });
    },
  });
}
