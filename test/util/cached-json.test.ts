import { afterAll, beforeAll, expect, test } from 'bun:test';
import { CachedAnswers, CachedJson } from '../../src/util/cached-json.ts';
import { ERAS, frame, startServer, type TestServer } from '../helpers/server.ts';

test('an answer is the JSON-RPC response around the cached result, the same Blob while its id stays among the last MAX', async () => {
  const answers = new CachedAnswers();
  const result = new CachedJson(JSON.stringify({ tools: [{ name: 'é — x' }] }));
  const other = new CachedJson('{"tools":[]}');
  const first = answers.get('1', result);
  expect(JSON.parse(await first.text())).toEqual({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'é — x' }] } });
  expect(answers.get('1', result)).toBe(first);
  // Another result under the same id is another answer.
  expect(JSON.parse(await answers.get('1', other).text()).result).toEqual({ tools: [] });
  for (let i = 0; i < CachedAnswers.MAX - 2; i++) answers.get(JSON.stringify(`id-${i}`), result);
  expect(answers.get('1', result)).toBe(first);
  // One more id drops the oldest made: the first is built again, with the same bytes.
  answers.get('"one more"', result);
  const again = answers.get('1', result);
  expect(again).not.toBe(first);
  expect(await again.text()).toBe(await first.text());
});

test('an id longer than MAX_ID_LENGTH gets its answer built each time and never kept', async () => {
  const answers = new CachedAnswers();
  const result = new CachedJson('{"tools":[]}');
  const kept = answers.get('1', result);
  const long = JSON.stringify('x'.repeat(CachedAnswers.MAX_ID_LENGTH));
  const a = answers.get(long, result);
  expect(answers.get(long, result)).not.toBe(a);
  expect(JSON.parse(await a.text())).toEqual({ jsonrpc: '2.0', id: 'x'.repeat(CachedAnswers.MAX_ID_LENGTH), result: { tools: [] } });
  // Long ids take no place: the short one made first is still kept after more long ones than the cache holds.
  for (let i = 0; i < CachedAnswers.MAX + 1; i++) answers.get(JSON.stringify(`${i}`.padEnd(100, 'y')), result);
  expect(answers.get('1', result)).toBe(kept);
});

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.stop());

async function list(era: (typeof ERAS)[number], id: unknown): Promise<{ text: string; body: any }> {
  const { body, headers } = frame(era, { jsonrpc: '2.0', id, method: 'tools/list' });
  const res = await fetch(server.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...headers }, body });
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, body: JSON.parse(text) };
}

for (const era of ERAS) {
  test(`${era}: tools/list echoes every id, also past the answers kept and in parallel, and a repeated id gets the same bytes`, async () => {
    const ids: unknown[] = [1, 0, -1, 2 ** 53 - 1, 'a', 'quote " and \\ and \u2028', '', 'x'.repeat(200)];
    for (let i = 0; i < CachedAnswers.MAX + 8; i++) ids.push(`n${i}`);
    const first = await list(era, 1);
    const tools = first.body.result.tools;
    expect(tools.length).toBeGreaterThan(5);
    const answers = await Promise.all([...ids, ...ids].map((id) => list(era, id)));
    answers.forEach((a, i) => {
      expect(a.body.id).toEqual(ids[i % ids.length]);
      expect(a.body.result.tools).toEqual(tools);
    });
    expect((await list(era, 1)).text).toBe(first.text);
  });
}
