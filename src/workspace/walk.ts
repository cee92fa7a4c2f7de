/**
 * Walking a confined directory tree for listing and searching. Symlinks are
 * reported, never followed; every directory is opened through open.ts and
 * confined again before it is read, so a directory swapped for a link
 * mid-walk is skipped instead of leaving the workspace. Entries come in
 * byte order of their names — the order ripgrep's `--sort path` uses — either
 * depth-first (search) or breadth-first (listing, so a cap cuts the deepest
 * levels first). A walk whose caller takes a bounded number of entries reads
 * each directory's names as a stream and keeps only as many of the smallest
 * accepted ones as can still be taken: a directory of a million names costs
 * time, not memory.
 */
import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { Confiner } from './confine.ts';
import { readDirents } from './dir-names.ts';
import { IgnoreFile, type IgnoreMatch, IgnoreStack, MatchAllowance, RuleBudget } from './gitignore.ts';
import { type OpenedDir, openDirectory, openFileForRead, readChecked } from './open.ts';

export type EntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface WalkEntry {
  name: string;
  /** Path relative to the root the walk is in (the workspace, or an allowed path). */
  rel: string;
  real: string;
  type: EntryType;
  size: number;
  nlink: number;
  /** Depth below the start: 1 for its direct children. */
  depth: number;
  /** Verdict of the .gitignore files in force (null when not asked or no rule matched). */
  ignore: IgnoreMatch;
}

/** What a directory's listing tells of an entry before it is lstat-ed: enough to accept or skip it. */
export type EntryFacts = Pick<WalkEntry, 'name' | 'rel' | 'type' | 'depth' | 'ignore'>;

export interface WalkOptions {
  order: 'depth-first' | 'breadth-first';
  maxDepth: number;
  /** Read .gitignore files (the start's ancestors up to the root, and every walked directory). */
  gitignore: boolean;
  /** Whether to yield an entry and, for a directory, walk into it; decided from the name-level facts alone. */
  accept(entry: EntryFacts): boolean;
  /**
   * The most entries the caller takes: the walk ends after yielding this many,
   * and reads no directory's entries past those it can still yield.
   */
  limit?: number;
  /** Whether to walk into an accepted directory (default: yes, within maxDepth). */
  descend?(entry: WalkEntry): boolean;
  /**
   * Leave out names that are not valid UTF-8 (default: list them, lossily
   * spelt, with their own type and size): a caller that opens what it walks
   * would open the file their spelling names, another one or none.
   */
  skipUndecodable?: boolean;
  /** Ends the walk (WalkStopped 'cancelled') once aborted: the caller's client went away. */
  signal?: AbortSignal;
  /** Ends the walk (WalkStopped 'deadline') past this `performance.now()`. */
  deadline?: number;
}

/**
 * Why a walk ended before its entries did: its signal, its deadline, or its
 * .gitignore matching allowance (MatchAllowance) spent. Thrown from the walk;
 * what it yielded before stands.
 */
export class WalkStopped extends Error {
  constructor(readonly reason: 'cancelled' | 'deadline' | 'gitignore') {
    super(`walk stopped: ${reason}`);
    this.name = 'WalkStopped';
  }
}

/**
 * Byte order of UTF-8 names, as ripgrep sorts them, without encoding them: a
 * directory of 100 000 names sorted through Buffer.from took 0.8 s of the
 * event loop. UTF-16 code units already sort as UTF-8 bytes do, except that
 * surrogates (characters past U+FFFF) sort below U+E000–U+FFFF in UTF-16 and
 * above them in UTF-8; moving the surrogates to the top of the range fixes that.
 */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x < 0xe000 ? x + 0x2000 : x - 0x800;
      y = y < 0xe000 ? y + 0x2000 : y - 0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** Names in byte order; the engine's own sort (UTF-16 order, the same unless a name has a character from U+D800 up) when it can. */
export function sortNames(names: string[]): string[] {
  return names.some((n) => /[\ud800-\uffff]/.test(n)) ? names.sort(compareNames) : names.sort();
}

/**
 * Names sorted in one go, at most: a larger directory is sorted a run at a
 * time and merged, the event loop served between (150 000 names sharing a
 * 240-character prefix took 1.46 s sorted whole).
 */
const SORT_RUN = 512;

/** Names in byte order, as sortNames gives them, in slices (SORT_RUN). */
async function sortNamesInSlices(names: string[], slicer: Slicer): Promise<string[]> {
  if (names.length <= SORT_RUN) return sortNames(names);
  let runs: string[][] = [];
  for (let i = 0; i < names.length; i += SORT_RUN) {
    runs.push(sortNames(names.slice(i, i + SORT_RUN)));
    await slicer.maybeYield();
  }
  while (runs.length > 1) {
    const merged: string[][] = [];
    for (let i = 0; i < runs.length; i += 2) merged.push(i + 1 < runs.length ? await mergeNames(runs[i]!, runs[i + 1]!, slicer) : runs[i]!);
    runs = merged;
  }
  return runs[0]!;
}

async function mergeNames(a: string[], b: string[], slicer: Slicer): Promise<string[]> {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    out.push(compareNames(a[i]!, b[j]!) <= 0 ? a[i++]! : b[j++]!);
    if ((out.length & 255) === 0) await slicer.maybeYield();
  }
  for (; i < a.length; i++) out.push(a[i]!);
  for (; j < b.length; j++) out.push(b[j]!);
  return out;
}

/** Longest run of .gitignore matching before the walk lets the event loop serve others. */
const MATCH_SLICE_MS = 10;

const MAX_GITIGNORE_BYTES = 1024 * 1024;

/** Reads `<dir>/.gitignore` when it is a confined regular file; anything else counts as none. */
async function readIgnoreFile(confiner: Confiner, dirReal: string, base: string, budget: RuleBudget): Promise<IgnoreFile | null> {
  if (budget.left <= 0) return null;
  try {
    const opened = await openFileForRead(confiner, join(dirReal, '.gitignore'));
    try {
      if (opened.stat.size > MAX_GITIGNORE_BYTES) return null;
      return await IgnoreFile.compile(base, new TextDecoder().decode(await readChecked(opened.handle, opened.stat.size)), budget);
    } finally {
      await opened.handle.close();
    }
  } catch {
    return null;
  }
}

/** The .gitignore stack in force in `dirReal`: every directory from its root down to it. */
export async function ignoreStackFor(confiner: Confiner, dirReal: string, budget = new RuleBudget()): Promise<IgnoreStack> {
  return new IgnoreStackCache(confiner, budget).get(dirReal);
}

/** ignoreStackFor for many directories of one tree, each .gitignore read once. */
export class IgnoreStackCache {
  private readonly stacks = new Map<string, Promise<IgnoreStack>>();

  constructor(
    private readonly confiner: Confiner,
    private readonly budget = new RuleBudget(),
  ) {}

  get(dirReal: string): Promise<IgnoreStack> {
    let stack = this.stacks.get(dirReal);
    if (stack === undefined) {
      const root = this.confiner.rootOf(dirReal);
      const rel = relative(root, dirReal);
      const parent = rel === '' ? Promise.resolve(IgnoreStack.EMPTY) : this.get(dirname(dirReal));
      stack = parent.then(async (p) => p.push(await readIgnoreFile(this.confiner, dirReal, rel, this.budget)));
      this.stacks.set(dirReal, stack);
    }
    return stack;
  }
}

interface Frontier {
  real: string;
  depth: number;
  stack: IgnoreStack;
}

function typeOf(st: Stats): EntryType {
  return st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'other';
}

/**
 * Lets the event loop serve other requests when the current run has lasted a
 * slice, and ends the walk when its caller went away or its time is up.
 */
class Slicer {
  private start = performance.now();
  constructor(private readonly walk: WalkState) {}
  async maybeYield(): Promise<void> {
    const now = performance.now();
    if (this.walk.signal?.aborted) throw new WalkStopped('cancelled');
    if (now > this.walk.deadline) throw new WalkStopped('deadline');
    if (now - this.start > MATCH_SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      this.start = performance.now();
    }
  }
}

/** An entry's .gitignore verdict, charged to `allowance`; throws WalkStopped('gitignore') once that is spent. */
export function chargedMatch(stack: IgnoreStack, rel: string, isDir: boolean, allowance: MatchAllowance): IgnoreMatch {
  const verdict = stack.match(rel, isDir, allowance);
  if (allowance.spent) throw new WalkStopped('gitignore');
  return verdict;
}

/** Reads one directory's entries, sorted, at most `take` of the accepted ones, with metadata taken through its open descriptor. */
async function readEntries(confiner: Confiner, dir: Frontier, opts: WalkOptions, walk: WalkState): Promise<{ entries: WalkEntry[]; stack: IgnoreStack }> {
  const take = walk.limit - walk.yielded;
  let opened: OpenedDir;
  try {
    opened = await openDirectory(confiner, dir.real, dir.real);
  } catch {
    return { entries: [], stack: dir.stack };
  }
  const root = confiner.rootOf(opened.real);
  let stack = dir.stack;
  try {
    if (opts.gitignore && dir.depth > 0) stack = dir.stack.push(await readIgnoreFile(confiner, opened.real, relative(root, opened.real), walk.rules));
    const listed = { opened, root, depth: dir.depth + 1, stack };
    const entries = take === Number.POSITIVE_INFINITY ? await readAllEntries(listed, opts, walk) : await readSmallestAccepted(listed, opts, take, walk);
    return { entries, stack };
  } finally {
    await opened.handle.close();
  }
}

interface ListedDir {
  opened: OpenedDir;
  root: string;
  /** Depth of the directory's entries. */
  depth: number;
  stack: IgnoreStack;
}

/** Every entry, lstat-ed; the caller's accept runs afterwards. */
async function readAllEntries({ opened, root, depth, stack }: ListedDir, { gitignore, skipUndecodable }: WalkOptions, walk: WalkState): Promise<WalkEntry[]> {
  const entries: WalkEntry[] = [];
  // Each looked at by its bytes: a name that is not UTF-8 decodes to a spelling that names another file or none. Sorted
  // as strings (Buffer.compare over 100 000 names took five times as long); names that decode alike, by their bytes.
  const bytesOf = new Map<string, Buffer[]>();
  const slicer = new Slicer(walk);
  // Read a batch at a time, the event loop served between: a directory of 150 000 names read whole held it.
  for await (const batch of readDirents(opened.handle.fd, opened.path)) {
    for (let i = 0; i < batch.length; i++) {
      await slicer.maybeYield();
      if (skipUndecodable && !batch.isUtf8(i)) continue;
      const name = batch.name(i);
      const same = bytesOf.get(name);
      if (same === undefined) bytesOf.set(name, [batch.bytes(i)]);
      else same.push(batch.bytes(i));
    }
  }
  const named: Array<{ name: string; bytes: Buffer }> = [];
  for (const name of await sortNamesInSlices([...bytesOf.keys()], slicer)) {
    for (const bytes of bytesOf.get(name)!.sort(Buffer.compare)) named.push({ name, bytes });
    await slicer.maybeYield();
  }
  for (let at = 0; at < named.length; at += LSTAT_BATCH) {
    await slicer.maybeYield();
    const some = named.slice(at, at + LSTAT_BATCH);
    const stats = await lstatAll(opened.path, some);
    some.forEach(({ name }, i) => {
      const st = stats[i];
      if (st === null || st === undefined) return;
      const real = join(opened.real, name);
      entries.push({ name, rel: relative(root, real), real, type: typeOf(st), size: st.size, nlink: st.nlink, depth, ignore: null });
    });
  }
  if (gitignore) {
    for (const e of entries) {
      e.ignore = chargedMatch(stack, e.rel, e.type === 'directory', walk.allowance);
      // A .gitignore can hold a megabyte of rules, each tried on every entry: give other requests their turn.
      await slicer.maybeYield();
    }
  }
  return entries;
}

/**
 * The `take` smallest accepted entries, in byte order. The entries stream
 * past (dir-names.ts); each is judged from what the directory says of it (its
 * type, or lstat's when the filesystem gives none), only the smallest
 * accepted are kept, in a heap, and only those are lstat-ed. A name past the
 * kept ones is skipped by its bytes, undecoded, once one accepted name past
 * them is known. An entry that vanished or changed type in between (and is no
 * longer accepted) leaves a gap; the directory is then read again for the
 * names after the last one kept.
 */
async function readSmallestAccepted({ opened, root, depth, stack }: ListedDir, opts: WalkOptions, take: number, walk: WalkState): Promise<WalkEntry[]> {
  const dirRel = relative(root, opened.real);
  const facts = (name: string, type: EntryType): EntryFacts => {
    const rel = dirRel === '' ? name : `${dirRel}/${name}`;
    return { name, rel, type, depth, ignore: opts.gitignore ? chargedMatch(stack, rel, type === 'directory', walk.allowance) : null };
  };
  const entries: WalkEntry[] = [];
  let after: Buffer | null = null;
  while (entries.length < take) {
    const heap = new SmallestNames(take - entries.length);
    let more = false;
    const slicer = new Slicer(walk);
    for await (const batch of readDirents(opened.handle.fd, opened.path)) {
      for (let i = 0; i < batch.length; i++) {
        if (after !== null && batch.compare(i, after) <= 0) continue;
        const beyond = heap.full && batch.compare(i, heap.top) >= 0;
        // Past the kept ones only whether an accepted entry lies there matters, and once one does, nothing more.
        if (beyond && more) continue;
        if (opts.skipUndecodable && !batch.isUtf8(i)) continue;
        const name = batch.name(i);
        const listed = batch.type(i);
        const type = listed === 'unknown' ? await lstatType(opened.path, batch.bytes(i)) : listed;
        if (type !== null && opts.accept(facts(name, type))) {
          if (beyond) more = true;
          else if (heap.add(batch.bytes(i), name)) more = true;
        }
        await slicer.maybeYield();
      }
    }
    const kept = heap.sorted();
    const stats = await lstatAll(opened.path, kept);
    for (const [i, { name }] of kept.entries()) {
      const st = stats[i];
      if (st === null || st === undefined) continue;
      // Its type may have changed since the directory was read (a directory swapped for a symlink): judged again.
      const f = facts(name, typeOf(st));
      if (!opts.accept(f)) continue;
      entries.push({ ...f, real: join(opened.real, name), size: st.size, nlink: st.nlink });
    }
    if (!more) break;
    after = kept.at(-1)!.bytes;
  }
  return entries;
}

/**
 * An entry's path from its name's bytes: a name that is not valid UTF-8
 * decodes with U+FFFD in it, and that spelling names no file (or another
 * one, really named so).
 */
function entryPath(dirPath: string, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${dirPath}/`), name]);
}

/**
 * Names lstat-ed at once, LSTAT_BATCH at a time (null: gone): one wait per
 * batch, not per name. A walk waits once per turn of the event loop, and
 * while another client's walk takes its slices every wait of this one sat
 * behind them: an 800-file listing took seconds.
 */
const LSTAT_BATCH = 64;

async function lstatAll(dirPath: string, names: ReadonlyArray<{ bytes: Buffer }>): Promise<Array<Stats | null>> {
  const stats: Array<Stats | null> = [];
  for (let at = 0; at < names.length; at += LSTAT_BATCH) {
    stats.push(...(await Promise.all(names.slice(at, at + LSTAT_BATCH).map(({ bytes }) => lstat(entryPath(dirPath, bytes)).catch(() => null)))));
  }
  return stats;
}

async function lstatType(dirPath: string, name: Buffer): Promise<EntryType | null> {
  const st = await lstat(entryPath(dirPath, name)).catch(() => null);
  return st === null ? null : typeOf(st);
}

interface KeptName {
  bytes: Buffer;
  name: string;
}

/** At most `size` names, the smallest in byte order seen so far: a max-heap on their UTF-8 bytes. */
class SmallestNames {
  private readonly h: KeptName[] = [];

  constructor(private readonly size: number) {}

  get full(): boolean {
    return this.h.length >= this.size;
  }

  /** The largest name kept (only when full). */
  get top(): Buffer {
    return this.h[0]!.bytes;
  }

  /** Keeps a name smaller than the top (or any while not full); true when that pushed a kept name out. */
  add(bytes: Buffer, name: string): boolean {
    const h = this.h;
    if (!this.full) {
      h.push({ bytes, name });
      for (let i = h.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1;
        if (Buffer.compare(h[parent]!.bytes, h[i]!.bytes) >= 0) break;
        [h[parent], h[i]] = [h[i]!, h[parent]!];
        i = parent;
      }
      return false;
    }
    h[0] = { bytes, name };
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let largest = i;
      if (l < h.length && Buffer.compare(h[l]!.bytes, h[largest]!.bytes) > 0) largest = l;
      if (r < h.length && Buffer.compare(h[r]!.bytes, h[largest]!.bytes) > 0) largest = r;
      if (largest === i) return true;
      [h[largest], h[i]] = [h[i]!, h[largest]!];
      i = largest;
    }
  }

  sorted(): KeptName[] {
    return [...this.h].sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  }
}

/**
 * Yields the entries below the confined directory `startReal`.
 * @example for await (const e of walk(confiner, real, { order: 'depth-first', maxDepth: 64, gitignore: true, accept: () => true })) …
 */
export async function* walk(confiner: Confiner, startReal: string, opts: WalkOptions): AsyncGenerator<WalkEntry> {
  // The start's own .gitignore is part of its ancestors' stack, read once here.
  const rules = new RuleBudget();
  const stack = opts.gitignore ? await ignoreStackFor(confiner, startReal, rules) : IgnoreStack.EMPTY;
  const start: Frontier = { real: startReal, depth: 0, stack };
  const state: WalkState = {
    yielded: 0,
    limit: opts.limit ?? Number.POSITIVE_INFINITY,
    rules,
    allowance: new MatchAllowance(),
    signal: opts.signal,
    deadline: opts.deadline ?? Number.POSITIVE_INFINITY,
  };
  if (state.limit <= 0) return;
  if (opts.order === 'depth-first') {
    yield* depthFirst(confiner, start, opts, state);
    return;
  }
  const queue: Frontier[] = [start];
  while (queue.length > 0) {
    const dir = queue.shift()!;
    const { entries, stack: here } = await readEntries(confiner, dir, opts, state);
    const slicer = new Slicer(state);
    for (const entry of entries) {
      // accept may match a glob on every entry (search_files): other requests get their turn between long runs.
      await slicer.maybeYield();
      if (!opts.accept(entry)) continue;
      yield entry;
      if (++state.yielded >= state.limit) return;
      if (entry.type === 'directory' && entry.depth < opts.maxDepth && (opts.descend?.(entry) ?? true)) queue.push({ real: entry.real, depth: entry.depth, stack: here });
    }
  }
}

interface WalkState {
  yielded: number;
  limit: number;
  /** What is left of the rules this walk may compile. */
  rules: RuleBudget;
  /** What is left of the work its .gitignore matching may do. */
  allowance: MatchAllowance;
  signal: AbortSignal | undefined;
  deadline: number;
}

async function* depthFirst(confiner: Confiner, dir: Frontier, opts: WalkOptions, state: WalkState): AsyncGenerator<WalkEntry> {
  const { entries, stack } = await readEntries(confiner, dir, opts, state);
  const slicer = new Slicer(state);
  for (const entry of entries) {
    if (state.yielded >= state.limit) return;
    await slicer.maybeYield();
    if (!opts.accept(entry)) continue;
    yield entry;
    state.yielded++;
    if (entry.type === 'directory' && entry.depth < opts.maxDepth && (opts.descend?.(entry) ?? true)) {
      yield* depthFirst(confiner, { real: entry.real, depth: entry.depth, stack }, opts, state);
    }
  }
}
