/**
 * `bun run settings:write`: rewrites `.env.example` and the settings tables
 * in README.md and docs/DESIGN.md from src/config/settings.ts, the files
 * test/config/generated.test.ts compares.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedFiles } from '../../src/config/docs.ts';

const ROOT = join(import.meta.dir, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

for (const { path, text } of generatedFiles(read)) {
  let before = '';
  try {
    before = read(path);
  } catch {
    /* a new file */
  }
  if (before === text) continue;
  writeFileSync(join(ROOT, path), text);
  console.log(`wrote ${path}`);
}
