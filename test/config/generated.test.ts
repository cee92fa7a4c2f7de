/**
 * `.env.example` and the settings tables in README.md and docs/DESIGN.md are
 * generated from src/config/settings.ts. When one differs, the diff below
 * shows the expected text: run `bun run settings:write` (or paste it).
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import { generatedFiles, renderEnvExample, renderSettingsTable } from '../../src/config/docs.ts';
import { parseDotenv } from '../../src/config/load.ts';
import { CONFIG_FILE_ENV, type SettingSpec } from '../../src/config/setting.ts';
import { SETTINGS } from '../../src/config/settings.ts';

const ROOT = join(import.meta.dir, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const ROWS: readonly SettingSpec[] = SETTINGS;

describe('generated files are up to date (else: bun run settings:write)', () => {
  for (const { path, text } of generatedFiles(read)) {
    test(path, () => {
      expect({ path, text: read(path) }).toEqual({ path, text });
    });
  }
});

describe('what the generator writes', () => {
  test('.env.example names every setting and HIDE_CONFIG once, all commented out', () => {
    const text = renderEnvExample();
    const named = [...text.matchAll(/^# ([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect({ named, active: parseDotenv(text) }).toEqual({ named: [CONFIG_FILE_ENV, ...ROWS.map((s) => s.env)], active: {} });
  });

  test('a default written in .env.example, uncommented, reads back as that default', () => {
    const lines = renderEnvExample().split('\n');
    const shown = ROWS.filter((s) => s.example === undefined && s.default !== undefined && s.default !== null && typeof s.default !== 'function');
    const read = shown.map((s) => {
      const value = lines.find((l) => l.startsWith(`# ${s.env}=`))!.slice(`# ${s.env}=`.length);
      const parsed = v.safeParse(s.schema, value);
      return [s.env, parsed.success ? parsed.output : parsed.issues[0]!.message];
    });
    expect(read).toEqual(shown.map((s) => [s.env, s.default]));
  });

  test('the table has a row per setting plus HIDE_CONFIG, each with four cells', () => {
    const rows = renderSettingsTable().trimEnd().split('\n').slice(2);
    const shape = rows.map((r) => [/^\| `([A-Z_]+)`/.exec(r)?.[1], r.split(/(?<!\\)\|/).length - 2]);
    expect(shape).toEqual([CONFIG_FILE_ENV, ...ROWS.map((s) => s.env)].map((env) => [env, 4]));
  });
});
