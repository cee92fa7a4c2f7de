/**
 * The walk that finds names given twice in one JSON object, for settings
 * files and for tools/call messages: names spelt with escapes, strings that
 * hold quotes, brackets and backslashes, arrays, and nesting beyond what it
 * looks into.
 */
import { describe, expect, test } from 'bun:test';
import { parseMessageText, repeatedName } from '../../src/mcp/protocol.ts';
import { duplicateKeys, jsonShapeBeyond } from '../../src/util/json-duplicate-keys.ts';

test('paths through objects and arrays, each once, in order', () => {
  expect(duplicateKeys('{"a":{"b":1,"b":2,"b":3},"list":[{"x":1},{"y":1,"y":2}],"a":3}')).toEqual(['a.b', 'list.1.y', 'a']);
  expect(duplicateKeys('{"a":{"b":1},"c":{"b":2},"d":[{"b":1},{"b":2}]}')).toEqual([]);
});

test('a name is read as JSON reads it: an escape spells the same name, and quotes, brackets and backslashes in strings are text', () => {
  expect(duplicateKeys('{"method":"a","met\\u0068od":"b"}')).toEqual(['method']);
  expect(duplicateKeys('{"s\\"":1,"s\\"":2}')).toEqual(['s"']);
  expect(duplicateKeys('{"s":"x\\\\","a":1,"a":2}')).toEqual(['a']);
  expect(duplicateKeys('{"s":"{\\"a\\":1,\\"a\\":2}","t":"[,]{,}"}')).toEqual([]);
  expect(duplicateKeys('{"s":"\\\\\\"","a":{"b":[1,{"c":2,"c":3}]}}')).toEqual(['a.b.1.c']);
});

test('first: stops at the first name found', () => {
  expect(duplicateKeys('{"a":1,"a":2,"b":1,"b":2}', { first: true })).toEqual(['a']);
});

test('objects are looked into 64 levels deep, not deeper; deeper nesting is walked past', () => {
  const nested = (levels: number) => `${'['.repeat(levels)}{"a":1,"a":2}${']'.repeat(levels)}`;
  expect(duplicateKeys(nested(63))).toEqual([`${Array(63).fill('0').join('.')}.a`]);
  expect(duplicateKeys(nested(64))).toEqual([]);
  expect(duplicateKeys(`{"deep":${nested(100_000)},"a":1,"a":2}`)).toEqual(['a']);
});

const repeated = (text: string) => repeatedName(text, JSON.parse(text));

test('a long name above many repeated ones is spelt out once: the message is refused by its first repeat, id echoed', () => {
  // 2 MB name, 100 000 repeats under it: spelling the path out for each repeat cost about a minute of one core.
  const inner = Array.from({ length: 100_000 }, () => '"a":0').join(',');
  const name = 'k'.repeat(2_000_000);
  const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"x","${name}":{${inner}}}}}`;
  // Too large to have the path named: refused all the same.
  expect(repeated(body)).toEqual({ path: null, idRepeated: false });
  const small = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"k":{"a":0,"a":1}}}}`;
  expect(repeated(small)).toEqual({ path: 'params.arguments.k.a', idRepeated: false });
  expect(repeated('{"jsonrpc":"2.0","params":{"a":1,"a":2},"id":1,"method":"tools/call","id":2}')).toEqual({ path: 'params.a', idRepeated: true });
  expect(repeated('{"jsonrpc":"2.0","params":{},"\\u0069d":1,"method":"tools/call","id":2}')).toMatchObject({ idRepeated: true });
  expect(repeated('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"id":1,"id":2}}}')).toEqual({ path: 'params.arguments.id', idRepeated: false });
  expect(repeated('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}')).toBeNull();
});

test('half a million distinct names, with or without one repeat at the end: counted, not kept', () => {
  const names = Array.from({ length: 500_000 }, (_, i) => `"${i.toString(36).padStart(4, '0')}":0`).join(',');
  expect(repeated(`{${names},"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`)).toBeNull();
  expect(repeated(`{${names},"jsonrpc":"2.0","id":1,"method":"tools/call","params":{},"jsonrpc":"2.0"}`)).toEqual({ path: null, idRepeated: false });
});

test('what JSON.parse makes of the text counts as it does: __proto__ is a name like another, an id kept as its digits is no object', () => {
  expect(repeated('{"__proto__":{"a":1},"__proto__":{"b":2}}')).toEqual({ path: '__proto__', idRepeated: false });
  expect(repeated('{"__proto__":{"a":1},"b":{"__proto__":1}}')).toBeNull();
  const big = '{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"tools/call","params":{"requestId":98765432109876543210}}';
  expect(repeatedName(big, parseMessageText(big))).toBeNull();
});

test('arrays count toward the 64 levels: a repeat under 63 levels is found, under 64 it is not looked for', () => {
  const nested = (levels: number) => `{"a":${'['.repeat(levels - 1)}{"k":1,"k":2}${']'.repeat(levels - 1)}}`;
  expect(repeated(nested(63))).toMatchObject({ idRepeated: false });
  expect(repeated(nested(64))).toBeNull();
});

describe('jsonShapeBeyond: too deep or too many values, told without building any', () => {
  test('nesting past the levels is deep, in a short text too; brackets inside strings do not count', () => {
    expect(jsonShapeBeyond(`${'['.repeat(65)}${']'.repeat(65)}`, 64, 20_000)).toBe('deep');
    expect(jsonShapeBeyond(`${'['.repeat(64)}${']'.repeat(64)}`, 64, 20_000)).toBeNull();
    expect(jsonShapeBeyond(`{"a":"${'['.repeat(100)}","b":[{}]}`, 64, 20_000)).toBeNull();
    // As many brackets as levels, side by side: never deeper than 1.
    expect(jsonShapeBeyond(`[${'[],'.repeat(100)}[]]`, 64, 20_000)).toBeNull();
  });

  test('more values than the bound is many; a message with few brackets and no more characters than values is neither', () => {
    expect(jsonShapeBeyond(`[${'0,'.repeat(30)}0]`, 64, 20)).toBe('many');
    expect(jsonShapeBeyond(`[${'0,'.repeat(19)}0]`, 64, 20)).toBeNull();
    expect(jsonShapeBeyond(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { a: { b: {} } } } }), 64, 20_000)).toBeNull();
  });
});
