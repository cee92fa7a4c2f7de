/**
 * The text of one JSON-RPC message from its bytes, for both transports.
 * Messages must be UTF-8: decoding with replacement would turn a bad byte
 * into U+FFFD and silently change an id (its answer could no longer be
 * matched) or an argument (a path, a file's content), so such a message is
 * refused as unparseable instead.
 */
import { ParseError } from '../core/errors.ts';

const strict = new TextDecoder('utf-8', { fatal: true });

export function decodeMessage(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    throw new ParseError('Parse error: message is not valid UTF-8');
  }
}
