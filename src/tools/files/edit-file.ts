/**
 * edit_file: exact-text replacements, all or none. Every `oldText` must occur
 * exactly once in the file as it was read (not as earlier edits left it), so
 * an edit can never land somewhere the agent did not look; the edits must not
 * overlap. The result is written with the same atomic writer as write_file,
 * and only if the file has not changed since it was read.
 */
import * as v from 'valibot';
import { writeAtomic } from '../../workspace/atomic-write.ts';
import type { Confiner } from '../../workspace/confine.ts';
import { openFileForRead, readChecked } from '../../workspace/open.ts';
import { argumentObject, defineTool, type ToolDefinition, toolArguments, toolOutput } from '../types.ts';
import { type ContentDigest, type FileLimits, failure, looksBinary, mib, pathSchemaDescription, reachedPath, refusalsAsResults, strictUtf8, wellFormed } from './common.ts';
import { editsDiff } from './diff.ts';

const MAX_EDITS = 100;

interface Placed {
  index: number;
  at: number;
  oldText: string;
  newText: string;
}

/**
 * Occurrences of `needle` in `hay`, overlapping ones included, counting no
 * further than 2, as byte offsets. Searched in UTF-8 bytes, not in the
 * string: the runtime's string search is quadratic for some texts (an
 * `oldText` of 20,000 `a` with one `b` near its start, in a file of a
 * million `a`, held the event loop, so every client, for 11 s), its byte
 * search linear. A match of well-formed UTF-8 starts on a character, so byte
 * and character matches are the same.
 */
function occurrences(hay: Buffer, needle: Buffer): number[] {
  const found: number[] = [];
  for (let i = hay.indexOf(needle); i !== -1 && found.length < 2; i = hay.indexOf(needle, i + 1)) found.push(i);
  return found;
}

/**
 * How long placing edits may hold the event loop before it lets others in:
 * each edit is looked for in the whole file (it must occur exactly once), and
 * 100 edits in a 10 MiB file held every client's requests for 0.36 s.
 */
const SLICE_MS = 5;

/**
 * Places every edit in the original text, given as the file's bytes as read (strict UTF-8, BOM kept, so string
 * indices follow from them), or says which ones cannot be placed and why.
 */
export async function placeEdits(
  read: Uint8Array,
  edits: ReadonlyArray<{ oldText: string; newText: string }>,
): Promise<{ placed: Placed[] } | { problems: string[]; failed: Array<{ index: number; matches: number }> }> {
  const bytes = Buffer.from(read.buffer, read.byteOffset, read.byteLength);
  /** Placed edits by byte offset, with their oldText's length in bytes. */
  const inBytes: Array<Placed & { bytes: number }> = [];
  const problems: string[] = [];
  const failed: Array<{ index: number; matches: number }> = [];
  let sliceEnd = performance.now() + SLICE_MS;
  for (const [index, edit] of edits.entries()) {
    if (performance.now() > sliceEnd) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceEnd = performance.now() + SLICE_MS;
    }
    const needle = Buffer.from(edit.oldText, 'utf8');
    const at = occurrences(bytes, needle);
    if (at.length === 1) inBytes.push({ index, at: at[0]!, bytes: needle.length, ...edit });
    else {
      failed.push({ index, matches: at.length });
      problems.push(
        at.length === 0
          ? `edit ${index}: oldText matched 0 times (it must match the file's current text exactly, whitespace and line endings included)`
          : `edit ${index}: oldText matched more than once; add surrounding lines to make it unique`,
      );
    }
  }
  inBytes.sort((a, b) => a.at - b.at);
  for (let i = 1; i < inBytes.length; i++) {
    const prev = inBytes[i - 1]!;
    const cur = inBytes[i]!;
    if (cur.at < prev.at + prev.bytes) {
      failed.push({ index: cur.index, matches: 1 });
      problems.push(`edit ${cur.index}: oldText overlaps edit ${prev.index}; combine them into one edit`);
    }
  }
  if (problems.length > 0) return { problems, failed };
  // Byte offsets to string indices, each from the one before: one pass over the file in all.
  const placed: Placed[] = [];
  let byte = 0;
  let char = 0;
  for (const { bytes: _b, ...p } of inBytes) {
    char += bytes.toString('utf8', byte, p.at).length;
    byte = p.at;
    placed.push({ ...p, at: char });
  }
  return { placed };
}

function apply(original: string, placed: Placed[]): string {
  let out = '';
  let pos = 0;
  for (const p of placed) {
    out += original.slice(pos, p.at) + p.newText;
    pos = p.at + p.oldText.length;
  }
  return out + original.slice(pos);
}

export const editFileOutput = toolOutput({
  path: v.pipe(v.string(), v.description('The path relative to the workspace root (as given when it could not be resolved).')),
  diff: v.pipe(v.string(), v.description('Unified diff of the change; empty when nothing was applied.')),
  applied: v.pipe(v.number(), v.integer(), v.minValue(0), v.description('Edits applied: all of them or 0.')),
  dryRun: v.boolean(),
  failedEdits: v.pipe(
    v.array(v.object({ index: v.pipe(v.number(), v.integer(), v.minValue(0)), matches: v.pipe(v.number(), v.integer(), v.minValue(0)) })),
    v.description('Edits that could not be placed, by index, with how often their oldText matched.'),
  ),
});

export function editFileTool(confiner: Confiner, limits: FileLimits, contentDigest: ContentDigest = null): ToolDefinition {
  return defineTool({
    name: 'edit_file',
    title: 'Edit a file',
    description:
      'Replace exact text in a file. Each edit\'s `oldText` must occur exactly once in the file as it is now (copy it from ' +
      'read_file, whitespace included; add neighbouring lines to make it unique). All edits apply together or none do; ' +
      'a failure names each failing edit by index and says whether it matched 0 times or more than once. Returns a ' +
      'unified diff. `dryRun: true` returns the diff without writing. The write is atomic and fails if the file changed ' +
      'since it was read.',
    inputSchema: toolArguments({
      path: v.pipe(v.string(), v.minLength(1), v.maxLength(4096), v.description(pathSchemaDescription('File to edit'))),
      edits: v.pipe(
        v.array(
          argumentObject({
            oldText: v.pipe(v.string(), v.minLength(1), wellFormed, v.description('Exact text to replace; must occur exactly once in the file.')),
            newText: v.pipe(v.string(), wellFormed, v.description('Replacement text (may be empty to delete).')),
          }),
        ),
        v.minLength(1),
        v.maxLength(MAX_EDITS),
        v.description(`Replacements to make, 1-${MAX_EDITS}, each located in the original file.`),
      ),
      dryRun: v.optional(v.pipe(v.boolean(), v.description('Only show the diff; do not write. Default false.'))),
    }),
    outputSchema: editFileOutput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    readOnly: false,
    sensitiveArguments: ['edits'],
    async handler({ args }) {
      const dryRun = args.dryRun ?? false;
      const base = { path: args.path, diff: '', applied: 0, dryRun, failedEdits: [] as Array<{ index: number; matches: number }> };
      const audit: Record<string, unknown> = { path: args.path, edits: args.edits.length, dryRun };
      return refusalsAsResults(
        base,
        async () => {
          const opened = await openFileForRead(confiner, args.path);
          let bytes: Uint8Array;
          try {
            if (opened.stat.size > limits.maxFileBytes) return failure(base, `file '${args.path}' is ${mib(opened.stat.size)}, over the ${mib(limits.maxFileBytes)} limit`, audit);
            bytes = await readChecked(opened.handle, opened.stat.size);
          } finally {
            await opened.handle.close();
          }
          const path = confiner.display(opened.real);
          if (looksBinary(bytes)) return failure({ ...base, path }, `file '${args.path}' looks binary; edit_file changes text files only`, audit);
          let original: string;
          try {
            original = strictUtf8.decode(bytes);
          } catch {
            return failure({ ...base, path }, `file '${args.path}' is not valid UTF-8; editing it as text would corrupt it`, audit);
          }
          const placement = await placeEdits(bytes, args.edits);
          if ('problems' in placement) {
            return failure({ ...base, path, failedEdits: placement.failed }, `no edits applied: ${placement.problems.join('; ')}`, audit);
          }
          const updated = apply(original, placement.placed);
          const data = new TextEncoder().encode(updated);
          if (contentDigest !== null) audit.content_hmac = contentDigest(data);
          if (data.length > limits.maxWriteBytes) return failure({ ...base, path }, `the edited file would be ${mib(data.length)}, over the ${mib(limits.maxWriteBytes)} write limit`, audit);
          const diff = editsDiff(path, original, placement.placed);
          if (!dryRun && updated !== original) {
            const { ino, size, mtimeMs } = opened.stat;
            await writeAtomic(confiner, opened.real, data, { expect: { ino, size, mtimeMs, bytes } });
          }
          return {
            structured: { path, diff, applied: args.edits.length, dryRun, failedEdits: [], error: null },
            isError: false,
            auditArguments: audit,
            auditResult: { ...reachedPath(args.path, path), applied: args.edits.length, bytes: data.length, dryRun },
          };
        },
        audit,
      );
    },
  });
}
