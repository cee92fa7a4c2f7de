/**
 * Random bytes from the runtime's own generator (the global Web Crypto):
 * the same source as node:crypto's randomBytes, without loading that module,
 * which costs every start milliseconds.
 */
export function randomBytes(size: number): Buffer {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(size)));
}
