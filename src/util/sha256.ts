/** Hex SHA-256 of a string (UTF-8) or bytes: API key digests, written-file digests. */
import { createHash } from 'node:crypto';

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
