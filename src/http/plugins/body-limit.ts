/**
 * Body-size limit before any parsing: a declared Content-Length over the limit
 * is refused at once; a chunked body, or one whose Content-Length is anything
 * but one number, is counted as it is read (readBody).
 */
import { Elysia } from 'elysia';
import { BodyTimeoutError, ClientClosedError, PayloadTooLargeError } from '../../core/errors.ts';
import { decodeMessage } from '../../mcp/message-text.ts';
import { stateOf } from '../request-state.ts';

export function bodyLimit(maxBytes: number) {
  return new Elysia({ name: 'hide/body-limit', seed: maxBytes }).onRequest(({ request }) => {
    if (!stateOf(request)?.protectedPath) return;
    const declared = declaredLength(request.headers.get('content-length'));
    if (declared !== null && declared > maxBytes) throw new PayloadTooLargeError(maxBytes);
  });
}

const DIGITS = /^\d+$/;

/**
 * The body's length as its Content-Length declares it, when that is one
 * number: digits, or the same digits repeated (`N, N`: the header sent twice,
 * which Bun takes and joins). Anything else is null, and the body is counted
 * as it is read: `Number('N, N')` is NaN, which compared with the limit
 * passed, and a body of any size was then read whole.
 */
function declaredLength(header: string | null): number | null {
  if (header === null) return null;
  if (DIGITS.test(header)) return Number(header);
  const values = header.split(',').map((v) => v.trim());
  return values.every((v) => v === values[0]) && DIGITS.test(values[0]!) ? Number(values[0]) : null;
}

/**
 * Reads the body as UTF-8 text (anything else is a parse error), refusing it
 * once it passes `maxBytes` or when it has not all come within the time
 * `deadlines` allows; the caller may pass the Content-Length it already read. Not async itself:
 * returning a promise from an async function would wrap it in another one and
 * cost the hot path extra turns.
 */
export function readBody(
  request: Request,
  maxBytes: number,
  deadlines: BodyDeadlines,
  contentLength: string | null = request.headers.get('content-length'),
  reserve: (bytes: number, declared: boolean) => void = () => {},
): Promise<string> {
  // Fast path: a declared length was already checked against the limit in
  // onRequest, and Bun refuses bodies longer than they declare; the length is
  // reserved whole, as the runtime frames the body by it. A body of no one
  // declared length is reserved as it comes.
  if (contentLength !== null && DIGITS.test(contentLength)) {
    reserve(Number(contentLength), true);
    return deadlines.watch(request.bytes());
  }
  return deadlines.watch(readCounted(request, maxBytes, reserve));
}

/**
 * Ends body reads that take longer than `timeoutMs` with a BodyTimeoutError:
 * Bun closes a connection that sends nothing for a while, not one that sends
 * a byte now and then. One coarse timer looks at every read in progress (a
 * timer per request, armed and cleared on every call, cost the tools/list
 * path about a fifth of its throughput), so a read ends up to a second late.
 */
export class BodyDeadlines {
  private readonly reading = new Set<{ since: number; fail: (err: Error) => void }>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly timeoutMs: number) {}

  /** The body as text: decoded, or refused (not UTF-8, too large, too late, the client gone). */
  watch(body: Promise<Uint8Array>): Promise<string> {
    // One promise in place of the decode's and the refusal's: this is on the path of every request.
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    const entry = { since: performance.now(), fail: reject };
    this.reading.add(entry);
    // Unref'd: a read in progress keeps nothing open that its connection does not.
    this.timer ??= setInterval(() => this.expire(), Math.min(1000, this.timeoutMs)).unref();
    body.then(
      (bytes) => {
        this.reading.delete(entry);
        try {
          resolve(decodeMessage(bytes));
        } catch (err) {
          reject(err);
        }
      },
      (err: unknown) => {
        this.reading.delete(entry);
        reject(clientClosed(err));
      },
    );
    return promise;
  }

  private expire(): void {
    const late = performance.now() - this.timeoutMs;
    for (const entry of this.reading) {
      if (entry.since > late) continue;
      this.reading.delete(entry);
      entry.fail(new BodyTimeoutError(this.timeoutMs / 1000));
    }
    if (this.reading.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * A client that hangs up half-way through its body makes the read fail with
 * an AbortError: that is the client's doing, not a server error to log and
 * count as a 500 (a keyed client could flood the error log that way).
 */
function clientClosed(err: unknown): unknown {
  return err instanceof DOMException && err.name === 'AbortError' ? new ClientClosedError() : err;
}

async function readCounted(request: Request, maxBytes: number, reserve: (bytes: number, declared: boolean) => void): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new PayloadTooLargeError(maxBytes);
    reserve(chunk.byteLength, false);
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
