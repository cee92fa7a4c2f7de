/**
 * A serialised JSON value that is sent again and again (a tools/list
 * result): its text, for transports that write strings, and its UTF-8 bytes,
 * encoded once, for whole answers built around it.
 */
export class CachedJson {
  private static made = 0;
  /** Tells this value from every other in keys, without comparing 30 kB. */
  readonly serial = CachedJson.made++;
  readonly bytes: Uint8Array;
  constructor(readonly text: string) {
    this.bytes = new TextEncoder().encode(text);
  }
}

/**
 * Whole JSON-RPC answers around cached results, as Blobs, for the ids seen
 * last. Clients use the same few ids (an SDK client's first request after its
 * handshake is id 1), and an answer already built goes out with no copy of
 * its size: a Response shares a Blob's bytes, where it copies a Uint8Array,
 * and a fresh 30 kB body per request, with the garbage collections it brings,
 * cost more than the rest of a tools/list together. Bounded, because ids are
 * the client's to choose: at most MAX answers with ids of at most
 * MAX_ID_LENGTH characters (about 1 MB for the tool list), the oldest made
 * dropped first.
 */
export class CachedAnswers {
  static readonly MAX = 32;
  /** Ids longer than this, as JSON text, are not kept. */
  static readonly MAX_ID_LENGTH = 64;
  private readonly answers = new Map<string, Blob>();

  /** `{"jsonrpc":"2.0","id":ID,"result":RESULT}`; `idJson` is the id as JSON text. */
  get(idJson: string, result: CachedJson): Blob {
    // A long id is built fresh and not kept: ids may run to the body limit, and 32 of them would hold that much each.
    if (idJson.length > CachedAnswers.MAX_ID_LENGTH) return CachedAnswers.build(idJson, result);
    const key = `${result.serial} ${idJson}`;
    let answer = this.answers.get(key);
    if (answer === undefined) {
      answer = CachedAnswers.build(idJson, result);
      if (this.answers.size >= CachedAnswers.MAX) this.answers.delete(this.answers.keys().next().value!);
      this.answers.set(key, answer);
    }
    return answer;
  }

  private static build(idJson: string, result: CachedJson): Blob {
    return new Blob([`{"jsonrpc":"2.0","id":${idJson},"result":`, result.bytes, '}']);
  }
}
