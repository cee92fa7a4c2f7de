/**
 * The one-pass reading of a message's `id` and `params.requestId` as
 * written: against hand-made shapes that would fool a careless scan (names
 * and numbers inside strings, the same names deeper down, repeated members,
 * escaped names), and against the reference — JSON.parse with a reviver that
 * sees each value's source — on generated messages.
 */
import { expect, test } from 'bun:test';
import { idSources } from '../../src/util/json-number-source.ts';

test('the top id and params.requestId, as written', () => {
  expect(idSources('{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}')).toEqual({ id: '9007199254740993', requestId: null });
  expect(idSources('{ "params" : { "requestId" : -18446744073709551617 } , "id" : "x" }')).toEqual({ id: '"x"', requestId: '-18446744073709551617' });
  expect(idSources('{"id":"a\\"b","params":{"requestId":"r"}}')).toEqual({ id: '"a\\"b"', requestId: '"r"' });
  expect(idSources('{"id":1.5e3}')).toEqual({ id: '1.5e3', requestId: null });
});

test('the same names elsewhere, and their text inside strings, are not taken', () => {
  expect(idSources('{"params":{"x":{"requestId":12345678901234567890},"id":5},"a":{"id":7},"b":[{"id":8}],"s":"\\"id\\":9"}')).toEqual({ id: null, requestId: null });
  expect(idSources('{"other":{"requestId":3},"params":[{"requestId":4}],"id":"-1"}')).toEqual({ id: '"-1"', requestId: null });
  expect(idSources('{"params":["requestId",5],"x":["id",6]}')).toEqual({ id: null, requestId: null });
  expect(idSources('{"s":"{\\"id\\":1}","t":"\\\\","id":2}')).toEqual({ id: '2', requestId: null });
});

test('a repeated member counts as JSON.parse counts it: the last; names written with escapes are the same names', () => {
  expect(idSources('{"id":1,"id":2}')).toEqual({ id: '2', requestId: null });
  expect(idSources('{"id":1,"id":"two"}')).toEqual({ id: '"two"', requestId: null });
  expect(idSources('{"id":"one","id":2}')).toEqual({ id: '2', requestId: null });
  expect(idSources('{"id":"one","id":{}}')).toEqual({ id: null, requestId: null });
  expect(idSources('{"params":{"requestId":1},"params":{}}')).toEqual({ id: null, requestId: null });
  expect(idSources('{"\\u0069d":3,"params":{"request\\u0049d":4}}')).toEqual({ id: '3', requestId: '4' });
  const escapedWhole = (name: string) => [...name].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
  expect(idSources(`{"${escapedWhole('id')}":5,"${escapedWhole('params')}":{"${escapedWhole('requestId')}":12345678901234567890}}`)).toEqual({ id: '5', requestId: '12345678901234567890' });
});

test('text that is not JSON ends the walk with some answer: an unclosed string, a bad escape in a name', () => {
  // A string running to the end is taken as it stands; its caller's JSON.parse of it then fails and gives no id.
  expect(idSources('{"id":"open')).toEqual({ id: '"open', requestId: null });
  expect(idSources('{"\\x":1,"id":2')).toEqual({ id: '2', requestId: null });
});

test('no nesting is too deep for it', () => {
  const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
  expect(idSources(`{"params":{"x":${deep},"requestId":99999999999999999999},"id":12345678901234567890}`)).toEqual({ id: '12345678901234567890', requestId: '99999999999999999999' });
});

// The reference: what a reviver with source access reads for the same two members.
const RawJson = JSON as unknown as { parse(text: string, reviver: (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown): unknown };
function reference(text: string): { id: string | null; requestId: string | null } {
  const seen = new Map<unknown, Map<string, string>>();
  const top = RawJson.parse(text, function (key, value, context) {
    if ((typeof value === 'number' || typeof value === 'string') && context?.source !== undefined) {
      const m = seen.get(this) ?? new Map<string, string>();
      m.set(key, context.source);
      seen.set(this, m);
    }
    return value;
  }) as Record<string, unknown>;
  const params = top.params;
  const inParams = params !== null && typeof params === 'object' && !Array.isArray(params) ? (seen.get(params)?.get('requestId') ?? null) : null;
  const literal = (v: unknown) => typeof v === 'number' || typeof v === 'string';
  return { id: literal(top.id) ? (seen.get(top)?.get('id') ?? null) : null, requestId: literal((params as Record<string, unknown> | null)?.requestId) ? inParams : null };
}

test('agrees with a source-reading reviver on generated messages', () => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const names = ['id', 'requestId', 'params', 'x', '\\u0069d', 'request\\u0049d'];
  const number = () => ['0', '-1', '12345678901234567890', '1.5', '-2e5', '9007199254740993'][rand(6)]!;
  const value = (depth: number): string => {
    switch (depth > 3 ? rand(3) : rand(6)) {
      case 0:
        return number();
      case 1:
        return JSON.stringify(['id', 'requestId', '"id":1', '{', '\\', ''][rand(6)]);
      case 2:
        return ['true', 'null', 'false'][rand(3)]!;
      case 3:
        return `[${Array.from({ length: rand(3) }, () => value(depth + 1)).join(',')}]`;
      default:
        return object(depth + 1);
    }
  };
  const object = (depth: number): string => `{${Array.from({ length: rand(5) }, () => `"${names[rand(names.length)]}" : ${value(depth)}`).join(' ,')}}`;
  for (let n = 0; n < 2000; n++) {
    const text = object(0);
    expect([text, idSources(text)]).toEqual([text, reference(text)]);
  }
});
