import { expect, test } from 'bun:test';
import * as v from 'valibot';
import { ToolRegistry } from '../../src/tools/registry.ts';
import { defineTool, toolOutput } from '../../src/tools/types.ts';

const tool = (name: string) =>
  defineTool({
    name,
    title: name,
    description: `test tool ${name}`,
    inputSchema: v.object({}),
    outputSchema: toolOutput({}),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    readOnly: true,
    handler: async () => ({ structured: { error: null }, isError: false }),
  });

const names = (registry: ToolRegistry, allowed: string[]) =>
  (JSON.parse(registry.listJson({ allowedTools: new Set(allowed), readOnly: false }).text).tools as Array<{ name: string }>).map((t) => t.name);

test('each set of allowed tools gets its own listing, whatever characters the names hold', () => {
  const registry = new ToolRegistry([tool('a'), tool('b'), tool('a,b')]);
  // Listed in either order: a view first made for one set must not be served to the other.
  expect(names(registry, ['a,b'])).toEqual(['a,b']);
  expect(names(registry, ['a', 'b'])).toEqual(['a', 'b']);
  const other = new ToolRegistry([tool('a'), tool('b'), tool('a,b')]);
  expect(names(other, ['b', 'a'])).toEqual(['a', 'b']);
  expect(names(other, ['a,b'])).toEqual(['a,b']);
});
