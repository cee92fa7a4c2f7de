/**
 * A .gitignore matcher of our own (no dependency): the pattern rules of
 * gitignore(5) — comments, `!` negation, trailing `/` for directories only,
 * patterns with a slash anchored to their file's directory, `*`, `?`, `[...]`,
 * and `**` — and git's precedence: a deeper .gitignore beats a shallower one,
 * a later line beats an earlier one. ripgrep follows the same rules, which is
 * what lets the search tool give the same answer with and without it.
 * Paths are slash-separated and relative to one root (the workspace).
 */

export type IgnoreMatch = 'ignore' | 'whitelist' | null;

interface Rule {
  re: RegExp;
  negate: boolean;
  dirOnly: boolean;
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

/** One path segment of a glob (no `/` in it) as a regex source. */
function segmentSource(seg: string): string {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '\\' && i + 1 < seg.length) out += escapeRe(seg[++i]!);
    else if (c === '*') {
      while (seg[i + 1] === '*') i++;
      out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      let j = i + 1;
      if (seg[j] === '!' || seg[j] === '^') j++;
      if (seg[j] === ']') j++;
      while (j < seg.length && seg[j] !== ']') j++;
      if (j >= seg.length) {
        out += '\\[';
        continue;
      }
      let body = seg.slice(i + 1, j);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      body = body.replace(/\\/g, '\\\\').replace(/\[/g, '\\[').replace(/]/g, '\\]');
      // A class never matches the separator, negated or not.
      out += negated ? `[^/${body}]` : `[${body}]`;
      i = j;
    } else out += escapeRe(c);
  }
  return out;
}

/** A glob of slash-separated segments as an anchored regex source; `**` spans directories. */
function globSource(glob: string): string {
  const segments = glob.split('/');
  let out = '';
  let needSlash = false;
  segments.forEach((seg, i) => {
    if (seg === '**') {
      if (i === segments.length - 1) out += needSlash ? '/.*' : '.*';
      else {
        out += needSlash ? '/(?:.*/)?' : '(?:.*/)?';
        needSlash = false;
      }
      return;
    }
    if (needSlash) out += '/';
    out += segmentSource(seg);
    needSlash = true;
  });
  return out;
}

/** Compiles one gitignore line; null for blanks and comments. */
export function compileRule(line: string): Rule | null {
  let text = line.replace(/\r$/, '');
  // Trailing spaces are dropped unless escaped with a backslash.
  while (text.endsWith(' ') && !text.endsWith('\\ ')) text = text.slice(0, -1);
  if (text === '' || text.startsWith('#')) return null;
  let negate = false;
  if (text.startsWith('!')) {
    negate = true;
    text = text.slice(1);
  }
  let dirOnly = false;
  if (text.endsWith('/') && !text.endsWith('\\/')) {
    dirOnly = true;
    text = text.replace(/\/+$/, '');
  }
  if (text === '') return null;
  // A slash at the start or in the middle anchors the pattern to its file's directory.
  const anchored = text.includes('/');
  if (text.startsWith('/')) text = text.slice(1);
  const source = (anchored ? '' : '(?:.*/)?') + globSource(text);
  return { re: new RegExp(`^(?:${source})$`), negate, dirOnly };
}

/** The rules of one .gitignore file, which lives in directory `base` ('' for the root). */
export class IgnoreFile {
  private readonly rules: Rule[];

  constructor(
    readonly base: string,
    text: string,
  ) {
    this.rules = text.split('\n').flatMap((l) => compileRule(l) ?? []);
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** The last matching rule's verdict for `rel` (relative to the root), or null. */
  match(rel: string, isDir: boolean): IgnoreMatch {
    let path = rel;
    if (this.base !== '') {
      if (!rel.startsWith(`${this.base}/`)) return null;
      path = rel.slice(this.base.length + 1);
    }
    for (let i = this.rules.length - 1; i >= 0; i--) {
      const rule = this.rules[i]!;
      if (rule.dirOnly && !isDir) continue;
      if (rule.re.test(path)) return rule.negate ? 'whitelist' : 'ignore';
    }
    return null;
  }
}

/** The .gitignore files in force in one directory: its own and its ancestors', deepest first. */
export class IgnoreStack {
  static readonly EMPTY = new IgnoreStack(null, null);

  private constructor(
    private readonly parent: IgnoreStack | null,
    private readonly file: IgnoreFile | null,
  ) {}

  /** The stack for a subdirectory that has `file` (or no .gitignore). */
  push(file: IgnoreFile | null): IgnoreStack {
    return file === null || file.empty ? this : new IgnoreStack(this, file);
  }

  match(rel: string, isDir: boolean): IgnoreMatch {
    for (let s: IgnoreStack | null = this; s !== null; s = s.parent) {
      const m = s.file?.match(rel, isDir) ?? null;
      if (m !== null) return m;
    }
    return null;
  }
}

/**
 * A ripgrep-style `--glob` filter: a plain glob selects files (directories are
 * still walked), a glob starting with `!` excludes. It is matched against the
 * path relative to the root and, like ripgrep's, wins over .gitignore and
 * hidden-file rules.
 */
export class GlobFilter {
  private readonly rule: Rule;
  readonly exclude: boolean;

  constructor(glob: string) {
    this.exclude = glob.startsWith('!');
    const rule = compileRule(this.exclude ? glob.slice(1) : glob);
    if (rule === null) throw new Error(`glob '${glob}' is empty`);
    this.rule = rule;
  }

  /** 'whitelist' (take it), 'ignore' (drop it), or null (no opinion). */
  match(rel: string, isDir: boolean): IgnoreMatch {
    const hit = (!this.rule.dirOnly || isDir) && this.rule.re.test(rel);
    if (hit) return this.exclude ? 'ignore' : 'whitelist';
    return !this.exclude && !isDir ? 'ignore' : null;
  }
}
