/**
 * The keyed digest of a tool call's arguments an audit line may carry
 * (`arguments_hmac`): HMAC-SHA256, in hex, of the canonical JSON of the
 * arguments its tool took (the dispatcher says which), before redaction.
 * Redaction masks by shape and a client chooses the shape, so a command can
 * be hidden behind a secret-looking argument; the digest lets whoever holds
 * the key find the calls that ran a suspected command without the log keeping
 * what redaction took out. Keyed, because a plain digest of arguments holding
 * a short secret is reversed by hashing guesses.
 */
import { canonicalJson } from './chain.ts';

export class ArgumentsDigest {
  /** `key`: the operator's secret (HIDE_AUDIT_ARGUMENTS_KEY, whose schema asks for 32 characters or more). */
  constructor(private readonly key: string) {}

  /** The digest of some bytes (content a file tool wrote), under the same key. */
  ofBytes(data: Uint8Array): string {
    return new Bun.CryptoHasher('sha256', this.key).update(data).digest('hex');
  }

  /** The digest of `args`; key order does not matter (`{"a":1,"b":2}` and `{"b":2,"a":1}` give one digest). */
  of(args: unknown): string {
    // An HMAC hasher is spent by its digest: one per line.
    return new Bun.CryptoHasher('sha256', this.key).update(canonicalJson(args)).digest('hex');
  }
}
