/**
 * A serialised JSON value that is sent again and again (a tools/list
 * result): its text, for transports that write strings, and its UTF-8 bytes,
 * encoded once, so HTTP can send it without turning a 30 kB string into bytes
 * on every request.
 */
export class CachedJson {
  readonly bytes: Uint8Array;
  constructor(readonly text: string) {
    this.bytes = new TextEncoder().encode(text);
  }
}
