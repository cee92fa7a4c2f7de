/**
 * Path confinement shared by the exec module (workingDirectory) and the file
 * tools. A path is accepted only if, after `realpath` resolves every symlink,
 * it lies inside the workspace or an allowed path, compared by whole path
 * segments — so `/workspace-evil` is not inside `/workspace`. This module
 * decides on paths; `open.ts` and `atomic-write.ts` re-check what was really
 * opened, because a path can change between this check and its use.
 * The server's own files (keys file, config, audit log) are never inside,
 * wherever they lie: the file tools run in the server, outside any sandbox.
 */
import { lstatSync, readlinkSync, realpathSync, type Stats, statSync } from 'node:fs';
import { lstat, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { isWithin } from '../util/path-within.ts';

/** Why a path was refused; lets callers tell "missing" from "not allowed" without parsing messages. */
export type RefusalKind = 'invalid' | 'outside' | 'missing' | 'type' | 'symlink' | 'hardlink' | 'exists' | 'changed' | 'too-large' | 'binary';

export class PathRefusedError extends Error {
  constructor(
    message: string,
    readonly requested: string,
    readonly kind: RefusalKind = 'invalid',
  ) {
    super(message);
    this.name = 'PathRefusedError';
  }
}

/** Bound on symlink hops, as the kernel's own (MAXSYMLINKS). */
const MAX_HOPS = 40;

/** A path's components, without empty and "." ones. */
function parts(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}

/**
 * /proc holds magic links (`/proc/self/root`, `/proc/self/cwd`, `/proc/<pid>/fd/N`)
 * whose targets realpath reports as ordinary paths — `/proc/self/root/ws/x`
 * resolves to `/ws/x` — so a path through it is refused on its spelling,
 * before anything resolves it.
 */
function throughProc(abs: string): boolean {
  return isWithin('/proc', abs);
}

/** Where a file is or would be created: its realpath, else its parent's realpath joined with its name. */
function realOrPlanned(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    try {
      return join(realpathSync(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}

/** What resolving a granted path one link at a time found. */
type Walked = { real: string } | { planted: string } | { unresolved: true };

/**
 * Resolves `path` one link at a time, as the kernel does, and looks at every
 * link met on the way, those reached through another link's target too. One
 * that lies in a granted directory (a root) and leads out of it is
 * `planted`: commands may write in a root, so one could have renamed a
 * directory above the workspace and put a link to anywhere in its place, and
 * a start that followed it would grant wherever it leads. A link that stays
 * within its root grants nothing new. Where a link leads is judged by this
 * same walk once it has resolved the link's target, never by a second
 * resolution that a swap in between could answer differently.
 */
function walkGranted(path: string, roots: readonly string[], direct: ReadonlySet<string>): Walked {
  type Step = string | { link: string; root: string; also: readonly string[] };
  let real = '/';
  const rest: Step[] = parts(resolve(path)).reverse();
  let hops = 0;
  while (rest.length > 0) {
    const step = rest.pop()!;
    if (typeof step !== 'string') {
      // The link's target is resolved: it must have stayed in the link's root, or in another that holds the link and
      // was granted by its own name.
      if (!isWithin(step.root, real) && !step.also.some((r) => isWithin(r, real))) return { planted: `the link ${step.link}, in the granted directory ${step.root}, leading to ${real}` };
      continue;
    }
    if (step === '..') {
      real = dirname(real);
      continue;
    }
    const next = real === '/' ? `/${step}` : `${real}/${step}`;
    let link: string | null;
    try {
      link = lstatSync(next).isSymbolicLink() ? readlinkSync(next) : null;
    } catch {
      return { unresolved: true };
    }
    if (link === null) {
      real = next;
      continue;
    }
    if (++hops > MAX_HOPS) return { unresolved: true };
    // Judged by the innermost root holding it, or one granted by its own name: a root whose real path a planted link
    // made (the workspace swapped for a link to `/`) holds everything, and would let that same link, or another, through.
    const holding = roots.filter((r) => isWithin(r, real));
    const root = holding.reduce<string | undefined>((inner, r) => (inner === undefined || r.length > inner.length ? r : inner), undefined);
    if (root !== undefined) rest.push({ link: next, root, also: holding.filter((r) => r !== root && direct.has(r)) });
    if (isAbsolute(link)) real = '/';
    rest.push(...parts(link).reverse());
  }
  return { real };
}

export class Confiner {
  /** Real (symlink-free) roots; the first is the workspace. */
  readonly roots: readonly string[];
  /** The roots given through a link, each with where it leads now (what is granted): said at start. */
  readonly throughLinks: ReadonlyArray<{ what: string; path: string; real: string }>;
  /**
   * The server's own files, as written and as resolved. Kept out of every
   * root: a client allowed only file tools could otherwise read other
   * clients' keys, or write the keys file (re-read at once) and grant itself
   * every tool, or change the settings the next start reads.
   */
  private readonly ownFiles: ReadonlySet<string>;

  /** @param ownFiles the server's keys file, config files and audit log files: refused like a path outside. */
  constructor(workspace: string, allowedPaths: readonly string[] = [], ownFiles: readonly string[] = []) {
    this.ownFiles = new Set(ownFiles.flatMap((f) => [resolve(f), realOrPlanned(f)]));
    const ws = realpathSync(workspace);
    if (!statSync(ws).isDirectory()) throw new Error(`workspace ${workspace} is not a directory`);
    const granted: Array<[what: string, path: string, real: string]> = [['workspace', workspace, ws]];
    for (const p of allowedPaths) {
      try {
        const real = realpathSync(p);
        // An allowed path inside /proc would re-open every magic-link escape.
        if (!throughProc(real)) granted.push(['allowed path', p, real]);
      } catch {
        // A missing allowed path grants nothing; it is not an error at start-up.
      }
    }
    this.roots = granted.map(([, , real]) => real);
    this.throughLinks = granted.filter(([, path, real]) => resolve(path) !== real).map(([what, path, real]) => ({ what, path, real }));
    // Roots granted by their own name, no link on the way: no planted link can have made them.
    const direct = new Set(granted.filter(([, path, real]) => resolve(path) === real).map(([, , real]) => real));
    for (const [what, path, real] of granted) {
      const walked = walkGranted(path, this.roots, direct);
      if ('planted' in walked) {
        throw new Error(
          `the ${what} ${path} is reached through ${walked.planted}: commands may write there, so one may have put that link in place of a directory; give the real path if that is where it should lead`,
        );
      }
      // Resolved twice, apart: a directory and a link swapped between the two would grant what the walk never saw.
      if (!('real' in walked) || walked.real !== real) throw new Error(`the ${what} ${path} changed while the server started (it led to ${real}); start again`);
    }
  }

  get workspace(): string {
    return this.roots[0]!;
  }

  /** Rejects input that must never reach the filesystem; returns its absolute form. */
  checkInput(input: string): string {
    if (input.includes('\0')) throw new PathRefusedError('path contains a NUL byte', input);
    if (input.length > 4096) throw new PathRefusedError('path is longer than 4096 characters', input);
    const abs = isAbsolute(input) ? resolve(input) : resolve(this.workspace, input);
    if (throughProc(abs)) throw new PathRefusedError(`path '${input}' is inside /proc, which is never served`, input, 'outside');
    return abs;
  }

  /** True when a real (symlink-free) path lies inside a root. */
  contains(real: string): boolean {
    return !throughProc(real) && !this.ownFiles.has(real) && this.roots.some((root) => isWithin(root, real));
  }

  /** How a confined real path is shown to clients: relative to the workspace, else absolute. */
  display(real: string): string {
    return isWithin(this.workspace, real) ? relative(this.workspace, real) || '.' : real;
  }

  /** The root a confined real path lies in. */
  rootOf(real: string): string {
    return this.roots.find((root) => isWithin(root, real)) ?? this.workspace;
  }

  outside(input: string): PathRefusedError {
    return new PathRefusedError(
      `path '${input}' is outside the workspace (${this.workspace})${this.roots.length > 1 ? ' and the allowed paths' : ''}`,
      input,
      'outside',
    );
  }

  /** Resolves an existing path (symlinks followed) and confines it. */
  async resolveExisting(input: string): Promise<string> {
    const abs = this.checkInput(input);
    let real: string;
    try {
      real = await realpath(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        // Say "outside" before "missing", judged by where the path leads, so a
        // probe learns nothing about paths outside — not even through a dangling
        // symlink, whose target's existence would otherwise decide the answer.
        if (!this.contains(await this.locate(abs, input))) throw this.outside(input);
        throw new PathRefusedError(`path '${input}' does not exist`, input, 'missing');
      }
      if (code === 'ELOOP') throw new PathRefusedError(`path '${input}' has a symlink loop`, input);
      throw new PathRefusedError(`path '${input}' cannot be resolved (${code ?? 'error'})`, input);
    }
    if (!this.contains(real)) throw this.outside(input);
    // `resolve` drops a trailing slash, which the kernel reads as "a directory": `a.txt/` is not `a.txt`.
    if (/\/\.?$/.test(input)) {
      // Gone since realpath saw it: missing, as a path that never was.
      const st = await stat(real).catch(() => null);
      if (st === null) throw new PathRefusedError(`path '${input}' does not exist`, input, 'missing');
      if (!st.isDirectory()) throw new PathRefusedError(`path '${input}' ends with '/' but is not a directory`, input, 'type');
    }
    return real;
  }

  /**
   * Where an absolute path leads although some of it does not exist: each
   * existing component resolved as the kernel would, symlinks followed —
   * a dangling one too, to its target — and the missing rest appended as
   * spelled. So a symlink pointing outside is outside whether or not its
   * target exists.
   */
  async locate(abs: string, input: string): Promise<string> {
    const todo = parts(abs);
    // Symlink-free so far, so a ".." from a target can be taken lexically.
    let at = '/';
    let exists = true;
    let hops = 0;
    while (todo.length > 0) {
      const part = todo.shift()!;
      if (part === '..') {
        at = dirname(at);
        continue;
      }
      const next = at === '/' ? `/${part}` : `${at}/${part}`;
      const st: Stats | null = exists ? await lstat(next).catch(() => null) : null;
      const target: string | null = st?.isSymbolicLink() ? await readlink(next).catch(() => null) : null;
      if (target === null) {
        exists &&= st !== null;
        at = next;
        continue;
      }
      if (++hops > MAX_HOPS) throw new PathRefusedError(`path '${input}' has a symlink loop`, input);
      todo.unshift(...parts(target));
      if (target.startsWith('/')) at = '/';
    }
    return at;
  }

  /** Resolves a directory for a command's working directory; defaults to the workspace. */
  async resolveDirectory(input: string | undefined): Promise<string> {
    if (input === undefined || input === '') return this.workspace;
    const real = await this.resolveExisting(input);
    const st = await stat(real);
    if (!st.isDirectory()) throw new PathRefusedError(`path '${input}' is not a directory`, input, 'type');
    return real;
  }

  /**
   * Real path of the nearest existing ancestor of `abs` joined with the
   * remaining, not-yet-existing segments: how a path that does not exist yet
   * will resolve once created.
   */
  async resolveNearestParent(abs: string): Promise<string> {
    const missing: string[] = [];
    let cur = abs;
    for (;;) {
      try {
        const real = await realpath(cur);
        return missing.length ? resolve(real, ...missing.reverse()) : real;
      } catch {
        const parent = dirname(cur);
        if (parent === cur) return abs;
        missing.push(cur.slice(parent.length).replace(/^\/+/, ''));
        cur = parent;
      }
    }
  }

  /** Confines a path that may not exist yet (for creation). */
  async resolveForCreate(input: string): Promise<string> {
    const abs = this.checkInput(input);
    // A link to a place outside is outside whether or not that place exists (atomic-write.ts says why).
    if (!this.contains(await this.locate(abs, input))) throw this.outside(input);
    const real = await this.resolveNearestParent(abs);
    if (!this.contains(real)) throw this.outside(input);
    return real;
  }
}
