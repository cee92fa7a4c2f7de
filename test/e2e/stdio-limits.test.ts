/**
 * `hide stdio` from source with a small HIDE_MAX_BODY_BYTES: a line over the
 * limit (even one that arrives in several pieces) gets a JSON-RPC error and
 * the session goes on serving; a line of exactly the limit is served; a line
 * that is not JSON gets -32700; stdout carries nothing but JSON-RPC lines
 * even with debug logging on (logs go to stderr). Each step waits for its
 * answer before the next line is written, so "keeps serving" is shown on a
 * live session, not on input that was all buffered at once.
 */
import { expect, test } from 'bun:test';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts');
const LIMIT = 2048;

/** A ping whose line (without the "\n") is exactly `bytes` long: JSON allows trailing whitespace. */
function pingOfLength(id: number, bytes: number): string {
  const line = JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' });
  return line + ' '.repeat(bytes - line.length);
}

test('oversized and invalid lines get JSON-RPC errors and the session keeps serving', async () => {
  const dir = tempDir('hide-stdio-limits-');
  const ws = join(dir, 'ws');
  await Bun.write(join(ws, '.keep'), '');
  await using proc = Bun.spawn([process.execPath, MAIN, 'stdio', '--workspace', ws], {
    env: {
      PATH: '/usr/bin:/bin',
      HIDE_SANDBOX: 'off',
      HIDE_MAX_BODY_BYTES: String(LIMIT),
      HIDE_AUDIT_LOG_FILE: join(dir, 'audit.jsonl'),
      HIDE_LOG_LEVEL: 'debug',
      HIDE_LOG_FORMAT: 'json',
    },
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  let out = '';
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) out += decoder.decode(chunk, { stream: true });
  })();
  const stderr = proc.stderr.text();
  const lines = () => out.split('\n').filter((l) => l !== '');
  const send = async (text: string, expectLines: number, what: string) => {
    proc.stdin.write(text);
    await proc.stdin.flush();
    await waitFor(() => lines().length >= expectLines, 10_000, what);
  };

  // One byte over the limit, written in three pieces before its newline.
  const oversized = pingOfLength(1, LIMIT + 1);
  for (const piece of [oversized.slice(0, 1000), oversized.slice(1000, 2000), oversized.slice(2000)]) {
    proc.stdin.write(piece);
    await proc.stdin.flush();
  }
  await send('\n', 1, 'the oversized-line error');
  await send(`${pingOfLength(2, LIMIT)}\n`, 2, 'the answer to a line of exactly the limit');
  await send('{"jsonrpc":"2.0","id":3,"method":"ping"\n', 3, 'the parse error');
  await send(`${'x'.repeat(LIMIT * 3)}\n`, 4, 'the second oversized-line error');
  await send('{"jsonrpc":"2.0","id":5,"method":"ping"}\n', 5, 'the answer after the errors');
  proc.stdin.end();
  const code = await proc.exited;
  await reading;

  // Debug logging is on: its lines exist, on stderr; stdout holds only the answers.
  const logged = (await stderr).includes('serving MCP on stdio');
  expect({ code, logged, endsWithNewline: out.endsWith('\n'), messages: lines().map((l) => JSON.parse(l)) }).toEqual({
    code: 0,
    logged: true,
    endsWithNewline: true,
    messages: [
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: `Message exceeds the limit of ${LIMIT} bytes` } },
      { jsonrpc: '2.0', id: 2, result: {} },
      { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error: message is not valid JSON' } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: `Message exceeds the limit of ${LIMIT} bytes` } },
      { jsonrpc: '2.0', id: 5, result: {} },
    ],
  });
  rmSync(dir, { recursive: true, force: true });
});
