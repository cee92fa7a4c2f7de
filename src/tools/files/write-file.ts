/**
 * write_file: create or replace a whole file, atomically (see
 * workspace/atomic-write.ts). The audit line records the path, size and
 * SHA-256 of what was written — never the content, which may hold secrets.
 */
import * as v from 'valibot';
import type { Confiner } from '../../workspace/confine.ts';
import { writeAtomic } from '../../workspace/atomic-write.ts';
import { defineTool, type ToolDefinition, toolArguments, toolOutput } from '../types.ts';
import { type ContentDigest, type FileLimits, failure, mib, pathSchemaDescription, reachedPath, refusalsAsResults, sha256Hex, wellFormed } from './common.ts';

export const writeFileOutput = toolOutput({
  path: v.pipe(v.string(), v.description('The path relative to the workspace root (as given when it could not be resolved).')),
  bytes: v.pipe(v.number(), v.integer(), v.minValue(0), v.description('Bytes written; 0 when nothing was.')),
  sha256: v.pipe(v.nullable(v.string()), v.description('Hex SHA-256 of what was written; null when nothing was.')),
  created: v.pipe(v.boolean(), v.description('The file did not exist before.')),
});

export function writeFileTool(confiner: Confiner, limits: FileLimits, contentDigest: ContentDigest = null): ToolDefinition {
  return defineTool({
    name: 'write_file',
    title: 'Write a file',
    description:
      'Create a file or replace its whole content in the workspace. The write is atomic: readers see the old or the new ' +
      'content, never a mix. Missing parent directories are created. With `createOnly: true` the call fails if the file ' +
      `already exists. Content is UTF-8 text up to ${mib(limits.maxWriteBytes)}. To change part of a file use edit_file. ` +
      'Refused: paths outside the workspace, a symlink as the last component, hard-linked files, directories and devices.',
    inputSchema: toolArguments({
      path: v.pipe(v.string(), v.minLength(1), v.maxLength(4096), v.description(pathSchemaDescription('File to write'))),
      content: v.pipe(v.string(), wellFormed, v.description('The complete new content of the file.')),
      createOnly: v.optional(v.pipe(v.boolean(), v.description('Fail instead of replacing an existing file. Default false.'))),
    }),
    outputSchema: writeFileOutput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    readOnly: false,
    sensitiveArguments: ['content'],
    async handler({ args }) {
      const data = new TextEncoder().encode(args.content);
      const sha256 = sha256Hex(data);
      const createOnly = args.createOnly ?? false;
      const auditArguments = { path: args.path, bytes: data.length, ...(contentDigest === null ? {} : { content_hmac: contentDigest(data) }), createOnly };
      const base = { path: args.path, bytes: 0, sha256: null, created: false };
      if (data.length > limits.maxWriteBytes) {
        return failure(base, `content is ${mib(data.length)}, over the ${mib(limits.maxWriteBytes)} write limit`, auditArguments);
      }
      return refusalsAsResults(
        base,
        async () => {
          const written = await writeAtomic(confiner, args.path, data, { createOnly });
          const path = confiner.display(written.real);
          return {
            structured: { path, bytes: data.length, sha256, created: written.created, error: null },
            isError: false,
            auditArguments,
            auditResult: { ...reachedPath(args.path, path), bytes: data.length, created: written.created },
          };
        },
        auditArguments,
      );
    },
  });
}
