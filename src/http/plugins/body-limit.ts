/**
 * Body-size limit before any parsing: a declared Content-Length over the limit
 * is refused at once; a chunked body is counted as it is read (readBody).
 */
import { Elysia } from 'elysia';
import { ClientClosedError, PayloadTooLargeError } from '../../core/errors.ts';
import { decodeMessage } from '../../mcp/message-text.ts';
import { stateOf } from '../request-state.ts';

export function bodyLimit(maxBytes: number) {
  return new Elysia({ name: 'hide/body-limit', seed: maxBytes }).onRequest(({ request }) => {
    if (!stateOf(request)?.protectedPath) return;
    const declared = request.headers.get('content-length');
    if (declared !== null && Number(declared) > maxBytes) throw new PayloadTooLargeError(maxBytes);
  });
}

/**
 * Reads the body as UTF-8 text (anything else is a parse error), refusing it
 * once it passes `maxBytes`; the caller may pass the Content-Length it already
 * read. Not async itself: returning a promise from an async function would
 * wrap it in another one and cost the hot path extra turns.
 */
export function readBody(request: Request, maxBytes: number, declaredLength: string | null = request.headers.get('content-length')): Promise<string> {
  // Fast path: a declared length was already checked against the limit in
  // onRequest, and Bun refuses bodies longer than they declare.
  const text = declaredLength !== null ? request.bytes().then(decodeMessage) : readCounted(request, maxBytes);
  return text.catch(clientClosed);
}

/**
 * A client that hangs up half-way through its body makes the read fail with
 * an AbortError: that is the client's doing, not a server error to log and
 * count as a 500 (a keyed client could flood the error log that way).
 */
function clientClosed(err: unknown): never {
  if (err instanceof DOMException && err.name === 'AbortError') throw new ClientClosedError();
  throw err;
}

async function readCounted(request: Request, maxBytes: number): Promise<string> {
  if (!request.body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new PayloadTooLargeError(maxBytes);
    chunks.push(chunk);
  }
  return decodeMessage(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
}
