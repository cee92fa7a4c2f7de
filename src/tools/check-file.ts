/**
 * check_file_exists: whether a path exists inside the workspace, and what it
 * is. Confined like every file tool (workspace/confine.ts): a path outside is
 * refused, not probed, and a missing path says "outside" before "missing" —
 * a symlink out says "outside" whether or not its target exists.
 */
import * as v from 'valibot';
import { type Confiner, PathRefusedError } from '../workspace/confine.ts';
import { lstatConfined } from '../workspace/open.ts';
import { defineTool, type ToolDefinition, toolArguments, toolOutput } from './types.ts';

export const checkFileExistsOutput = toolOutput({
  exists: v.boolean(),
  path: v.pipe(v.string(), v.description('The path relative to the workspace when it exists, else as given.')),
  type: v.pipe(v.nullable(v.picklist(['file', 'directory', 'other'])), v.description('null when the path does not exist.')),
});

export function checkFileExistsTool(confiner: Confiner): ToolDefinition {
  return defineTool({
    name: 'check_file_exists',
    title: 'Check a path exists',
    description:
      'Check whether a file or directory exists in the workspace. `fileName` is relative to the workspace root ' +
      '(or absolute inside it). Returns exists, the resolved path relative to the workspace, and its type.',
    inputSchema: toolArguments({
      fileName: v.pipe(v.string(), v.minLength(1), v.maxLength(4096), v.description('Path relative to the workspace root, e.g. "src/main.ts".')),
    }),
    outputSchema: checkFileExistsOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    readOnly: true,
    async handler({ args }) {
      try {
        const real = await confiner.resolveExisting(args.fileName);
        const st = await lstatConfined(confiner, real, args.fileName);
        const type = st.isFile() ? ('file' as const) : st.isDirectory() ? ('directory' as const) : ('other' as const);
        const path = confiner.display(real);
        return { structured: { exists: true, path, type, error: null }, isError: false };
      } catch (err) {
        if (!(err instanceof PathRefusedError)) throw err;
        if (err.kind === 'missing') {
          return { structured: { exists: false, path: args.fileName, type: null, error: null }, isError: false };
        }
        return { structured: { exists: false, path: args.fileName, type: null, error: err.message }, isError: true };
      }
    },
  });
}

