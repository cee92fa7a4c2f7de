/**
 * What a start loads: the modules `hide serve` and `hide stdio` import
 * before they answer (static imports, followed through src/), must not
 * include what only some configurations use, nor runtime modules that cost
 * milliseconds to load where a built-in does the job. Those are imported
 * where they are used (`await import(…)`), which this walk does not follow.
 */
import { expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const SRC = join(import.meta.dir, '..', 'src');

/** Every module a file reaches through static value imports: src files by path, packages and built-ins by name. */
function staticImports(entry: string): Set<string> {
  const seen = new Set<string>();
  const files = [join(SRC, entry)];
  while (files.length > 0) {
    const file = files.pop()!;
    const name = relative(SRC, file);
    if (seen.has(name)) continue;
    seen.add(name);
    // `import x from`, `import { a } from`, `export { a } from`, `import 'side-effect'`; not `import type`, not `import(…)`.
    for (const m of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) files.push(normalize(join(dirname(file), spec)));
      else seen.add(spec);
    }
  }
  return seen;
}

/** Loaded on demand only: by the configurations that use them, or never at start. */
const ON_DEMAND = [
  // OAuth (HIDE_AUTH_MODE oauth or both): the JWT library and the guard over it.
  'jose',
  'security/oauth/guard.ts',
  'security/oauth/verifier.ts',
  // The Redis limit store (HIDE_RATE_LIMIT_STORE=redis).
  'security/redis-limiter.ts',
  // Built-ins that cost milliseconds to load where Bun's own hashing and random bytes, or ipaddr.js, do the job.
  'node:crypto',
  'node:net',
];

test.each(['cli/serve.ts', 'cli/stdio.ts', 'main.ts'])('%s loads nothing that only some configurations need', (entry) => {
  const loaded = staticImports(entry);
  expect(ON_DEMAND.filter((m) => loaded.has(m))).toEqual([]);
});

test('the walk sees what a start does load', () => {
  // Guards the walk itself: a pattern that matched nothing would pass the test above.
  const loaded = staticImports('cli/serve.ts');
  expect(['elysia', 'valibot', 'runtime/runtime.ts', 'security/pipeline.ts', 'security/oauth/jwt-shape.ts'].filter((m) => !loaded.has(m))).toEqual([]);
});
