/**
 * The layout docs/DESIGN.md promises: every folder of src/ is listed there,
 * and every import between folders points down its list of layers.
 */
import { expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const ROOT = join(import.meta.dir, '..');
const SRC = join(ROOT, 'src');
const design = readFileSync(join(ROOT, 'docs', 'DESIGN.md'), 'utf8');

/** Top-level folder (or root file) of a path under src/. */
const unit = (path: string) => relative(SRC, path).split('/')[0]!;

function layers(): Map<string, number> {
  const block = design.split('<!-- layers (top to bottom) -->')[1]?.split('```')[1];
  if (!block) throw new Error('docs/DESIGN.md has no layer list');
  const rows = block.trim().split('\n').reverse();
  return new Map(rows.flatMap((row, rank) => row.trim().split(/\s+/).map((name) => [name, rank] as const)));
}

/** The first column of DESIGN's layout block (the code block that lists `src/main.ts`): `src/cli/`, `src/main.ts`, … */
function layoutEntries(): string[] {
  const block = design.split('```').find((part) => /^src\/main\.ts\s/m.test(part));
  if (!block) throw new Error('docs/DESIGN.md has no layout block');
  return block.split('\n').map((row) => row.trim().split(/\s+/)[0] ?? '').filter((path) => path.startsWith('src/'));
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

test('every folder of src/ is in the layout list and the layer list', () => {
  const units = [...new Set(sources(SRC).map(unit))].sort();
  // Named in the layout block itself: a folder mentioned anywhere else in DESIGN is not listed.
  const entries = layoutEntries();
  const listed = units.filter((u) => entries.includes(`src/${u.endsWith('.ts') ? u : `${u}/`}`));
  expect({ layout: listed, layers: units.filter((u) => layers().has(u)) }).toEqual({ layout: units, layers: units });
});

test('every import between folders of src/ points down the layers', () => {
  const rank = layers();
  const against: string[] = [];
  for (const file of sources(SRC)) {
    const from = unit(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = normalize(join(dirname(file), m[1]!));
      if (!target.startsWith(SRC)) continue; // package.json and the like
      const to = unit(target);
      if (to === from) continue;
      if ((rank.get(to) ?? Number.POSITIVE_INFINITY) >= (rank.get(from) ?? -1)) against.push(`${relative(SRC, file)} -> ${relative(SRC, target)}`);
    }
  }
  expect(against).toEqual([]);
});
