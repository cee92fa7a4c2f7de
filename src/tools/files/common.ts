/**
 * What the file tools share: size limits, the binary test, text decoding,
 * annotations, and turning a refusal into a tool result. A refused path is
 * a result with `isError: true` and the refusal's own message, never a
 * protocol error and never a generic text.
 */
import * as v from 'valibot';
import { logger } from '../../core/log.ts';
import { PathRefusedError } from '../../workspace/confine.ts';
import type { ToolAnnotations, ToolOutcome } from '../types.ts';

export interface FileLimits {
  /** Largest file read_file, edit_file and search read (bytes). */
  maxFileBytes: number;
  /** Largest content write_file or edit_file writes (bytes). */
  maxWriteBytes: number;
}

/**
 * The audit log's keyed digest of content a file tool wrote (HMAC-SHA256 under
 * HIDE_AUDIT_ARGUMENTS_KEY, hex), or null without a key: a plain digest of a
 * file holding one short secret (a `.pgpass`, a PIN) is reversed by hashing
 * guesses, so without a key the log keeps the size alone.
 */
export type ContentDigest = ((data: Uint8Array) => string) | null;

export const DEFAULT_FILE_LIMITS: FileLimits = {
  maxFileBytes: 10 * 1024 * 1024,
  maxWriteBytes: 10 * 1024 * 1024,
};

/** How much of a file's start is checked for a NUL byte, like git and ripgrep do. */
export const BINARY_SNIFF_BYTES = 8192;

export function looksBinary(bytes: Uint8Array, limit = BINARY_SNIFF_BYTES): boolean {
  return bytes.subarray(0, limit).includes(0);
}

/** Lossy UTF-8 (invalid bytes become U+FFFD) that keeps a BOM, so text round-trips into edit_file. */
export const lossyUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });
/** Strict UTF-8 for files about to be rewritten: a lossy decode would corrupt them. */
export const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export { sha256Hex } from '../../util/sha256.ts';

/**
 * Text a file tool writes: well-formed Unicode only. A lone surrogate (half
 * of a UTF-16 pair, `\ud83d` alone in JSON) has no UTF-8 form; encoding it
 * would write U+FFFD in its place, and an edit matching half of a character
 * would mangle the character it split.
 */
export const ILL_FORMED_TEXT = 'must be well-formed Unicode text: a lone surrogate (half of a UTF-16 pair, such as \\ud83d alone) has no UTF-8 form';
export const wellFormed = v.check((s: string) => s.isWellFormed(), ILL_FORMED_TEXT);

export function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
}

export const READ_ANNOTATIONS: ToolAnnotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};

/**
 * A failed call: `base` carries the tool's result fields with empty values, so
 * the shape is the same whether the call worked or not.
 */
export function failure<TBase extends Record<string, unknown>>(base: TBase, error: string, auditArguments?: Record<string, unknown>): ToolOutcome<TBase & { error: string }> {
  return { structured: { ...base, error }, isError: true, ...(auditArguments ? { auditArguments } : {}) };
}

/**
 * Runs `body`; refusals and OS errors become failed results. Other errors
 * propagate as internal errors — except for tools given `auditArguments`:
 * the dispatcher would audit a thrown call with its raw arguments, which for
 * writes include the content, so those are answered here instead.
 */
export async function refusalsAsResults<TBase extends Record<string, unknown>, TOutcome extends ToolOutcome<unknown>>(
  base: TBase,
  body: () => Promise<TOutcome>,
  auditArguments?: Record<string, unknown>,
): Promise<TOutcome | ToolOutcome<TBase & { error: string }>> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof PathRefusedError) return failure(base, err.message, auditArguments);
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
      // An OS error on a confined path (EACCES, ENOSPC, EROFS…) is the caller's to know about.
      return failure(base, `file system error ${code}: ${describeErrno(code)}`, auditArguments);
    }
    if (!auditArguments) throw err;
    logger.withTag('files').error('file tool failed unexpectedly:', err);
    return failure(base, 'internal error while changing the file; see the server log', auditArguments);
  }
}

function describeErrno(code: string): string {
  const known: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOSPC: 'no space left on the device',
    EROFS: 'the file system is read-only',
    EISDIR: 'is a directory',
    ENOTDIR: 'a path component is not a directory',
    ENAMETOOLONG: 'a name is too long',
    EDQUOT: 'disk quota exceeded',
  };
  return known[code] ?? 'the operation failed';
}

export function pathSchemaDescription(what: string): string {
  return `${what}: relative to the workspace root (e.g. "src/main.ts") or absolute inside it.`;
}

/**
 * The file a call reached, for its audit line, when it is not the path as sent (through a link, or a parent that
 * is one): an edit through `notes.txt` that changed `alice/app.env` was logged under the link's name alone.
 */
export function reachedPath(sent: string, reached: string): { path?: string } {
  return reached === sent ? {} : { path: reached };
}
