/**
 * The ripgrep engine: runs `rg --json` with the flags that make its file
 * selection the built-in engine's — only .gitignore files (no .ignore,
 * global or .git/info/exclude rules), whether or not a git repository is
 * present, none above the start (ReportedFileCheck applies those), sorted
 * walk, no memory maps (so a NUL anywhere marks a binary), no BOM sniffing.
 * A file ripgrep flags as binary is dropped whole, as the built-in engine
 * skips it. ripgrep only nominates files and line numbers: ripgrep opens
 * files by path, so a directory swapped for a symlink mid-search could make
 * it read outside; each nominated file is therefore read again through a
 * verified open and its lines matched here, which also makes columns and
 * text identical to the built-in engine's. ripgrep gets an empty environment
 * (no RIPGREP_CONFIG_PATH) and runs through the spawner, sandboxed like any
 * command of the same client.
 */
import { join, relative } from 'node:path';
import type { Spawner } from '../../exec/spawner.ts';
import { matchText, ReportedFileCheck, readSearchable, type SearchEngine, type SearchMatch } from './search-shared.ts';

/** A search that runs longer is stopped; its partial result says so. */
const RG_TIMEOUT_MS = 60_000;
const MAX_STDERR_CHARS = 2000;

type RgText = { text?: string; bytes?: string };


function bytesOf(t: RgText | undefined): Buffer {
  if (t?.text !== undefined) return Buffer.from(t.text, 'utf8');
  return Buffer.from(t?.bytes ?? '', 'base64');
}

function stripDot(path: string): string {
  return path.startsWith('./') ? path.slice(2) : path;
}

export function ripgrepArgs(req: Parameters<SearchEngine>[1]): string[] {
  return [
    '--json',
    '--no-config',
    '--sort=path',
    '--no-mmap',
    '--encoding=none',
    `--max-filesize=${req.maxFileBytes}`,
    `--max-count=${req.maxResults + 1}`,
    '--no-ignore-dot',
    '--no-ignore-exclude',
    '--no-ignore-global',
    '--no-ignore-parent',
    '--no-require-git',
    req.caseSensitive ? '--case-sensitive' : '--ignore-case',
    ...(req.glob ? [`--glob=${req.glob.text}`] : []),
    '--regexp',
    req.pattern,
    '--',
    relative(req.root, req.start) || '.',
  ];
}

/** Most ripgrep output read per search; past it the search reports itself truncated. */
const RG_MAX_OUTPUT_BYTES = 32 * 1024 * 1024;

export function ripgrepSearch(rgPath: string, spawner: Spawner): SearchEngine {
  return async (confiner, req) => {
    // Through the spawner like every command: sandboxed with the client's
    // confinement, in a process group the server kills on shutdown.
    const run = await spawner.run({
      owner: req.owner,
      argv: [rgPath, ...ripgrepArgs(req)],
      cwd: req.root,
      env: {},
      timeoutMs: RG_TIMEOUT_MS,
      maxOutputBytes: RG_MAX_OUTPUT_BYTES,
      signal: req.signal,
    });
    if (run.spawnError !== null) return { matches: [], truncated: false, error: `ripgrep could not run: ${run.spawnError}` };

    const matches: SearchMatch[] = [];
    const check = new ReportedFileCheck(confiner, req);
    let truncated = run.truncated;
    let lines = new Set<number>();
    const output = run.stdout.split('\n');
    // A capped output ends mid-line: that last piece is not a message.
    if (run.truncated) output.pop();
    for (const line of output) {
      if (line === '') continue;
      const msg = JSON.parse(line) as { type: string; data: Record<string, unknown> };
      if (msg.type === 'begin') lines = new Set();
      else if (msg.type === 'match') lines.add((msg.data as { line_number: number }).line_number);
      else if (msg.type === 'end') {
        const d = msg.data as { path: RgText; binary_offset: number | null };
        if (d.binary_offset !== null || lines.size === 0) continue;
        const rel = stripDot(bytesOf(d.path).toString('utf8'));
        const real = join(req.root, rel);
        // ripgrep says where to look; what is reported is read again here through a verified open.
        const text = await readSearchable(confiner, real, req.maxFileBytes);
        if (text === null || !(await check.passes(rel))) continue;
        matches.push(...matchText(confiner.display(real), text, req.regex, req.maxResults + 1 - matches.length, lines));
        if (matches.length > req.maxResults) {
          truncated = true;
          break;
        }
      }
    }
    if (run.timedOut) return { matches: matches.slice(0, req.maxResults), truncated: true, error: `search stopped after ${RG_TIMEOUT_MS / 1000} s` };
    if (run.cancelled) return { matches: matches.slice(0, req.maxResults), truncated: true, error: 'search cancelled' };
    // 0: matches, 1: none; 2 with results means some files could not be read, which the built-in engine skips too.
    if (run.exitCode === 2 && matches.length === 0) {
      const why = run.stderr.trim().slice(0, MAX_STDERR_CHARS);
      if (/regex|parse error/i.test(why)) return { matches: [], truncated: false, error: `ripgrep rejected the pattern: ${why}` };
    }
    return { matches: matches.slice(0, req.maxResults), truncated, error: null };
  };
}
