/**
 * The message core's validation helpers on their own: a refused value under a
 * name the audit log never keeps is not quoted back, and text that is not
 * well-formed Unicode is found wherever it sits, keys included.
 */
import { describe, expect, test } from 'bun:test';
import * as v from 'valibot';
import { checkBounded, illFormedAt } from '../../src/mcp/bounded-validation.ts';

describe('checkBounded with quiet names', () => {
  const schema = v.object({ path: v.string(), content: v.string(), edits: v.array(v.object({ oldText: v.string() })) });

  test('a value under a quiet name is not quoted, at any depth; others are', () => {
    const r = checkBounded(schema, { path: 42, content: 'the secret text'.length, edits: [{ oldText: 1234 }] }, ['content', 'edits']);
    expect(r.success).toBe(false);
    const message = r.success ? '' : r.message;
    expect(message).toContain('Expected string but received 42 → at path');
    expect(message).toContain('Expected string but received (a value not shown) → at content');
    expect(message).toContain('Expected string but received (a value not shown) → at edits.0.oldText');
    expect(message).not.toContain('1234');
    expect(message).not.toContain('15');
  });

  test('only what was received is left out: the expectation stays whole', () => {
    const r = checkBounded(v.object({ content: v.pipe(v.number(), v.minValue(1)) }), { content: 1 - 2 }, ['content']);
    expect(r.success ? '' : r.message).toBe('× Invalid value: Expected >=1 but received (a value not shown) → at content');
    const one = checkBounded(v.object({ content: v.pipe(v.array(v.string()), v.minLength(11)) }), { content: ['1'] }, ['content']);
    expect(one.success ? '' : one.message).toBe('× Invalid length: Expected >=11 but received (a value not shown) → at content');
  });

  test('without quiet names nothing changes', () => {
    const r = checkBounded(schema, { path: 'p', content: 7, edits: [] });
    expect(r.success ? '' : r.message).toContain('received 7 → at content');
  });
});

describe('illFormedAt', () => {
  test.each([
    ['well-formed text, pairs included', { command: 'echo', arguments: ['😀', 'ä'], env: { A: 'b' } }, null],
    ['a lone high surrogate in an array', { arguments: ['ok', 'x\ud800'] }, 'arguments.1'],
    ['a lone low surrogate in a nested object', { terminal: { name: '\udc00' } }, 'terminal.name'],
    ['in a key', { env: { ['K\ud83d']: 'v' } }, 'env.K\ud83d'],
    ['the value itself', '\udfff', ''],
    ['numbers, booleans and null', { a: 1, b: [true, null] }, null],
  ])('%s', (_what, value, at) => {
    expect(illFormedAt(value)).toBe(at);
  });

  test('50 000 levels deep: no recursion to run out of', () => {
    const deep = JSON.parse(`${'['.repeat(50_000)}"\\ud800"${']'.repeat(50_000)}`);
    expect(illFormedAt(deep)?.split('.').length).toBe(50_000);
  });
});
