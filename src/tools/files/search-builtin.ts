/**
 * The built-in search engine, for servers without ripgrep (the distroless
 * image has none): walks the tree depth-first in name order like `rg --sort
 * path`, selects files by the same rules, skips binaries (any NUL byte, as
 * ripgrep gives up on a file at its first NUL) and files over the size limit,
 * and matches line by line. The walk and the reads stay on the event loop
 * (they are asynchronous); the regular expression runs in a worker thread
 * with a time budget (search-regex-workers.ts), and a search that runs out
 * of it, or where JavaScript's engine gave up on a line, says so.
 */
import { relative } from 'node:path';
import type { Confiner } from '../../workspace/confine.ts';
import { walk, WalkStopped } from '../../workspace/walk.ts';
import { RegexSession } from './search-regex-workers.ts';
import { GITIGNORE_TOO_COSTLY, ReportedFileCheck, readSearchable, type SearchEngine, type SearchMatch, type SearchOutcome, type SearchRequest, selectEntry } from './search-shared.ts';

/** Deep enough for any real tree; bounds the open directories of one walk. */
const MAX_WALK_DEPTH = 128;

/** Time one search may spend running its regular expression. */
export const REGEX_BUDGET_MS = 10_000;

/** Time one search may take in all, walking and reading included: ripgrep's. */
const SEARCH_MS = 60_000;

async function* candidates(confiner: Confiner, req: SearchRequest, deadline: number): AsyncGenerator<{ real: string; size: number }> {
  if (req.startIsFile) {
    yield { real: req.start, size: 0 };
    return;
  }
  const files = walk(confiner, req.start, {
    order: 'depth-first',
    maxDepth: MAX_WALK_DEPTH,
    gitignore: true,
    accept: (e) => selectEntry(e, req.glob?.filter ?? null),
    // Each file is read again by its path: a name that is not UTF-8 would read the file its spelling names.
    skipUndecodable: true,
    // Checked as it walks, not only when it yields a file: a tree of nothing but ignored names yields none.
    signal: req.signal,
    deadline,
  });
  for await (const e of files) {
    if (e.type === 'file' && e.nlink === 1 && e.size <= req.maxFileBytes) yield { real: e.real, size: e.size };
  }
}

function gaveUpError(lines: number, first: string): string {
  return (
    `the regular expression backtracked too much on ${lines} line${lines === 1 ? '' : 's'} (first: ${first}); ` +
    "JavaScript's regex engine gives up on such a line without a match, so matches there may be missing. " +
    'Nested quantifiers such as (a+)+ cause this; ripgrep, when installed, has no such limit'
  );
}

export const builtinSearch: SearchEngine = async (confiner, req) => {
  const matches: SearchMatch[] = [];
  const check = new ReportedFileCheck(confiner, req);
  const session = new RegexSession(req.regex, REGEX_BUDGET_MS, req.signal);
  const gaveUp: string[] = [];
  const ended = (truncated: boolean, error: string | null): SearchOutcome => {
    if (gaveUp.length > 0) return { matches: matches.slice(0, req.maxResults), truncated: true, error: error ?? gaveUpError(gaveUp.length, gaveUp[0]!) };
    return { matches: matches.slice(0, req.maxResults), truncated, error };
  };
  const deadline = performance.now() + SEARCH_MS;
  const stoppedAfter = `search stopped after ${SEARCH_MS / 1000} s`;
  try {
    for await (const file of candidates(confiner, req, deadline)) {
      if (req.signal.aborted) return ended(true, 'search cancelled');
      if (performance.now() > deadline) return ended(true, stoppedAfter);
      const text = await readSearchable(confiner, file.real, req.maxFileBytes);
      if (text === null) continue;
      const answer = await session.match(text, req.maxResults + 1 - matches.length);
      if (answer.kind === 'cancelled') return ended(true, 'search cancelled');
      if (answer.kind === 'deadline') {
        return ended(true, `the regular expression ran for ${REGEX_BUDGET_MS / 1000} s without finishing the search (nested quantifiers such as (a+)+ backtrack exponentially); it was stopped and later matches are missing`);
      }
      if (answer.kind === 'failed') return ended(true, `search failed: ${answer.message}`);
      if (answer.found.length === 0 && answer.gaveUp.length === 0) continue;
      const rel = relative(req.root, file.real);
      if (!(await check.passes(rel))) continue;
      const path = confiner.display(file.real);
      for (const line of answer.gaveUp) gaveUp.push(`${path}:${line}`);
      for (const m of answer.found) matches.push({ path, ...m });
      if (matches.length > req.maxResults) return ended(true, null);
    }
    return ended(false, null);
  } catch (err) {
    if (!(err instanceof WalkStopped)) throw err;
    return ended(true, err.reason === 'cancelled' ? 'search cancelled' : err.reason === 'deadline' ? stoppedAfter : GITIGNORE_TOO_COSTLY);
  } finally {
    session.close();
  }
};
