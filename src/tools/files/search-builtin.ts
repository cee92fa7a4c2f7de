/**
 * The built-in search engine, for servers without ripgrep (the distroless
 * image has none): walks the tree depth-first in name order like `rg --sort
 * path`, selects files by the same rules, skips binaries (any NUL byte, as
 * ripgrep gives up on a file at its first NUL) and files over the size limit,
 * and matches line by line.
 */
import { relative } from 'node:path';
import type { Confiner } from '../../workspace/confine.ts';
import { walk } from '../../workspace/walk.ts';
import { matchText, ReportedFileCheck, readSearchable, type SearchEngine, type SearchMatch, type SearchRequest, selectEntry } from './search-shared.ts';

/** Deep enough for any real tree; bounds the open directories of one walk. */
const MAX_WALK_DEPTH = 128;

async function* candidates(confiner: Confiner, req: SearchRequest): AsyncGenerator<{ real: string; size: number }> {
  if (req.startIsFile) {
    yield { real: req.start, size: 0 };
    return;
  }
  const files = walk(confiner, req.start, {
    order: 'depth-first',
    maxDepth: MAX_WALK_DEPTH,
    gitignore: true,
    accept: (e) => selectEntry(e, req.glob?.filter ?? null),
  });
  for await (const e of files) {
    if (e.type === 'file' && e.nlink === 1 && e.size <= req.maxFileBytes) yield { real: e.real, size: e.size };
  }
}

export const builtinSearch: SearchEngine = async (confiner, req) => {
  const matches: SearchMatch[] = [];
  const check = new ReportedFileCheck(confiner, req);
  for await (const file of candidates(confiner, req)) {
    if (req.signal.aborted) return { matches, truncated: true, error: 'search cancelled' };
    const text = await readSearchable(confiner, file.real, req.maxFileBytes);
    if (text === null) continue;
    const rel = relative(req.root, file.real);
    const found = matchText(confiner.display(file.real), text, req.regex, req.maxResults + 1 - matches.length);
    if (found.length === 0 || !(await check.passes(rel))) continue;
    matches.push(...found);
    if (matches.length > req.maxResults) return { matches: matches.slice(0, req.maxResults), truncated: true, error: null };
  }
  return { matches, truncated: false, error: null };
};
