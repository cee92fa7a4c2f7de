/** The file tools as one list, built over one Confiner; runtime.ts registers them. */
import type { Spawner } from '../../exec/spawner.ts';
import type { Confiner } from '../../workspace/confine.ts';
import type { ToolDefinition } from '../types.ts';
import { type ContentDigest, DEFAULT_FILE_LIMITS, type FileLimits } from './common.ts';
import { editFileTool } from './edit-file.ts';
import { listDirectoryTool } from './list-directory.ts';
import { readFileTool } from './read-file.ts';
import { searchFilesTool } from './search-files.ts';
import { writeFileTool } from './write-file.ts';

export interface FileToolOptions {
  /** Absolute path of ripgrep, or null for the built-in search engine. */
  rgPath: string | null;
  /** Starts ripgrep. */
  spawner: Spawner;
  limits?: FileLimits;
  /** The audit log's keyed digest of what write_file and edit_file write; none by default. */
  contentDigest?: ContentDigest;
}

export function fileTools(confiner: Confiner, opts: FileToolOptions): ToolDefinition[] {
  const limits = opts.limits ?? DEFAULT_FILE_LIMITS;
  return [
    readFileTool(confiner, limits),
    writeFileTool(confiner, limits, opts.contentDigest ?? null),
    editFileTool(confiner, limits, opts.contentDigest ?? null),
    listDirectoryTool(confiner),
    searchFilesTool(confiner, limits, { rgPath: opts.rgPath, spawner: opts.spawner }),
  ];
}
