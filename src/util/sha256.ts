/** Hex SHA-256 of a string (UTF-8) or bytes: API key digests, written-file digests. */
export function sha256Hex(data: string | Uint8Array): string {
  // Bun's hasher: node:crypto's createHash gives the same digest but loading that module costs every start milliseconds.
  return new Bun.CryptoHasher('sha256').update(data).digest('hex');
}
