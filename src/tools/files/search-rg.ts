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
 * text identical to the built-in engine's. ripgrep gets an empty environment:
 * no RIPGREP_CONFIG_PATH.
 */
import { join, relative } from 'node:path';
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

export function ripgrepSearch(rgPath: string): SearchEngine {
  return async (confiner, req) => {
    const proc = Bun.spawn([rgPath, ...ripgrepArgs(req)], { cwd: req.root, env: {}, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
    let stopped: string | null = null;
    const stop = (why: string) => {
      stopped ??= why;
      proc.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(`search stopped after ${RG_TIMEOUT_MS / 1000} s`), RG_TIMEOUT_MS);
    const onAbort = () => stop('search cancelled');
    req.signal.addEventListener('abort', onAbort);
    const stderr = new Response(proc.stderr).text();

    const matches: SearchMatch[] = [];
    const check = new ReportedFileCheck(confiner, req);
    let truncated = false;
    let lines = new Set<number>();
    try {
      const decoder = new TextDecoder();
      let pending = '';
      outer: for await (const chunk of proc.stdout) {
        pending += decoder.decode(chunk, { stream: true });
        let nl = pending.indexOf('\n');
        while (nl !== -1) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          nl = pending.indexOf('\n');
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
            const file = matchText(confiner.display(real), text, req.regex, req.maxResults + 1 - matches.length, lines);
            matches.push(...file);
            if (matches.length > req.maxResults) {
              truncated = true;
              stop('done');
              break outer;
            }
          }
        }
      }
      const code = await proc.exited;
      if (stopped !== null && stopped !== 'done') return { matches: matches.slice(0, req.maxResults), truncated: true, error: stopped };
      // 0: matches, 1: none; 2 with results means some files could not be read, which the built-in engine skips too.
      if (code === 2 && matches.length === 0) {
        const why = (await stderr).trim().slice(0, MAX_STDERR_CHARS);
        if (/regex|parse error/i.test(why)) return { matches: [], truncated: false, error: `ripgrep rejected the pattern: ${why}` };
      }
      return { matches: matches.slice(0, req.maxResults), truncated, error: null };
    } finally {
      clearTimeout(timer);
      req.signal.removeEventListener('abort', onAbort);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
  };
}
