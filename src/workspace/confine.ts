/**
 * Path confinement shared by the exec module (workingDirectory) and the file
 * tools. A path is accepted only if, after `realpath` resolves every symlink,
 * it lies inside the workspace or an allowed path, compared by whole path
 * segments — so `/workspace-evil` is not inside `/workspace`.
 */
import { realpathSync, statSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve, sep } from 'node:path';

export class PathRefusedError extends Error {
  constructor(
    message: string,
    readonly requested: string,
  ) {
    super(message);
    this.name = 'PathRefusedError';
  }
}

/** True when `child` equals `root` or lies below it, by path segments. */
export function isWithin(root: string, child: string): boolean {
  if (child === root) return true;
  const prefix = root.endsWith(sep) ? root : root + sep;
  return child.startsWith(prefix);
}

export class Confiner {
  /** Real (symlink-free) roots; the first is the workspace. */
  readonly roots: readonly string[];

  constructor(workspace: string, allowedPaths: readonly string[] = []) {
    const ws = realpathSync(workspace);
    if (!statSync(ws).isDirectory()) throw new Error(`workspace ${workspace} is not a directory`);
    const extra: string[] = [];
    for (const p of allowedPaths) {
      try {
        extra.push(realpathSync(p));
      } catch {
        // A missing allowed path grants nothing; it is not an error at start-up.
      }
    }
    this.roots = [ws, ...extra];
  }

  get workspace(): string {
    return this.roots[0]!;
  }

  /** Rejects input that must never reach the filesystem. */
  private check(input: string): void {
    if (input.includes('\0')) throw new PathRefusedError('path contains a NUL byte', input);
    if (input.length > 4096) throw new PathRefusedError('path is longer than 4096 characters', input);
  }

  private absolute(input: string): string {
    return isAbsolute(input) ? resolve(input) : resolve(this.workspace, input);
  }

  private within(real: string): boolean {
    return this.roots.some((root) => isWithin(root, real));
  }

  private outside(input: string): PathRefusedError {
    return new PathRefusedError(
      `path '${input}' is outside the workspace (${this.workspace})${this.roots.length > 1 ? ' and the allowed paths' : ''}`,
      input,
    );
  }

  /** Resolves an existing path (symlinks followed) and confines it. */
  async resolveExisting(input: string): Promise<string> {
    this.check(input);
    let real: string;
    try {
      real = await realpath(this.absolute(input));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        // Say "outside" before "missing" so a probe learns nothing about paths outside.
        const nearest = await this.resolveNearestParent(this.absolute(input));
        if (!this.within(nearest)) throw this.outside(input);
        throw new PathRefusedError(`path '${input}' does not exist`, input);
      }
      throw new PathRefusedError(`path '${input}' cannot be resolved (${code ?? 'error'})`, input);
    }
    if (!this.within(real)) throw this.outside(input);
    return real;
  }

  /** Resolves a directory for a command's working directory; defaults to the workspace. */
  async resolveDirectory(input: string | undefined): Promise<string> {
    if (input === undefined || input === '') return this.workspace;
    const real = await this.resolveExisting(input);
    const st = await stat(real);
    if (!st.isDirectory()) throw new PathRefusedError(`path '${input}' is not a directory`, input);
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
    this.check(input);
    const abs = this.absolute(input);
    const real = await this.resolveNearestParent(abs);
    if (!this.within(real)) throw this.outside(input);
    return real;
  }
}
