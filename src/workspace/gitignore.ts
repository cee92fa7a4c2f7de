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
  glob: Glob;
  negate: boolean;
  dirOnly: boolean;
  /** A pattern without a slash matches a name at any depth: it is tried on the path's last segment alone. */
  basename: boolean;
  /** Its wildcards (`*`, `**`): what a match of it costs, per character of the path. */
  runs: number;
}

/** What a rule is matched against: the whole path, or its last segment. */
function subject(rule: Rule, path: string): string {
  return rule.basename ? path.slice(path.lastIndexOf('/') + 1) : path;
}

/**
 * One step of a compiled glob: a literal character, `?` (any character but
 * the separator), a class, `*` (any run without a separator), a trailing
 * `**` (any run at all), or a leading or middle `**` (nothing, or any run
 * that ends with a separator).
 */
type Step =
  | { kind: 'char'; char: string }
  | { kind: 'one' }
  | { kind: 'class'; test: RegExp; source: string }
  | { kind: 'star' }
  | { kind: 'all' }
  | { kind: 'dirs' };

/**
 * Globs with at most this many runs (`*`, `**`) and steps are matched by a
 * regex: one run backtracks at most once per character of the path for each
 * step after it. Two already backtrack quadratically: 10 000 rules of
 * `*a*b` took half a second for one name of 250 "a"s.
 */
const MAX_REGEX_RUNS = 1;
const MAX_REGEX_STEPS = 16;

/**
 * Work one match of a path against the .gitignore rules in force may do,
 * counted in positions visited (the matcher's) or characters of the subject
 * (a regex's test), about 10 ms at most. A client can write .gitignore
 * files, and each entry of a listing or search is matched on the event loop
 * every client shares: 10 000 rules of 32 wildcards held it 1.6 s for one
 * name. A real file of 1500 rules needs some 25 000 for a path of 600
 * characters: most of its rules lack a literal the path holds.
 */
export const MAX_MATCH_WORK = 500_000;

/**
 * What the .gitignore matching of one listing or search may spend, on
 * average per entry (MAX_MATCH_WORK bounds one entry): a start of a hundred
 * costly entries' worth, and 50 000 units more per entry matched — twice
 * what a real file of 1500 rules needs per path (each rule tried costs
 * TEST_WORK at least), a tenth of what one entry may cost. Without it, a
 * directory of names every costly rule had to be tried on (20 000 of them,
 * and a .gitignore of 2000 rules of 32 wildcards) held one listing on the
 * event loop for 96 s.
 */
const ALLOWANCE_START = 100 * MAX_MATCH_WORK;
const ALLOWANCE_PER_ENTRY = 50_000;
/**
 * And at most this much in all, a thousand costly entries' worth (15-40 s of
 * one core, depending on the machine): names of just under the average,
 * hundreds of thousands of them, kept three listings of one client matching
 * until their 60-s deadline, and every other client's file tools waited
 * behind them. A real file of 1500 rules still covers 20 000 entries, a small
 * one half a million.
 */
const ALLOWANCE_MAX = 1000 * MAX_MATCH_WORK;

/** One call's .gitignore matching allowance (see ALLOWANCE_START): spent once its entries cost more than their share. */
export class MatchAllowance {
  private left = ALLOWANCE_START;
  private total = 0;

  /** Counts one entry's match of `work` units. */
  charge(work: number): void {
    this.left += ALLOWANCE_PER_ENTRY - work;
    this.total += work;
  }

  get spent(): boolean {
    return this.left < 0 || this.total > ALLOWANCE_MAX;
  }
}

/** The longest literal searched for in a path before a rule is tried (`includes`): longer ones by their start. */
const MAX_SEARCHED_LITERAL = 16;

/** What trying one rule costs before it visits anything, in the same units (measured: some sixteen positions' worth). */
const TEST_WORK = 16;

/** Thrown by a match that has used up its work: the stack then gives no verdict. */
class OverBudget extends Error {}
const OVER_BUDGET = new OverBudget();

/** What is left of one match's work. */
interface MatchBudget {
  left: number;
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

function stepSource(step: Step): string {
  switch (step.kind) {
    case 'char':
      return escapeRe(step.char);
    case 'one':
      return '[^/]';
    case 'class':
      return step.source;
    case 'star':
      return '[^/]*';
    case 'all':
      return '[^]*';
    case 'dirs':
      return '(?:[^]*/)?';
  }
}

/**
 * A glob matched by stepping every reachable position at once (a Thompson
 * simulation): each character of the path costs at most one visit per
 * position still alive, whatever the glob and the path. A backtracking regex
 * of the same glob does not: a .gitignore line such as `*a*a*a*a*a*a*a*a*b`
 * against a name of 200 "a"s takes it longer than the age of the universe,
 * and the matcher runs on the server's event loop, for patterns any client
 * can write. Only the live positions are visited, so a long literal line
 * costs no more than its first mismatch.
 */
class Glob {
  /** Generation at which each position was last reached: a set cleared by counting up. */
  private readonly seen: Uint32Array;
  private gen = 0;

  /** The same glob as a regex, when it has too few runs to backtrack much: the engine's native matching is the faster. */
  private readonly regex: RegExp | null;

  /**
   * The literal characters the glob starts and ends with, and the runs of
   * them between its wildcards: a path that lacks one cannot match, and is
   * refused by the engine's native string search, for little work. Most
   * rules of a large file are refused so for most paths.
   */
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly inner: readonly string[];

  constructor(private readonly steps: readonly Step[]) {
    this.seen = new Uint32Array(steps.length + 1);
    const literals = literalRuns(steps);
    const allLiteral = steps.every((s) => s.kind === 'char');
    this.prefix = steps[0]?.kind === 'char' ? literals.shift()! : '';
    this.suffix = steps.at(-1)?.kind === 'char' && !allLiteral ? literals.pop()! : '';
    this.inner = literals.map((literal) => literal.slice(0, MAX_SEARCHED_LITERAL));
    const runs = steps.filter((s) => s.kind === 'star' || s.kind === 'all' || s.kind === 'dirs').length;
    this.regex = runs <= MAX_REGEX_RUNS && steps.length <= MAX_REGEX_STEPS ? new RegExp(`^${steps.map(stepSource).join('')}$`, 'u') : null;
  }

  /** Adds position `i` to `into`, with the positions after it that steps matching nothing lead to. */
  private reach(into: number[], i: number): void {
    for (;;) {
      if (this.seen[i] === this.gen) return;
      this.seen[i] = this.gen;
      into.push(i);
      const kind = this.steps[i]?.kind;
      if (kind !== 'star' && kind !== 'all' && kind !== 'dirs') return;
      i++;
    }
  }

  private nextGeneration(): void {
    if (++this.gen === 0xffffffff) {
      this.seen.fill(0);
      this.gen = 1;
    }
  }

  /** Whether the glob matches `path`; throws OVER_BUDGET once `budget` is spent (none: unbounded). */
  test(path: string, budget?: MatchBudget): boolean {
    // Every test costs a little, the quickest refusal too: 16 files of 10 000 rules each are a lot of them.
    if (budget !== undefined && (budget.left -= TEST_WORK) < 0) throw OVER_BUDGET;
    if (!path.startsWith(this.prefix) || !path.endsWith(this.suffix)) return false;
    for (const literal of this.inner) {
      // The engine's search can cost the path's length times the literal's (a periodic path, a literal that almost
      // fits at every place): a literal's first 16 characters are as good a test, and cost 16 times the path at most.
      if (budget !== undefined && (budget.left -= path.length) < 0) throw OVER_BUDGET;
      if (!path.includes(literal)) return false;
    }
    if (this.regex !== null) {
      if (budget !== undefined && (budget.left -= path.length) < 0) throw OVER_BUDGET;
      return this.regex.test(path);
    }
    const steps = this.steps;
    this.nextGeneration();
    let live: number[] = [];
    this.reach(live, 0);
    for (const ch of path) {
      if (budget !== undefined && (budget.left -= live.length) < 0) throw OVER_BUDGET;
      this.nextGeneration();
      const next: number[] = [];
      const sep = ch === '/';
      for (const i of live) {
        const step = steps[i];
        if (step === undefined) continue;
        switch (step.kind) {
          case 'char':
            if (ch === step.char) this.reach(next, i + 1);
            break;
          case 'one':
            if (!sep) this.reach(next, i + 1);
            break;
          case 'class':
            if (!sep && step.test.test(ch)) this.reach(next, i + 1);
            break;
          case 'star':
            if (!sep) this.reach(next, i);
            break;
          case 'all':
            this.reach(next, i);
            break;
          case 'dirs':
            this.reach(next, i);
            if (sep) this.reach(next, i + 1);
            break;
        }
      }
      if (next.length === 0) return false;
      live = next;
    }
    return live.includes(steps.length);
  }
}

/** The glob's runs of literal characters, in order (a glob of literals alone is one run). */
function literalRuns(steps: readonly Step[]): string[] {
  const runs: string[] = [];
  let run = '';
  for (const step of steps) {
    if (step.kind === 'char') run += step.char;
    else {
      if (run !== '') runs.push(run);
      run = '';
    }
  }
  if (run !== '') runs.push(run);
  return runs;
}

/** One path segment of a glob (no `/` in it) as steps. */
function segmentSteps(text: string, out: Step[]): void {
  // By code points, as paths are matched: a character past U+FFFF is one step, not two halves.
  const seg = Array.from(text);
  // Where the next `]` at or after each place is (seg.length for none): looked for from every `[` of a line of
  // thousands of unclosed ones, the scan cost the square of the line (100 000 of them: 10 s of the event loop).
  const closeAt = new Int32Array(seg.length + 2).fill(seg.length);
  for (let k = seg.length - 1; k >= 0; k--) closeAt[k] = seg[k] === ']' ? k : closeAt[k + 1]!;
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '\\' && i + 1 < seg.length) out.push({ kind: 'char', char: seg[++i]! });
    else if (c === '*') {
      while (seg[i + 1] === '*') i++;
      out.push({ kind: 'star' });
    } else if (c === '?') out.push({ kind: 'one' });
    else if (c === '[') {
      let j = i + 1;
      if (seg[j] === '!' || seg[j] === '^') j++;
      if (seg[j] === ']') j++;
      j = closeAt[Math.min(j, seg.length)]!;
      if (j >= seg.length) {
        out.push({ kind: 'char', char: '[' });
        continue;
      }
      let body = seg.slice(i + 1, j).join('');
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      body = body.replace(/\\/g, '\\\\').replace(/\[/g, '\\[').replace(/]/g, '\\]');
      // A one-character test: no backtracking is possible. The separator is refused by the matcher.
      const source = negated ? `[^/${body}]` : `[${body}]`;
      out.push({ kind: 'class', test: new RegExp(`^${source}$`, 'u'), source });
      i = j;
    } else out.push({ kind: 'char', char: c });
  }
}

/** A glob of slash-separated segments as steps; `**` spans directories. */
function globSteps(glob: string, out: Step[]): void {
  const segments = glob.split('/');
  let needSlash = false;
  segments.forEach((seg, i) => {
    // `**/**/` spans what one `**/` spans: one run, not a run per repeat for the matcher to keep alive.
    if (seg === '**' && i > 0 && segments[i - 1] === '**' && i < segments.length - 1) return;
    if (seg === '**') {
      if (needSlash) out.push({ kind: 'char', char: '/' });
      out.push({ kind: i === segments.length - 1 ? 'all' : 'dirs' });
      needSlash = false;
      return;
    }
    if (needSlash) out.push({ kind: 'char', char: '/' });
    segmentSteps(seg, out);
    needSlash = true;
  });
}

/** The longest line taken as a rule. */
export const MAX_RULE_CHARS = 4096;

/** Compiles one gitignore line; null for blanks and comments. */
export function compileRule(line: string): Rule | null {
  let text = line.replace(/\r$/, '');
  // Trailing spaces are dropped unless escaped with a backslash.
  while (text.endsWith(' ') && !text.endsWith('\\ ')) text = text.slice(0, -1);
  if (text === '' || text.startsWith('#')) return null;
  // No path is longer (PATH_MAX): a longer pattern matches nothing a walk meets, and costs its compile all the same.
  if (text.length > MAX_RULE_CHARS) throw new Error(`pattern of ${text.length} characters; at most ${MAX_RULE_CHARS} are accepted`);
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
  // Unanchored, the pattern holds no slash, so `(any directories/)pattern` can only match with the
  // pattern on the last segment: matching that alone is the same answer with one run less, on a shorter subject.
  const steps: Step[] = [];
  globSteps(text, steps);
  const runs = steps.filter((s) => s.kind === 'star' || s.kind === 'all' || s.kind === 'dirs').length;
  if (runs > MAX_RUNS) throw new Error(`pattern '${line.slice(0, 100)}' has ${runs} wildcards; at most ${MAX_RUNS} are accepted`);
  return { glob: new Glob(steps), negate, dirOnly, basename: !anchored, runs };
}

/**
 * Most wildcards (`*`, `**`) in one pattern. Each keeps a position of the
 * linear matcher alive along the path, so its cost grows with their number
 * times the path's length: a 1000-character glob of 110 repeats of a globstar and two stars took
 * 0.4 s of the event loop for one deep file's ancestors.
 */
export const MAX_RUNS = 32;

/**
 * Rules of one file that count, lines that fail to compile among them;
 * later lines are not read. Every rule is compiled and tried on every walked
 * path on the server's event loop, and a
 * client can write a .gitignore: 100 000 rules took 0.25 s to compile and
 * ~27 ms per path, so a listing stalled every other client. Real files hold
 * hundreds.
 */
export const MAX_RULES = 10_000;

/**
 * Rules one listing or search compiles in all, over every .gitignore it
 * reads; the files met after that count as none. A compiled rule takes a few
 * KiB of the server's memory, and a walk holds every file it read until it
 * ends: a client's 30 planted files of 10 000 rules each took one search of
 * another client's to 2.4 GB.
 */
export const MAX_RULES_PER_WALK = 10_000;

/** What is left of MAX_RULES_PER_WALK for one walk. */
export class RuleBudget {
  left = MAX_RULES_PER_WALK;
}

/**
 * Each line's rule (null for a blank, a comment or a line that cannot be
 * compiled), up to MAX_RULES lines that are not blank or comments.
 */
function* ruleLines(text: string, budget: RuleBudget = new RuleBudget()): Generator<Rule | null> {
  let tried = 0;
  for (const line of text.split('\n')) {
    if (budget.left <= 0) return;
    let rule: Rule | null;
    try {
      rule = compileRule(line);
    } catch {
      // A line that cannot be compiled (a bad class, too many wildcards) counts as no rule; the others still apply.
      // It cost its compile all the same: a megabyte of them was 170 000 failed compiles on every listing.
      yield null;
      budget.left--;
      if (++tried === MAX_RULES) return;
      continue;
    }
    if (rule === null) continue;
    yield rule;
    budget.left--;
    if (++tried === MAX_RULES) return;
  }
}

/** The rules of one .gitignore file, which lives in directory `base` ('' for the root). */
export class IgnoreFile {
  private readonly rules: Rule[];

  /** The file's rules from its text, compiled at once (see compile for a file a client may have written). */
  constructor(
    readonly base: string,
    text: string | Rule[],
  ) {
    if (typeof text !== 'string') {
      this.rules = text;
      return;
    }
    this.rules = [];
    const lines = ruleLines(text);
    for (let next = lines.next(); !next.done; next = lines.next()) if (next.value !== null) this.rules.push(next.value);
  }

  /**
   * The same, giving other requests their turn every `sliceMs`: a megabyte
   * of rules takes up to a few hundred milliseconds to compile, and a walk
   * compiles each .gitignore it meets on the event loop every client shares.
   */
  static async compile(base: string, text: string, budget?: RuleBudget, sliceMs = 5): Promise<IgnoreFile> {
    const rules: Rule[] = [];
    let start = performance.now();
    const lines = ruleLines(text, budget);
    for (let next = lines.next(); !next.done; next = lines.next()) {
      if (next.value !== null) rules.push(next.value);
      if (performance.now() - start > sliceMs) {
        await new Promise((resolve) => setImmediate(resolve));
        start = performance.now();
      }
    }
    return new IgnoreFile(base, rules);
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** The last matching rule's verdict for `rel` (relative to the root), or null; throws OVER_BUDGET once `budget` is spent. */
  match(rel: string, isDir: boolean, budget?: MatchBudget): IgnoreMatch {
    let path = rel;
    if (this.base !== '') {
      if (!rel.startsWith(`${this.base}/`)) return null;
      path = rel.slice(this.base.length + 1);
    }
    for (let i = this.rules.length - 1; i >= 0; i--) {
      const rule = this.rules[i]!;
      if (rule.dirOnly && !isDir) continue;
      if (rule.glob.test(subject(rule, path), budget)) return rule.negate ? 'whitelist' : 'ignore';
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

  /**
   * The verdict of the deepest file with a matching rule, or null. A match
   * that would take more than MAX_MATCH_WORK gives null too, as if no rule
   * matched: the entry is listed rather than the event loop held. The work
   * is charged to `allowance`, which the caller looks at.
   */
  match(rel: string, isDir: boolean, allowance?: MatchAllowance): IgnoreMatch {
    const budget = { left: MAX_MATCH_WORK };
    try {
      for (let s: IgnoreStack | null = this; s !== null; s = s.parent) {
        const m = s.file?.match(rel, isDir, budget) ?? null;
        if (m !== null) return m;
      }
    } catch (err) {
      if (err !== OVER_BUDGET) throw err;
    } finally {
      allowance?.charge(MAX_MATCH_WORK - Math.max(budget.left, 0));
    }
    return null;
  }
}

/** Most globs the alternations of one `--glob` stand for: `{a,b}/{c,d}` is four. */
const MAX_ALTERNATIVES = 256;
/** Most characters of the globs one `--glob` stands for, together: the longest glob search_files takes. */
export const MAX_GLOB_CHARS = 1000;

/**
 * The globs the `{a,b}` alternations of a `--glob` stand for, as ripgrep
 * reads them: an alternative is any glob, `\{` and a `{` inside a class
 * (`[{]`) are literal, alternations do not nest, and an unclosed `{` is an
 * error. .gitignore files have no alternations: git reads braces literally.
 */
function expandAlternations(glob: string): string[] {
  let globs = [''];
  const append = (text: string) => {
    globs = globs.map((g) => g + text);
  };
  let i = 0;
  while (i < glob.length) {
    const c = glob[i]!;
    const literal = literalAt(glob, i);
    if (literal > i) {
      append(glob.slice(i, literal));
      i = literal;
    } else if (c === '{') {
      const alternatives: string[] = [];
      let current = '';
      let j = i + 1;
      for (;;) {
        if (j >= glob.length) throw new Error(`glob '${glob}' has a '{' that is never closed`);
        const d = glob[j]!;
        const inner = literalAt(glob, j);
        if (inner > j) {
          current += glob.slice(j, inner);
          j = inner;
        } else if (d === '{') throw new Error(`glob '${glob}' nests alternations ('{' inside '{…}'), which are not supported`);
        else if (d === ',' || d === '}') {
          alternatives.push(current);
          current = '';
          j++;
          if (d === '}') break;
        } else {
          current += d;
          j++;
        }
      }
      if (globs.length * alternatives.length > MAX_ALTERNATIVES) throw new Error(`glob '${glob}' stands for more than ${MAX_ALTERNATIVES} globs`);
      globs = globs.flatMap((g) => alternatives.map((a) => g + a));
      i = j;
    } else {
      append(c);
      i++;
    }
  }
  return globs;
}

/** Where an escape (`\x`) or a closed class (`[…]`, within a path segment) that starts at `i` ends; `i` when none does. */
function literalAt(glob: string, i: number): number {
  if (glob[i] === '\\' && i + 1 < glob.length) return i + 2;
  if (glob[i] !== '[') return i;
  // As segmentSteps reads a class: `!` or `^` first, then a `]` first is a member.
  let j = i + 1;
  if (glob[j] === '!' || glob[j] === '^') j++;
  if (glob[j] === ']') j++;
  const close = glob.indexOf(']', j);
  const slash = glob.indexOf('/', i);
  return close === -1 || (slash !== -1 && slash < close) ? i : close + 1;
}

/**
 * A ripgrep-style `--glob` filter: a plain glob selects files (directories are
 * still walked), a glob starting with `!` excludes. It is matched against the
 * path relative to the root and, like ripgrep's, wins over .gitignore and
 * hidden-file rules.
 */
export class GlobFilter {
  /** One rule per glob its alternations stand for; a path matches when any of them does. */
  private readonly rules: Rule[];
  readonly exclude: boolean;

  constructor(glob: string) {
    this.exclude = glob.startsWith('!');
    const body = this.exclude ? glob.slice(1) : glob;
    const expanded = expandAlternations(body);
    // As ripgrep reads it: a slash anywhere but at the end anchors the whole glob, every alternative with it
    // (`{src/a,b}` matches `b` at the root only).
    const anchored = body.replace(/\/+$/, '').includes('/');
    this.rules = expanded
      // A leading `!` or `#` of an alternative (or of the glob after its own `!`) is a character to ripgrep, where
      // the .gitignore reading would make it a negation or a comment.
      .map((g) => compileRule(/^[!#]/.test(g) ? `\\${g}` : g))
      .filter((r): r is Rule => r !== null)
      .map((r) => (anchored ? { ...r, basename: false } : r));
    if (this.rules.length === 0) throw new Error(`glob '${glob}' is empty`);
    // Every entry of a walk is tried against each glob the alternations stand for: together they get the wildcards
    // and the length one glob may have, or 32 alternatives of a 1000-character glob cost 32 times what one may (a
    // search of 900 long names held the event loop 46 s).
    const runs = this.rules.reduce((sum, r) => sum + r.runs, 0);
    if (runs > MAX_RUNS) throw new Error(`glob '${glob.slice(0, 100)}' has ${runs} wildcards over its alternatives; at most ${MAX_RUNS} are accepted`);
    const chars = expanded.reduce((sum, g) => sum + g.length, 0);
    if (chars > MAX_GLOB_CHARS) throw new Error(`glob '${glob.slice(0, 100)}' stands for ${chars} characters of globs over its alternatives; at most ${MAX_GLOB_CHARS} are accepted`);
  }

  /** 'whitelist' (take it), 'ignore' (drop it), or null (no opinion). */
  match(rel: string, isDir: boolean): IgnoreMatch {
    const hit = this.rules.some((rule) => (!rule.dirOnly || isDir) && rule.glob.test(subject(rule, rel)));
    if (hit) return this.exclude ? 'ignore' : 'whitelist';
    return !this.exclude && !isDir ? 'ignore' : null;
  }
}
