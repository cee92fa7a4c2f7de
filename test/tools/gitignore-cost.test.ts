/**
 * A client can write .gitignore files and name files as it likes. One entry's
 * match is bounded (MAX_MATCH_WORK, a few ms); before a whole call was, a
 * directory of 20 000 names that every rule of a planted .gitignore had to be
 * tried on to its end held one listing on the event loop for 96 s, a built-in
 * search as long (past its 60-s deadline, checked only when a file was
 * found), and ripgrep's reported files, each directory on their way matched
 * again per file, 56 s. Each test plants such a tree and calls the real
 * tools; they stop with what they found and say why, and a real rule file
 * over as many names does not stop them.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallContext } from '../../src/core/context.ts';
import { LocalSpawner } from '../../src/exec/local-spawner.ts';
import { listDirectoryTool } from '../../src/tools/files/list-directory.ts';
import { searchFilesTool } from '../../src/tools/files/search-files.ts';
import type { ToolDefinition } from '../../src/tools/types.ts';
import { Confiner } from '../../src/workspace/confine.ts';
import { MAX_RULES, MAX_RUNS } from '../../src/workspace/gitignore.ts';
import { type Tree, tree } from './helpers.ts';

const RG = Bun.which('rg');
const LIMITS = { maxFileBytes: 64 * 1024, maxWriteBytes: 64 * 1024 };
/** Enough costly names to pass a call's allowance (a hundred entries' worth of MAX_MATCH_WORK) several times over. */
const NAMES = 250;

/**
 * Tried last to first: rules of 32 wildcards that never match, then `*.ts`. A name of 230 "a"s, then "b" and "c",
 * holds every literal of them in another order and keeps every wildcard alive to its end.
 */
const COSTLY_RULES = ['*.ts', ...Array.from({ length: MAX_RULES - 1 }, () => `${'*a'.repeat(MAX_RUNS - 3)}*c*b*`)].join('\n');

function context(signal = new AbortController().signal): CallContext {
  return { clientId: 'test', clientIp: '127.0.0.1', apiKeyHash: null, correlationId: 'c', transport: 'http', signal, allowedTools: null, readOnly: false };
}

async function run(tool: ToolDefinition, args: Record<string, unknown>, signal?: AbortSignal): Promise<Record<string, any>> {
  const out = await tool.handler({ args, ctx: context(signal), correlationId: 'c' });
  return { ...out.structured, isError: out.isError };
}

describe('.gitignore rules that cost the most a match may do, on every name of a directory', () => {
  let t: Tree;
  let confiner: Confiner;
  beforeAll(() => {
    t = tree();
    for (const [dir, rules, hidden] of [['costly', COSTLY_RULES, true], ['costly-visible', COSTLY_RULES, false], ['real', realRules(), false]] as const) {
      mkdirSync(join(t.ws, dir));
      writeFileSync(join(t.ws, dir, '.gitignore'), rules);
      for (let i = 0; i < NAMES; i++) writeFileSync(join(t.ws, dir, `${hidden ? '.' : ''}${'a'.repeat(230)}${i}bc.txt`), 'needle\n');
    }
    confiner = new Confiner(t.ws);
  });
  afterAll(() => t[Symbol.dispose]());

  const TOO_COSTLY_LIST = 'the .gitignore rules here cost too much to match';
  const TOO_COSTLY_SEARCH = 'the .gitignore rules on the way cost too much to match';

  test('a listing with respectGitignore stops and says why, hidden names or not; without it, or under a real rule file, it lists them all', async () => {
    const list = listDirectoryTool(confiner);
    const summary = (r: Record<string, any>) => ({ entries: r.entries.length, truncated: r.truncated, error: r.error?.slice(0, TOO_COSTLY_LIST.length) ?? null, isError: r.isError });
    expect([
      summary(await run(list, { path: 'costly', respectGitignore: true })),
      summary(await run(list, { path: 'costly-visible', respectGitignore: true })),
      summary(await run(list, { path: 'costly', respectGitignore: false, includeHidden: true })),
      summary(await run(list, { path: 'real', respectGitignore: true })),
    ]).toEqual([
      { entries: 0, truncated: true, error: TOO_COSTLY_LIST, isError: true },
      { entries: 0, truncated: true, error: TOO_COSTLY_LIST, isError: true },
      { entries: NAMES + 1, truncated: false, error: null, isError: false },
      { entries: NAMES, truncated: false, error: null, isError: false },
    ]);
  });

  test('a listing whose client went away ends at once, saying so', async () => {
    const gone = AbortSignal.abort();
    const r = await run(listDirectoryTool(confiner), { path: 'real', respectGitignore: true }, gone);
    expect({ truncated: r.truncated, error: r.error }).toEqual({ truncated: true, error: 'listing cancelled' });
  });

  test('the built-in search stops walking and says why; under a real rule file it finds every file', async () => {
    const builtin = searchFilesTool(confiner, LIMITS, { rgPath: null, spawner: new LocalSpawner() });
    const costly = await run(builtin, { pattern: 'needle', path: 'costly-visible', maxResults: 1000 });
    const real = await run(builtin, { pattern: 'needle', path: 'real', maxResults: 1000 });
    expect([costly.truncated, costly.error?.slice(0, TOO_COSTLY_SEARCH.length), real.matches.length, real.error]).toEqual([true, TOO_COSTLY_SEARCH, NAMES, null]);
  });

  test.skipIf(RG === null)('ripgrep\'s reported files, checked again against the rules on the way, stop the search the same way', async () => {
    const rg = searchFilesTool(confiner, LIMITS, { rgPath: RG, spawner: new LocalSpawner() });
    const costly = await run(rg, { pattern: 'needle', path: 'costly-visible', maxResults: 1000 });
    const real = await run(rg, { pattern: 'needle', path: 'real', maxResults: 1000 });
    expect([costly.engine, costly.truncated, costly.error?.slice(0, TOO_COSTLY_SEARCH.length), real.matches.length, real.error]).toEqual(['ripgrep', true, TOO_COSTLY_SEARCH, NAMES, null]);
  });
});

/** A large real-world-like file: 1500 rules, most lacking a literal the names hold. */
function realRules(): string {
  const rules: string[] = [];
  for (let i = 0; i < 300; i++) rules.push(`*.ext${i}`, `build${i}/`, `**/node_modules${i}`, `src/**/gen${i}/*.ts`, `name${i}.txt`);
  return rules.join('\n');
}
