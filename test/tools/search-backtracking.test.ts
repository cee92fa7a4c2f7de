/**
 * A search whose pattern backtracks catastrophically in JavaScript must not
 * freeze the server, and must not answer with a silent empty result. Real
 * server processes, one with ripgrep on PATH and one without (the built-in
 * engine): while the search runs, /health and shell_execute answer (before
 * it ends, where it runs long), and the search returns ripgrep's true
 * matches or says which limit it hit. Cancelling the request stops the
 * worker at once. The compiled binary is checked too, since its worker
 * thread is an extra entrypoint of the build.
 */
import { describe, expect, test } from 'bun:test';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallContext } from '../../src/core/context.ts';
import { LocalSpawner } from '../../src/exec/local-spawner.ts';
import { searchFilesTool } from '../../src/tools/files/search-files.ts';
import { Confiner } from '../../src/workspace/confine.ts';
import { startBinary } from '../helpers/binary.ts';
import { callAt, startServerProcess, type Tree, tree, waitFor } from './helpers.ts';
import { toolCallsInFlight } from '../helpers/server.ts';

const RG = Bun.which('rg');

const LINE = `${'a'.repeat(40)}!`;
// JavaScript tries `(a+)+$` first, exponentially, at every start before it would try "!";
// ripgrep's engine is linear and matches the "!" on every line.
const PATTERN = '(a+)+$|!';

function crafted(t: Tree): void {
  writeFileSync(join(t.ws, 'crafted.txt'), `${LINE}\n`.repeat(200));
  writeFileSync(join(t.ws, 'one-line.txt'), `${LINE}\n`);
}

/** A PATH holding `echo`, and `rg` only when asked: the server's PATH decides its engine. */
function pathDir(t: Tree, withRg: boolean): string {
  const bin = join(t.dir, withRg ? 'bin-rg' : 'bin');
  mkdirSync(bin);
  symlinkSync(Bun.which('echo')!, join(bin, 'echo'));
  if (withRg) symlinkSync(RG!, join(bin, 'rg'));
  return bin;
}

/**
 * Starts the search, waits until the server is running it (or it has
 * already ended), then asks /health and shell_execute. Returns their
 * answers, whether the search was still running after both, and its result.
 * A server whose event loop the search held would answer neither before the
 * search ended; no time is measured, so a busy machine cannot fail this.
 */
async function searchWhileProbing(url: string, args: Record<string, unknown>) {
  let settled = false;
  const search = callAt(url, 'search_files', args).finally(() => {
    settled = true;
  });
  await waitFor(async () => settled || (await toolCallsInFlight(url)) > 0, 20_000, 'the search to start');
  const health = (await fetch(`${url}/health`)).status;
  const shell = await callAt(url, 'shell_execute', { command: 'echo', arguments: ['hi'] });
  const stillRunning = !settled;
  return {
    probes: { health, shell: shell.stdout },
    stillRunning,
    result: await search,
  };
}

const responsive = { health: 200, shell: 'hi\n' };

describe('a catastrophically backtracking pattern', () => {
  test.skipIf(RG === null)('ripgrep: the server stays responsive and the search returns ripgrep’s matches', async () => {
    using t = tree();
    crafted(t);
    await using server = await startServerProcess(t, { PATH: pathDir(t, true) });
    const run = await searchWhileProbing(server.url, { pattern: PATTERN, path: 'crafted.txt', maxResults: 1000 });
    expect({ probes: run.probes, result: run.result }).toEqual({
      probes: responsive,
      result: {
        matches: Array.from({ length: 200 }, (_, i) => ({ path: 'crafted.txt', line: i + 1, column: 41, text: LINE })),
        truncated: false,
        engine: 'ripgrep',
        error: null,
        isError: false,
      },
    });
  }, 30_000);

  test('built-in engine: the server stays responsive; the search stops at its deadline or names the line it gave up on', async () => {
    using t = tree();
    crafted(t);
    await using server = await startServerProcess(t, { PATH: pathDir(t, false) });
    const run = await searchWhileProbing(server.url, { pattern: PATTERN, path: 'crafted.txt' });
    const oneLine = await callAt(server.url, 'search_files', { pattern: PATTERN, path: 'one-line.txt' });
    expect({ probes: run.probes, stillRunning: run.stillRunning, result: run.result, oneLine }).toEqual({
      probes: responsive,
      // 200 lines at a second or more each, stopped at 10 s: both probes were answered while the search ran.
      stillRunning: true,
      result: {
        matches: [],
        truncated: true,
        engine: 'builtin',
        error:
          'the regular expression ran for 10 s without finishing the search (nested quantifiers such as (a+)+ backtrack exponentially); ' +
          'it was stopped and later matches are missing',
        isError: true,
      },
      oneLine: {
        matches: [],
        truncated: true,
        engine: 'builtin',
        error:
          "the regular expression backtracked too much on 1 line (first: one-line.txt:1); JavaScript's regex engine gives up on such a line " +
          'without a match, so matches there may be missing. Nested quantifiers such as (a+)+ cause this; ripgrep, when installed, has no such limit',
        isError: true,
      },
    });
    // The same server searches normally afterwards: the stopped worker was replaced.
    expect(await callAt(server.url, 'search_files', { pattern: 'a!', path: 'one-line.txt' })).toEqual({
      matches: [{ path: 'one-line.txt', line: 1, column: 40, text: LINE }],
      truncated: false,
      engine: 'builtin',
      error: null,
      isError: false,
    });
  }, 60_000);

  test('the compiled binary runs the built-in engine in its worker', async () => {
    using t = tree();
    crafted(t);
    const server = await startBinary({
      cwd: t.dir,
      env: { PATH: pathDir(t, false), HIDE_WORKSPACE: t.ws, HIDE_AUDIT_LOG_FILE: t.audit, HIDE_SANDBOX: 'off', HIDE_RATE_LIMIT_ENABLED: 'false' },
    });
    try {
      const plain = await callAt(server.url, 'search_files', { pattern: 'a!', path: 'one-line.txt' });
      const gaveUp = await callAt(server.url, 'search_files', { pattern: PATTERN, path: 'one-line.txt' });
      expect({ plain, gaveUp: { matches: gaveUp.matches, truncated: gaveUp.truncated, engine: gaveUp.engine, isError: gaveUp.isError } }).toEqual({
        plain: { matches: [{ path: 'one-line.txt', line: 1, column: 40, text: LINE }], truncated: false, engine: 'builtin', error: null, isError: false },
        gaveUp: { matches: [], truncated: true, engine: 'builtin', isError: true },
      });
    } finally {
      await server.stop();
    }
  }, 60_000);

  test('built-in engine: a cancelled request ends the search while its worker is stuck in the regex', async () => {
    using t = tree();
    crafted(t);
    const tool = searchFilesTool(new Confiner(t.ws), { maxFileBytes: 1024 * 1024, maxWriteBytes: 1024 * 1024 }, { rgPath: null, spawner: new LocalSpawner() });
    const ac = new AbortController();
    // The search listens for the abort right before it hands a file to its worker: abort then.
    const handedOver = new Promise<void>((resolve) => {
      const add = ac.signal.addEventListener.bind(ac.signal);
      ac.signal.addEventListener = ((type: string, listener: EventListener, options?: AddEventListenerOptions) => {
        add(type, listener, options);
        if (type === 'abort') resolve();
      }) as typeof ac.signal.addEventListener;
    });
    const ctx: CallContext = { clientId: 'test', clientIp: '127.0.0.1', apiKeyHash: null, correlationId: 'c', transport: 'http', signal: ac.signal, allowedTools: null, readOnly: false };
    const pending = tool.handler({ args: { pattern: PATTERN, path: 'crafted.txt' }, ctx, correlationId: 'c' });
    await handedOver;
    ac.abort();
    const out = await pending;
    expect({ structured: out.structured, isError: out.isError }).toEqual({
      structured: { matches: [], truncated: true, engine: 'builtin', error: 'search cancelled' },
      isError: true,
    });
  });
});
