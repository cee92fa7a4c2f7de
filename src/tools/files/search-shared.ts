/**
 * What both search engines (ripgrep and the built-in one) share, so they give
 * the same answer: the request and result types, which regular expressions
 * are accepted, how files are read for searching, which walked entries are
 * searched (ripgrep's precedence: --glob, then .gitignore, then hidden), and
 * the checks every reported file passes. How a matching line is shown is in
 * search-lines.ts.
 */
import { lstat, realpath } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { Confiner } from '../../workspace/confine.ts';
import { type GlobFilter, MatchAllowance } from '../../workspace/gitignore.ts';
import { type FileIdentity, openFileForRead, readChecked } from '../../workspace/open.ts';
import { chargedMatch, type EntryFacts, IgnoreStackCache } from '../../workspace/walk.ts';
import { lossyUtf8 } from './common.ts';
import type { LineMatch } from './search-lines.ts';

export interface SearchRequest {
  /** The client searching: ripgrep runs in that client's sandbox. */
  owner: string;
  /** The pattern as given: what ripgrep runs. */
  pattern: string;
  /** The same pattern for JavaScript: what the built-in engine runs, in a worker thread. */
  regex: RegExp;
  caseSensitive: boolean;
  /** Real path of the root the search is in; reported paths and globs are relative to it. */
  root: string;
  /** Real path of the directory or file to search. */
  start: string;
  startIsFile: boolean;
  /** The start's inode as the verified walk found it: what a command given the file must be given. */
  startIdentity: FileIdentity;
  glob: { text: string; filter: GlobFilter } | null;
  maxResults: number;
  maxFileBytes: number;
  signal: AbortSignal;
}

export interface SearchMatch extends LineMatch {
  path: string;
}

export interface SearchOutcome {
  matches: SearchMatch[];
  truncated: boolean;
  error: string | null;
  /** The engine's own process was killed or crashed (`error` says how): another engine may still answer. */
  died?: boolean;
}

export type SearchEngine = (confiner: Confiner, req: SearchRequest) => Promise<SearchOutcome>;

/**
 * The pattern as a JavaScript RegExp, refusing what ripgrep's engine cannot
 * do (lookaround, backreferences) and what no line can contain (a newline):
 * an accepted pattern means the same to both engines, except that ripgrep's
 * \w, \d and \b are Unicode-aware and JavaScript's are ASCII-only. Only
 * compiled here, which is linear in the pattern's length; the built-in
 * engine runs it in its worker thread.
 */
export function compilePattern(pattern: string, caseSensitive: boolean): RegExp | string {
  if (/\(\?<?[=!]/.test(pattern) || /\\[1-9]|\\k</.test(pattern)) {
    return 'lookaround and backreferences are not supported; use a plain regular expression';
  }
  if (pattern.includes('\n') || /(^|[^\\])(\\\\)*\\n/.test(pattern)) return 'the search is line by line: a pattern cannot match a newline';
  try {
    return new RegExp(pattern, caseSensitive ? 'u' : 'iu');
  } catch (err) {
    return `invalid regular expression: ${(err as Error).message}`;
  }
}

/**
 * A file's bytes for searching, read through a confined, verified open (see
 * open.ts); null for what is not searched: unreadable, over the size limit,
 * or binary (a NUL byte anywhere — ripgrep gives up on a file at its first).
 */
export async function readSearchableBytes(confiner: Confiner, real: string, maxBytes: number): Promise<Uint8Array | null> {
  try {
    const opened = await openFileForRead(confiner, real);
    try {
      if (opened.stat.size > maxBytes) return null;
      const bytes = await readChecked(opened.handle, opened.stat.size);
      return bytes.includes(0) ? null : bytes;
    } finally {
      await opened.handle.close();
    }
  } catch {
    return null;
  }
}

/** The same file as text (lossy UTF-8, BOM kept), as the built-in engine matches it. */
export async function readSearchable(confiner: Confiner, real: string, maxBytes: number): Promise<string | null> {
  const bytes = await readSearchableBytes(confiner, real, maxBytes);
  return bytes === null ? null : lossyUtf8.decode(bytes);
}

/**
 * Whether a walked entry is searched (files) or walked into (directories),
 * in ripgrep's order of precedence: a --glob verdict wins, then .gitignore,
 * then hidden names are skipped unless a .gitignore rule whitelisted them.
 * Symlinks and special files are never searched.
 */
export function selectEntry(entry: EntryFacts, glob: GlobFilter | null): boolean {
  if (entry.type !== 'file' && entry.type !== 'directory') return false;
  const isDir = entry.type === 'directory';
  const g = glob?.match(entry.rel, isDir) ?? null;
  if (g !== null) return g === 'whitelist';
  if (entry.ignore === 'ignore') return false;
  return entry.ignore === 'whitelist' || !entry.name.startsWith('.');
}

/** What a search cut short by its .gitignore matching says (WalkStopped 'gitignore'). */
export const GITIGNORE_TOO_COSTLY =
  'the .gitignore rules on the way cost too much to match (more than a search may spend per file); stopped with the matches found so far: narrow the path or the glob';

/**
 * The checks every file a search reports must pass, whichever engine found
 * it: a single-link regular file, reached without a symlink, and not ignored
 * by a .gitignore between the search start and the file (ripgrep is run with
 * --no-ignore-parent, so the rules above the start are applied here). Each
 * directory's verdict is worked out once; the matching is charged to one
 * allowance, and `passes` throws WalkStopped('gitignore') once it is spent.
 */
export class ReportedFileCheck {
  private readonly stacks: IgnoreStackCache;
  private readonly realDirs = new Map<string, Promise<boolean>>();
  /** Directories below the start, by real path: whether a .gitignore on the way ignores them. */
  private readonly ignoredDirs = new Map<string, boolean>();
  private readonly allowance = new MatchAllowance();

  constructor(
    private readonly confiner: Confiner,
    private readonly req: SearchRequest,
  ) {
    this.stacks = new IgnoreStackCache(confiner);
  }

  async passes(rel: string): Promise<boolean> {
    const real = join(this.req.root, rel);
    if (!this.confiner.contains(real)) return false;
    const st = await lstat(real).catch(() => null);
    if (!st?.isFile() || st.nlink > 1) return false;
    if (!(await this.dirIsReal(dirname(real)))) return false;
    if (this.req.startIsFile) return true;
    // Each directory below the start, then the file, against the .gitignore files in force above it.
    const below = relative(this.req.start, real).split('/');
    let dir = this.req.start;
    let slice = performance.now();
    for (let i = 0; i < below.length; i++) {
      // A deep path is many matches: give other requests their turn between them.
      if (performance.now() - slice > 10) {
        await new Promise((resolve) => setImmediate(resolve));
        slice = performance.now();
      }
      const path = join(dir, below[i]!);
      const isDir = i < below.length - 1;
      let ignored = isDir ? this.ignoredDirs.get(path) : undefined;
      if (ignored === undefined) {
        const entryRel = relative(this.req.root, path);
        const g = this.req.glob?.filter.match(entryRel, isDir) ?? null;
        ignored = g === null && chargedMatch(await this.stacks.get(dir), entryRel, isDir, this.allowance) === 'ignore';
        if (isDir) this.ignoredDirs.set(path, ignored);
      }
      if (ignored) return false;
      dir = path;
    }
    return true;
  }

  /** A directory whose path holds no symlink: its realpath is itself (and it is confined). */
  private dirIsReal(dir: string): Promise<boolean> {
    let ok = this.realDirs.get(dir);
    if (ok === undefined) {
      ok = realpath(dir).then(
        (r) => r === dir && this.confiner.contains(r),
        () => false,
      );
      this.realDirs.set(dir, ok);
    }
    return ok;
  }
}
