/**
 * Every tool's published outputSchema against what it really returns, through
 * the real server: each tool is called once with input that works and once
 * with input that fails at run time, and its structuredContent is checked
 * with a real JSON Schema validator (the SDK's Ajv provider, what SDK clients
 * validate with) against the schema tools/list published — and with valibot
 * against the tool's own schema. A tool added without cases here fails.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import * as v from 'valibot';
import { checkFileExistsOutput } from '../../src/tools/check-file.ts';
import { availableToolsOutput } from '../../src/tools/available-tools.ts';
import { editFileOutput } from '../../src/tools/files/edit-file.ts';
import { listDirectoryOutput } from '../../src/tools/files/list-directory.ts';
import { readFileOutput } from '../../src/tools/files/read-file.ts';
import { searchFilesOutput } from '../../src/tools/files/search-files.ts';
import { writeFileOutput } from '../../src/tools/files/write-file.ts';
import { publishedSchema } from '../../src/tools/registry.ts';
import { shellExecuteJsonOutput, shellExecuteOutput } from '../../src/tools/shell.ts';
import { type Server, startServer, type Tree, tree } from './helpers.ts';

type Args = Record<string, unknown>;

/** Per tool: its valibot output schema, a call that works, and calls that fail at run time (none when nothing can). */
const CASES: Record<string, { schema: v.GenericSchema; ok: Args[]; fail: Args[] }> = {
  shell_execute: {
    schema: shellExecuteOutput,
    ok: [{ command: 'echo', arguments: ['hi'] }],
    fail: [{ command: 'false' }, { command: 'no-such-program-here' }, { command: 'echo', workingDirectory: '../..' }],
  },
  shell_execute_json: {
    schema: shellExecuteJsonOutput,
    ok: [{ command: 'echo', arguments: ['{"a":[1,null,"x"]}'] }],
    fail: [{ command: 'echo', arguments: ['not json'] }, { command: 'no-such-program-here' }],
  },
  // Takes no input and reports what it found: there is no call that fails.
  shell_get_available_tools: { schema: availableToolsOutput, ok: [{}], fail: [] },
  check_file_exists: {
    schema: checkFileExistsOutput,
    ok: [{ fileName: 'a.txt' }, { fileName: 'dir' }, { fileName: 'missing.txt' }],
    fail: [{ fileName: '../outside.txt' }],
  },
  read_file: { schema: readFileOutput, ok: [{ path: 'a.txt' }, { path: 'empty.txt' }], fail: [{ path: 'missing.txt' }, { path: 'a.txt', offset: 99 }] },
  write_file: { schema: writeFileOutput, ok: [{ path: 'new.txt', content: 'x' }], fail: [{ path: 'a.txt', content: 'y', createOnly: true }, { path: '../escape.txt', content: 'y' }] },
  edit_file: {
    schema: editFileOutput,
    ok: [{ path: 'a.txt', edits: [{ oldText: 'one', newText: 'uno' }], dryRun: true }],
    fail: [{ path: 'a.txt', edits: [{ oldText: 'not there', newText: 'z' }] }, { path: 'missing.txt', edits: [{ oldText: 'a', newText: 'b' }] }],
  },
  list_directory: { schema: listDirectoryOutput, ok: [{}, { path: 'dir', depth: 2 }], fail: [{ path: 'missing' }] },
  search_files: {
    schema: searchFilesOutput,
    ok: [{ pattern: 'one' }, { pattern: 'nothing matches this' }],
    fail: [{ pattern: '(' }, { pattern: 'x', path: 'missing' }],
  },
};

/**
 * The process tools work on a handle that exists only at run time: they are
 * walked below with a real process. Their failures ("no process …") are the
 * server's plain `{error}`, which conforms through the schema's failure branch.
 */
const PROCESS_TOOLS = ['process_start', 'process_read', 'process_write', 'process_list', 'process_kill'];

let t: Tree;
let s: Server;
let listed: Map<string, any>;
const ajv = new AjvJsonSchemaValidator();

beforeAll(async () => {
  t = tree();
  writeFileSync(join(t.ws, 'a.txt'), 'one\ntwo\n');
  writeFileSync(join(t.ws, 'empty.txt'), '');
  mkdirSync(join(t.ws, 'dir', 'sub'), { recursive: true });
  writeFileSync(join(t.ws, 'dir', 'sub', 'b.txt'), 'one more\n');
  writeFileSync(join(t.outside, 'outside.txt'), 'secret');
  s = await startServer(t);
  const r = await s.rpc('tools/list');
  listed = new Map((r.body.result.tools as any[]).map((x) => [x.name, x]));
});
afterAll(async () => {
  await s.stop();
  t[Symbol.dispose]();
});

/** The raw result of a call (structuredContent, content, isError). */
async function callRaw(name: string, args: Args): Promise<{ structuredContent: Record<string, unknown>; content: Array<{ type: string; text: string }>; isError: boolean }> {
  const r = await s.rpc('tools/call', { name, arguments: args });
  if (r.status !== 200 || !r.body?.result) throw new Error(`tools/call ${name}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
  return r.body.result;
}

/** Problems of `value` against a JSON Schema, or null. */
function jsonSchemaProblems(schema: Record<string, unknown>, value: unknown): string | null {
  const checked = ajv.getValidator(schema)(value);
  return checked.valid ? null : checked.errorMessage ?? 'invalid';
}

describe('tools/list', () => {
  test('every tool has a case here, a title, all four hints and an object outputSchema', () => {
    expect([...listed.keys()].sort()).toEqual([...Object.keys(CASES), ...PROCESS_TOOLS].sort());
    for (const [name, tool] of listed) {
      expect({ name, title: typeof tool.title, nonEmpty: tool.title.length > 0, annotationsTitle: tool.annotations.title === tool.title }).toEqual({
        name,
        title: 'string',
        nonEmpty: true,
        annotationsTitle: true,
      });
      expect(Object.keys(tool.annotations).sort()).toEqual(['destructiveHint', 'idempotentHint', 'openWorldHint', 'readOnlyHint', 'title']);
      expect({ name, type: tool.outputSchema?.type, alternatives: tool.outputSchema?.anyOf?.length }).toEqual({ name, type: 'object', alternatives: 2 });
    }
  });

  test('the published schemas are what the tools declare, converted', () => {
    for (const [name, c] of Object.entries(CASES)) expect({ name, schema: listed.get(name).outputSchema }).toEqual({ name, schema: publishedSchema(c.schema) });
  });

  test('a failure the server makes itself (internal error, refused arguments) — just `error` — conforms to every tool', () => {
    for (const [name, tool] of listed) expect({ name, problems: jsonSchemaProblems(tool.outputSchema, { error: 'internal error while running it' }) }).toEqual({ name, problems: null });
  });

  test('a result missing a field, or a success with the wrong type, does not conform', () => {
    const schema = listed.get('read_file').outputSchema;
    expect(jsonSchemaProblems(schema, { path: 'a', content: 'x', error: null })).not.toBeNull();
    expect(jsonSchemaProblems(schema, { path: 'a', content: 1, startLine: 1, endLine: 1, totalLines: 1, truncated: false, error: null })).not.toBeNull();
    expect(jsonSchemaProblems(schema, { path: 'a', content: 'x', startLine: 1, endLine: 1, totalLines: 1, truncated: false, error: null })).toBeNull();
  });
});

describe('every result conforms to its published outputSchema', () => {
  for (const [name, c] of Object.entries(CASES)) {
    const calls = [...c.ok.map((args) => ({ args, isError: false })), ...c.fail.map((args) => ({ args, isError: true }))];
    for (const call of calls) {
      test(`${name} ${JSON.stringify(call.args)} → isError ${call.isError}`, async () => {
        const result = await callRaw(name, call.args);
        const published = listed.get(name).outputSchema;
        const own = published.anyOf[0] as Record<string, unknown>;
        expect({
          isError: result.isError,
          textIsTheSameObject: JSON.parse(result.content[0]!.text),
          againstPublished: jsonSchemaProblems(published, result.structuredContent),
          // The tool's own failures keep its whole shape, not just `error`.
          againstToolShape: jsonSchemaProblems(own, result.structuredContent),
          againstValibot: v.safeParse(c.schema, result.structuredContent).success,
          errorSet: typeof result.structuredContent.error === 'string',
        }).toEqual({
          isError: call.isError,
          textIsTheSameObject: result.structuredContent,
          againstPublished: null,
          againstToolShape: null,
          againstValibot: true,
          errorSet: call.isError,
        });
      });
    }
  }
});

describe('the process tools conform to their published outputSchema', () => {
  test('start, read, write, list, kill on a real process, then each with a handle that does not exist', async () => {
    const problems: Record<string, string | null> = {};
    const check = async (name: string, args: Args, isError: boolean) => {
      const result = await callRaw(name, args);
      expect({ name, isError: result.isError }).toEqual({ name, isError });
      problems[`${name}${isError ? ' (failure)' : ''}`] = jsonSchemaProblems(listed.get(name).outputSchema, result.structuredContent);
      return result.structuredContent;
    };
    const started = await check('process_start', { command: 'cat' }, false);
    const processId = started.processId as string;
    await check('process_write', { processId, input: 'hello\n' }, false);
    await check('process_read', { processId, waitMs: 1000 }, false);
    await check('process_list', {}, false);
    await check('process_kill', { processId }, false);
    const missing = 'p-00000000000000000000000000000000@nowhere';
    for (const name of ['process_read', 'process_write', 'process_kill']) await check(name, { processId: missing, ...(name === 'process_write' ? { input: 'x' } : {}) }, true);
    await check('process_start', { command: 'no-such-program-here' }, true);
    expect(problems).toEqual(Object.fromEntries(Object.keys(problems).map((k) => [k, null])));
  });
});

test('the SDK client, which validates structuredContent against outputSchema, accepts success and failure results', async () => {
  const client = new Client({ name: 'output-schema-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`)));
  try {
    await client.listTools();
    const ok = await client.callTool({ name: 'read_file', arguments: { path: 'a.txt' } });
    const failed = await client.callTool({ name: 'read_file', arguments: { path: 'missing.txt' } });
    expect([ok.isError, (ok.structuredContent as any).content, failed.isError, (failed.structuredContent as any).error]).toEqual([
      false,
      'one\ntwo\n',
      true,
      "path 'missing.txt' does not exist",
    ]);
  } finally {
    await client.close();
  }
});
