/** The .gitignore matcher against the rules of gitignore(5). */
import { describe, expect, test } from 'bun:test';
import { GlobFilter, IgnoreFile, IgnoreStack, MatchAllowance, MAX_MATCH_WORK, MAX_RULE_CHARS, MAX_RULES, MAX_RUNS } from '../../src/workspace/gitignore.ts';

function verdicts(text: string, paths: Array<[string, boolean]>, base = ''): Array<string | null> {
  const f = new IgnoreFile(base, text);
  return paths.map(([p, dir]) => f.match(p, dir));
}

describe('IgnoreFile', () => {
  test('a name without a slash matches at any depth; comments and blanks are skipped', () => {
    expect(verdicts('# comment\n\n*.log\n', [['a.log', false], ['x/y/b.log', false], ['a.txt', false]])).toEqual(['ignore', 'ignore', null]);
  });

  test('a leading or middle slash anchors to the file\'s directory', () => {
    expect(verdicts('/build\ndoc/gen\n', [['build', true], ['sub/build', true], ['doc/gen', true], ['x/doc/gen', true]])).toEqual(['ignore', null, 'ignore', null]);
  });

  test('a trailing slash matches directories only', () => {
    expect(verdicts('out/\n', [['out', true], ['out', false], ['a/out', true]])).toEqual(['ignore', null, 'ignore']);
  });

  test('negation: the last matching line wins', () => {
    expect(verdicts('*.log\n!keep.log\n', [['a.log', false], ['keep.log', false]])).toEqual(['ignore', 'whitelist']);
    expect(verdicts('!keep.log\n*.log\n', [['keep.log', false]])).toEqual(['ignore']);
  });

  test('** forms, ?, classes, escapes and trailing spaces', () => {
    expect(
      verdicts('**/tmp\na/**/z\nlogs/**\nf?.txt\n[ab]x\n[!c]y\n\\#hash\n\\!bang\nsp\\ \ntrail   \n', [
        ['tmp', true],
        ['q/r/tmp', true],
        ['a/z', false],
        ['a/b/c/z', false],
        ['logs', true],
        ['logs/x/y', false],
        ['f1.txt', false],
        ['f12.txt', false],
        ['bx', false],
        ['cx', false],
        ['cy', false],
        ['dy', false],
        ['#hash', false],
        ['!bang', false],
        ['sp ', false],
        ['trail', false],
      ]),
    ).toEqual(['ignore', 'ignore', 'ignore', 'ignore', null, 'ignore', 'ignore', null, 'ignore', null, null, 'ignore', 'ignore', 'ignore', 'ignore', 'ignore']);
  });

  test('* and ? never cross a slash; a nested file only sees paths below it', () => {
    expect(verdicts('src/*.ts\n', [['src/a.ts', false], ['src/x/a.ts', false]])).toEqual(['ignore', null]);
    expect(verdicts('/gen\n', [['pkg/gen', true], ['gen', true], ['other/pkg/gen', true]], 'pkg')).toEqual(['ignore', null, null]);
  });
});

describe('hostile .gitignore files', () => {
  test('stars that a backtracking regex would try every split of match in linear time, with the same answers', () => {
    const f = new IgnoreFile('', `${'*a'.repeat(12)}*b\n**/**/**/**/**/**/x/y\n`);
    expect(f.match('a'.repeat(300), false)).toBeNull();
    expect(f.match(`${'a'.repeat(300)}b`, false)).toBe('ignore');
    expect(f.match(`${'a/'.repeat(500)}z`, false)).toBeNull();
    expect(f.match(`${'a/'.repeat(500)}x/y`, false)).toBe('ignore');
  });

  test('a character past U+FFFF is one character, for the regex and the linear matcher alike', () => {
    expect(verdicts('?.txt\n', [['\u{1F600}.txt', false]])).toEqual(['ignore']);
    expect(verdicts('*\u{1F600}*x*\n', [['a\u{1F600}bxc', false], ['abxc', false]])).toEqual(['ignore', null]);
  });

  test(`a pattern with more than ${MAX_RUNS} wildcards is refused as a glob and skipped as a .gitignore line; repeated **/ count once`, () => {
    const many = `${'*a'.repeat(MAX_RUNS + 1)}`;
    expect(() => new GlobFilter(many)).toThrow(`has ${MAX_RUNS + 1} wildcards; at most ${MAX_RUNS} are accepted`);
    expect(verdicts(`${many}\n*.log\n[z-a]\n`, [['x.log', false], ['aa', false]])).toEqual(['ignore', null]);
    const repeated = new GlobFilter(`${'**/'.repeat(200)}x`);
    expect([repeated.match('x', false), repeated.match('a/b/x', false), repeated.match('a/b/y', false)]).toEqual(['whitelist', 'whitelist', 'ignore']);
  });

  test(`only the first ${MAX_RULES} rules of a file count`, () => {
    const rules = Array.from({ length: MAX_RULES + 1 }, (_, i) => `f${i}`).join('\n');
    expect(verdicts(rules, [['f0', false], [`f${MAX_RULES - 1}`, false], [`f${MAX_RULES}`, false]])).toEqual(['ignore', 'ignore', null]);
  });
});

test(`a line longer than ${MAX_RULE_CHARS} characters is no rule; one of unclosed brackets is literal brackets`, () => {
  const long = 'a'.repeat(MAX_RULE_CHARS + 1);
  expect([verdicts(long, [[long, false]]), verdicts('a'.repeat(MAX_RULE_CHARS), [['a'.repeat(MAX_RULE_CHARS), false]])]).toEqual([[null], ['ignore']]);
  // Each `[` looked for its `]` to the end of the line: 100 000 of them took 10 s; now the next `]` of each place is known.
  const brackets = '['.repeat(MAX_RULE_CHARS);
  expect(verdicts(`${brackets}\nx[ab]y[`, [[brackets, false], ['xay[', false], ['xcy[', false]])).toEqual(['ignore', 'ignore', null]);
});

test('IgnoreFile.compile gives other work its turn as it goes, and the same rules', async () => {
  const text = Array.from({ length: 2000 }, (_, i) => `*.e${i}`).join('\n');
  let turns = 0;
  let running = true;
  const spin = () => {
    if (!running) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  const compiled = await IgnoreFile.compile('', text, undefined, 0);
  running = false;
  expect(turns).toBeGreaterThan(100);
  expect(['a.e5', 'a.e1999', 'a.x'].map((p) => compiled.match(p, false))).toEqual(['ignore', 'ignore', null]);
});

describe('a call\'s matching allowance', () => {
  const spentAfter = (work: number, most: number) => {
    const a = new MatchAllowance();
    for (let n = 1; n <= most; n++) {
      a.charge(work);
      if (a.spent) return n;
    }
    return null;
  };
  test('is spent by entries that each cost the most a match may do, after about a hundred of them', () => {
    expect(spentAfter(MAX_MATCH_WORK, 1000)).toBe(112);
  });
  test('is spent by a total of a thousand costly entries\' worth, however little over its share each entry costs', () => {
    // Under the 50 000 an entry may cost on average, each of them: only the total stops them.
    expect(spentAfter(40_000, 100_000)).toBe(12_501);
  });
  test('covers a real large file over twenty thousand entries, and a small one over half a million', () => {
    expect(spentAfter(25_000, 20_000)).toBeNull();
    expect(spentAfter(1000, 500_000)).toBeNull();
  });
});

describe('IgnoreStack', () => {
  test(`a match that would do more than ${MAX_MATCH_WORK} steps of work gives no verdict; a short name under the same rules gets its own`, () => {
    // Tried last to first: 10 000 rules of 32 wildcards that never match, then `*.ts`. A name of 250 "a"s, then "b",
    // "c" and ".ts", holds every literal of the rules, in another order: it keeps every wildcard of every rule alive
    // to its end (seconds of work, unbounded); "index.ts" lacks "a" and "c", and is refused by each at once.
    const rules = ['*.ts', ...Array.from({ length: MAX_RULES - 1 }, () => `${'*a'.repeat(MAX_RUNS - 3)}*c*b*`)].join('\n');
    const nested = IgnoreStack.EMPTY.push(new IgnoreFile('', rules)).push(new IgnoreFile('d', rules));
    expect([nested.match(`d/${'a'.repeat(250)}bc.ts`, false), nested.match('d/index.ts', false), nested.match('index.ts', false)]).toEqual([null, 'ignore', 'ignore']);
  });

  test('a literal searched for in a periodic path is charged for the path: 10 000 such rules give no verdict rather than seconds', () => {
    // The engine's substring search over "a/a/a/…" for a 500-character slice of it with one character changed
    // costs about the product of the two lengths; 10 000 of them held the loop for a second per entry.
    const path = `${Array(1000).fill('a').join('/')}/x`;
    const literal = `${path.slice(0, 25)}b${path.slice(26, 500)}`;
    const rules = ['x', ...Array.from({ length: MAX_RULES - 1 }, () => `*${literal}*`)].join('\n');
    expect(IgnoreStack.EMPTY.push(new IgnoreFile('', rules)).match(path, false)).toBeNull();
    expect(IgnoreStack.EMPTY.push(new IgnoreFile('', rules)).match('x', false)).toBe('ignore');
  });

  test('a line that fails to compile counts toward the rules of its file: a megabyte of them is not compiled on every listing', () => {
    const rules = [...Array.from({ length: MAX_RULES }, () => '[z-a]'), '*.log'].join('\n');
    expect(IgnoreStack.EMPTY.push(new IgnoreFile('', rules)).match('a.log', false)).toBeNull();
    expect(IgnoreStack.EMPTY.push(new IgnoreFile('', ['[z-a]', '*.log'].join('\n'))).match('a.log', false)).toBe('ignore');
  });

  test('a large real-world file matches long paths within the work it may do', () => {
    const rules: string[] = [];
    for (let i = 0; i < 300; i++) rules.push(`*.ext${i}`, `build${i}/`, `**/node_modules${i}`, `src/**/gen${i}/*.ts`, `name${i}.txt`);
    const stack = IgnoreStack.EMPTY.push(new IgnoreFile('', rules.join('\n')));
    const deep = `src/${Array.from({ length: 20 }, (_, i) => `folder-with-a-long-name-${i}`).join('/')}`;
    expect([
      stack.match(`${deep}/gen299/file.ts`, false),
      stack.match(`${deep}/node_modules7/x.js`, false),
      stack.match(`${deep}/gen0/file.ts`, false),
      stack.match(`${deep}/${'x'.repeat(200)}.ext150`, false),
      stack.match(`${deep}/${'x'.repeat(200)}.js`, false),
    ]).toEqual(['ignore', null, 'ignore', 'ignore', null]);
    expect(stack.match(`${deep}/node_modules7`, true)).toBe('ignore');
  });

  test('a deeper .gitignore beats a shallower one', () => {
    const stack = IgnoreStack.EMPTY.push(new IgnoreFile('', '*.log\n')).push(new IgnoreFile('logs', '!keep.log\n'));
    expect(stack.match('logs/keep.log', false)).toBe('whitelist');
    expect(stack.match('logs/other.log', false)).toBe('ignore');
    expect(stack.match('x.txt', false)).toBeNull();
  });
});

describe('GlobFilter (ripgrep --glob semantics)', () => {
  test('a plain glob selects files and leaves directories alone; ! excludes', () => {
    const only = new GlobFilter('*.ts');
    expect([only.match('a.ts', false), only.match('a.js', false), only.match('src', true)]).toEqual(['whitelist', 'ignore', null]);
    const not = new GlobFilter('!dist/**');
    expect([not.match('dist/a.js', false), not.match('src/a.js', false), not.match('src', true)]).toEqual(['ignore', null, null]);
  });

  test('alternations: {a,b} stands for either glob, in any part; escaped or in a class a brace is literal', () => {
    const files = ['a.ts', 'a.js', 'a.css', 'src/x.ts', 'lib/x.ts', 'test/x.ts', '{a}.ts', 'b{.ts'];
    const selected = (glob: string) => files.filter((f) => new GlobFilter(glob).match(f, false) === 'whitelist');
    expect({
      ext: selected('*.{ts,js}'),
      dirs: selected('{src,lib}/*.ts'),
      empty: selected('a.{ts,}'),
      escaped: selected('\\{a}.ts'),
      bang: selected('{!a,b}{.ts,.js}'),
      inClass: selected('b[{].ts'),
      excluded: files.filter((f) => new GlobFilter('!*.{ts,js}').match(f, false) === 'ignore'),
    }).toEqual({
      ext: ['a.ts', 'a.js', 'src/x.ts', 'lib/x.ts', 'test/x.ts', '{a}.ts', 'b{.ts'],
      dirs: ['src/x.ts', 'lib/x.ts'],
      empty: ['a.ts'],
      escaped: ['{a}.ts'],
      // A leading `!` inside the braces is a character, not a negation: no file is named `!a.ts`.
      bang: [],
      inClass: ['b{.ts'],
      excluded: ['a.ts', 'a.js', 'src/x.ts', 'lib/x.ts', 'test/x.ts', '{a}.ts', 'b{.ts'],
    });
  });

  test('an unclosed or nested alternation, or one standing for too many globs, is refused with a reason', () => {
    const refusal = (glob: string) => {
      try {
        new GlobFilter(glob);
        return null;
      } catch (err) {
        return (err as Error).message;
      }
    };
    const wide = `{${Array.from({ length: 17 }, (_, i) => `*${i}*`).join(',')}}`;
    expect([refusal('*.{ts'), refusal('{a,{b,c}}'), refusal('{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b}'), refusal(wide), refusal('src/**/*.{ts,tsx,js,jsx,mjs,cjs}')]).toEqual([
      "glob '*.{ts' has a '{' that is never closed",
      "glob '{a,{b,c}}' nests alternations ('{' inside '{…}'), which are not supported",
      "glob '{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b}' stands for more than 256 globs",
      // Each entry is tried against every alternative: together they get one glob's wildcards.
      `glob '${wide}' has 34 wildcards over its alternatives; at most 32 are accepted`,
      null,
    ]);
    // 32 alternatives of a glob of 1 star and 318 classes: each walked entry tried against 32 globs of the longest
    // length one may have (a search of 900 long names held the event loop 46 s).
    const long = `${'{?,[!x]}'.repeat(5)}*${'[a]'.repeat(318)}`;
    expect(refusal(long)).toStartWith(`glob '${long.slice(0, 100)}' stands for 30960 characters of globs over its alternatives; at most 1000 are accepted`);
  });
});
