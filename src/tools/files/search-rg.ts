/**
 * The ripgrep engine: runs `rg --json` with the flags that make its file
 * selection the built-in engine's — only .gitignore files (no .ignore,
 * global or .git/info/exclude rules), whether or not a git repository is
 * present, none above the start (ReportedFileCheck applies those), sorted
 * walk, no memory maps (so a NUL anywhere marks a binary), no BOM sniffing.
 * A file ripgrep flags as binary is dropped whole, as the built-in engine
 * skips it. Matches and their positions are ripgrep's: its engine runs in
 * linear time, and no pattern a client sent is run by JavaScript here, so no
 * pattern can stall the event loop. ripgrep only nominates, though: it opens
 * files by path, so a directory swapped for a symlink mid-search could make
 * it read outside; each nominated file is therefore read again through a
 * verified open, and a line is reported only when its bytes there are the
 * bytes ripgrep matched — its text and column then come from what this
 * process read. A search of one file does not let ripgrep open it at all: it
 * reads that file on its stdin, opened for it only once its inode is known
 * to be a regular file (exec/stdin-file.ts), since ripgrep's own open of a
 * FIFO renamed into the file's place would wake its writer and hold the
 * search until its deadline. In a directory ripgrep skips what its walk
 * lists as a FIFO. ripgrep gets an empty environment (no RIPGREP_CONFIG_PATH)
 * and runs through the spawner, sandboxed like any command of the same client.
 */
import { isUtf8 } from 'node:buffer';
import { join, relative } from 'node:path';
import type { Spawner } from '../../exec/spawner.ts';
import { lossyUtf8, mib } from './common.ts';
import { columnAtByte, displayText } from './search-lines.ts';
import { GITIGNORE_TOO_COSTLY, ReportedFileCheck, readSearchableBytes, type SearchEngine, type SearchMatch } from './search-shared.ts';
import { WalkStopped } from '../../workspace/walk.ts';

/** A search that runs longer is stopped; its partial result says so. */
const RG_TIMEOUT_MS = 60_000;
const MAX_STDERR_CHARS = 2000;
/**
 * Most ripgrep output read per search; past it the search reports itself
 * truncated. It reaches the server as base64 in one launcher message and is
 * parsed here, ~5× its size in memory at the peak: 32 MiB let three searches
 * of one client take +522 MiB. 8 MiB still holds 1000 matches of 8 KiB lines.
 */
const RG_MAX_OUTPUT_BYTES = 8 * 1024 * 1024;
/**
 * Data memory one ripgrep run may use (sandboxed), below HIDE_SANDBOX_MEMORY_BYTES when that is lower: a search
 * needs a few tens of MB, and a .gitignore linked to /dev/zero had ripgrep read it into 2.4 GB in 16 s.
 */
const RG_MEMORY_BYTES = 512 * 1024 * 1024;

/** ripgrep's JSON for a path or a line: `text` when it is valid UTF-8, else base64 `bytes`. */
type RgText = { text?: string; bytes?: string };

interface RgMatch {
  lines: RgText;
  line_number: number;
  /** Byte offsets on the line, in order; can be empty when ripgrep found the line but no span on it. */
  submatches: Array<{ start: number; end: number }>;
}

/** A line ripgrep matched: its number, its bytes without the "\n", and the byte offset of its first match. */
export interface Nominated {
  line: number;
  bytes: Buffer;
  start: number | null;
}

function bytesOf(t: RgText | undefined): Buffer {
  if (t?.text !== undefined) return Buffer.from(t.text, 'utf8');
  return Buffer.from(t?.bytes ?? '', 'base64');
}

function stripDot(path: string): string {
  return path.startsWith('./') ? path.slice(2) : path;
}

function nominate(m: RgMatch): Nominated {
  const bytes = bytesOf(m.lines);
  return {
    line: m.line_number,
    bytes: bytes.at(-1) === 0x0a ? bytes.subarray(0, -1) : bytes,
    start: m.submatches[0]?.start ?? null,
  };
}

/**
 * The nominated lines (in ascending order) that `file`, as read here, still
 * holds byte for byte, as matches: at most `limit`. A line that differs (the
 * file changed after ripgrep read it) is not reported.
 */
export function confirmLines(path: string, file: Uint8Array, nominated: readonly Nominated[], limit: number): SearchMatch[] {
  const out: SearchMatch[] = [];
  let lineNo = 1;
  let pos = 0;
  for (const n of nominated) {
    if (out.length >= limit) break;
    while (lineNo < n.line && pos < file.length) {
      const nl = file.indexOf(0x0a, pos);
      pos = nl === -1 ? file.length : nl + 1;
      lineNo++;
    }
    // A line exists only where a byte is left to start it.
    if (lineNo !== n.line || pos >= file.length) continue;
    const nl = file.indexOf(0x0a, pos);
    const line = file.subarray(pos, nl === -1 ? file.length : nl);
    if (Buffer.compare(line, n.bytes) !== 0) continue;
    // No span reported: the line matched, so its start is the one column known to be on it.
    const column = n.start === null ? 1 : columnAtByte(line, n.start);
    out.push({ path, line: n.line, column, text: displayText(lossyUtf8.decode(line)) });
  }
  return out;
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
    // One file comes on stdin (see ripgrepSearch); ripgrep treats it as it treats a file named on its command line.
    req.startIsFile ? '-' : relative(req.root, req.start) || '.',
  ];
}

export function ripgrepSearch(rgPath: string, spawner: Spawner): SearchEngine {
  return async (confiner, req) => {
    // The deadline covers ripgrep and the confirming of what it reports, which reads each file again (deep trees, many
    // files): a search whose client went away stops there too.
    const deadline = performance.now() + RG_TIMEOUT_MS;
    // Through the spawner like every command: sandboxed with the client's
    // confinement, in a process group the server kills on shutdown.
    const run = await spawner.run({
      owner: req.owner,
      argv: [rgPath, ...ripgrepArgs(req)],
      cwd: req.root,
      ...(req.startIsFile ? { stdinFile: req.start, stdinIdentity: req.startIdentity, stdinMaxBytes: req.maxFileBytes } : {}),
      env: {},
      timeoutMs: RG_TIMEOUT_MS,
      maxOutputBytes: RG_MAX_OUTPUT_BYTES,
      memoryBytes: RG_MEMORY_BYTES,
      // A .gitignore linked to /proc/self/fd/1 or /dev/stdout: a pipe reopened there waits for ripgrep's own output.
      outputSockets: true,
      signal: req.signal,
    });
    if (run.spawnError !== null) return { matches: [], truncated: false, error: `ripgrep could not run: ${run.spawnError}` };

    const matches: SearchMatch[] = [];
    const check = new ReportedFileCheck(confiner, req);
    let nominated: Nominated[] = [];
    let current: RgText | null = null;
    /** Confirms the lines nominated in the file ripgrep named `path`. */
    const settle = async (path: RgText) => {
      const named = bytesOf(path);
      // A path that is not UTF-8 is left out, as the built-in engine leaves it: decoded, it names another file or none.
      if (!req.startIsFile && !isUtf8(named)) return;
      // What ripgrep read on stdin is the start file.
      const real = req.startIsFile ? req.start : join(req.root, stripDot(named.toString('utf8')));
      const rel = relative(req.root, real);
      // ripgrep says where to look; what is reported is read again here through a verified open.
      const bytes = await readSearchableBytes(confiner, real, req.maxFileBytes);
      if (bytes === null || !(await check.passes(rel))) return;
      matches.push(...confirmLines(confiner.display(real), bytes, nominated, req.maxResults + 1 - matches.length));
    };
    const output = run.stdout.split('\n');
    // A capped output ends mid-line: that last piece is not a message.
    if (run.truncated) output.pop();
    let stopped: 'deadline' | 'cancelled' | 'gitignore' | null = null;
    /** settle; 'gitignore' when the .gitignore check stopped the search. */
    const settled = async (path: RgText): Promise<'gitignore' | null> => {
      try {
        await settle(path);
        return null;
      } catch (err) {
        if (!(err instanceof WalkStopped)) throw err;
        return 'gitignore';
      }
    };
    for (const line of output) {
      if (req.signal?.aborted) stopped = 'cancelled';
      else if (performance.now() > deadline) stopped = 'deadline';
      if (stopped !== null) break;
      if (line === '') continue;
      const msg = JSON.parse(line) as { type: string; data: Record<string, unknown> };
      if (msg.type === 'begin') {
        nominated = [];
        current = (msg.data as { path: RgText }).path;
      } else if (msg.type === 'match') nominated.push(nominate(msg.data as unknown as RgMatch));
      else if (msg.type === 'end') {
        const d = msg.data as { path: RgText; binary_offset: number | null };
        current = null;
        if (d.binary_offset !== null || nominated.length === 0) continue;
        stopped = await settled(d.path);
        if (stopped !== null || matches.length > req.maxResults) break;
      }
    }
    // The cap fell inside a file (lines with thousands of matches each make MiBs of JSON): its lines so far still count.
    if (stopped === null && run.truncated && current !== null && nominated.length > 0 && matches.length <= req.maxResults) stopped = await settled(current);
    const found = matches.slice(0, req.maxResults);
    const more = matches.length > req.maxResults;
    if (stopped === 'gitignore') return { matches: found, truncated: true, error: GITIGNORE_TOO_COSTLY };
    if (run.timedOut || stopped === 'deadline') return { matches: found, truncated: true, error: `search stopped after ${RG_TIMEOUT_MS / 1000} s` };
    if (run.cancelled || stopped === 'cancelled') return { matches: found, truncated: true, error: 'search cancelled' };
    if (run.truncated && !more) {
      return { matches: found, truncated: true, error: `ripgrep's output passed the ${mib(RG_MAX_OUTPUT_BYTES)} cap (long matching lines?); the search stopped there and later matches are missing` };
    }
    // Killed (its memory limit, the out-of-memory killer) or crashed: what it did not get to is no answer of "no
    // matches". A `.gitignore` linked to /dev/zero had ripgrep read until it died, and the search said it found nothing.
    if (run.exitCode > 2 || run.signal !== null) {
      const how = run.signal !== null ? `was killed by ${run.signal}` : `exited with status ${run.exitCode}`;
      const why = run.stderr.trim().slice(0, MAX_STDERR_CHARS);
      return { matches: found, truncated: true, error: `ripgrep ${how} before it finished; later matches are missing${why ? `: ${why}` : ''}`, died: true };
    }
    // 0: matches, 1: none; 2 with results means some files could not be read, which the built-in engine skips too.
    if (run.exitCode === 2 && matches.length === 0) {
      const why = run.stderr.trim().slice(0, MAX_STDERR_CHARS);
      // A pattern or glob ripgrep cannot read stops it before it searches: no answer of "no matches". Told by how
      // its message starts, not by a word in it: a file a client named `glob` or `regex` that cannot be read is
      // named in that stderr too.
      if (/^regex parse error/.test(why)) return { matches: [], truncated: false, error: `ripgrep rejected the pattern: ${why}` };
      if (req.glob !== null && /^error parsing glob/.test(why)) return { matches: [], truncated: false, error: `ripgrep rejected the glob: ${why}` };
    }
    return { matches: found, truncated: more, error: null };
  };
}
