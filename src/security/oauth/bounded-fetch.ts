/**
 * Every request this server makes to an authorization server (discovery, the
 * key set, introspection) goes through here. The URLs come from the operator
 * and from discovery documents, which whoever runs the issuer writes; so
 * only http(s) is followed (a `file:` key set URL would make the server read
 * its own files, and Bun's fetch applies no timeout to them), redirects are
 * not, one deadline covers the whole exchange including the body, and a body
 * larger than any real metadata, key set or introspection answer is cut off
 * rather than held and parsed on the event loop. Answers are taken
 * uncompressed only: Bun inflates a compressed body ahead of the reader, so a
 * 2 KB brotli answer grew past a gigabyte before any cap could count it.
 */

/** A key set of a few dozen keys is a few tens of KiB; nothing an authorization server answers comes near this. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

export class ResponseTooLargeError extends Error {
  constructor(url: string) {
    super(`${url.slice(0, 200)} answered more than ${MAX_RESPONSE_BYTES} bytes`);
  }
}

/** True for a URL this server may fetch from an authorization server: http or https. */
export function isHttpUrl(url: string): boolean {
  try {
    const { protocol } = new URL(url);
    return protocol === 'https:' || protocol === 'http:';
  } catch {
    return false;
  }
}

/**
 * fetch, for http(s) only, without following redirects, with `timeoutMs`
 * covering the body too. The response is returned with its body read (at
 * most MAX_RESPONSE_BYTES): reading it again cannot wait or grow.
 */
export async function boundedFetch(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  if (!isHttpUrl(url)) throw new TypeError(`${url.slice(0, 200)} is not an http(s) URL`);
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = init.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
  const headers = new Headers(init.headers);
  headers.set('accept-encoding', 'identity');
  const res = await fetch(url, { ...init, headers, redirect: 'manual', signal, decompress: false });
  const encoding = res.headers.get('content-encoding');
  if (encoding !== null && encoding.trim().toLowerCase() !== 'identity') {
    await res.body?.cancel().catch(() => {});
    throw new TypeError(`${url.slice(0, 200)} answered compressed (${encoding.slice(0, 40)}) although asked for identity`);
  }
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > MAX_RESPONSE_BYTES) {
    await res.body?.cancel().catch(() => {});
    throw new ResponseTooLargeError(url);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_RESPONSE_BYTES) {
        await reader.cancel().catch(() => {});
        throw new ResponseTooLargeError(url);
      }
      chunks.push(value);
    }
  }
  // A null-body status (204, 304) cannot carry even an empty body.
  const body = [204, 205, 304].includes(res.status) ? null : Buffer.concat(chunks, size);
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}
