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
import { plainCanonicalJson } from './chain.ts';

/** Written as it stands (punctuation, a key), not serialised. */
class Text {
  constructor(readonly text: string) {}
}

const OPEN_OBJECT = new Text('{');
const CLOSE_OBJECT = new Text('}');
const OPEN_ARRAY = new Text('[');
const CLOSE_ARRAY = new Text(']');
const COMMA = new Text(',');

/**
 * JSON with object keys sorted, for values as JSON.parse makes them, at any
 * depth: a client chooses how deep its arguments nest (50 000 levels fit in a
 * small request), and a recursive writer would throw there and lose the
 * call's audit line. Members JSON drops (undefined) are dropped; numbers that
 * are not finite are null, as JSON.stringify writes them.
 */
export function canonicalArgumentsJson(value: unknown): string {
  const out: string[] = [];
  const work: unknown[] = [value];
  while (work.length > 0) {
    const item = work.pop();
    if (item instanceof Text) {
      out.push(item.text);
    } else if (Array.isArray(item)) {
      work.push(CLOSE_ARRAY);
      for (let i = item.length - 1; i >= 0; i--) {
        const x: unknown = item[i];
        work.push(x === undefined || typeof x === 'function' || typeof x === 'symbol' ? null : x);
        if (i > 0) work.push(COMMA);
      }
      work.push(OPEN_ARRAY);
    } else if (item !== null && typeof item === 'object') {
      const record = item as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((k) => record[k] !== undefined && typeof record[k] !== 'function' && typeof record[k] !== 'symbol')
        .sort();
      work.push(CLOSE_OBJECT);
      for (let i = keys.length - 1; i >= 0; i--) {
        work.push(record[keys[i]!], new Text(`${JSON.stringify(keys[i])}:`));
        if (i > 0) work.push(COMMA);
      }
      work.push(OPEN_OBJECT);
    } else {
      out.push(typeof item === 'number' && !Number.isFinite(item) ? 'null' : (JSON.stringify(item) ?? 'null'));
    }
  }
  return out.join('');
}

export class ArgumentsDigest {
  /** `key`: the operator's secret (HIDE_AUDIT_ARGUMENTS_KEY, whose schema asks for 32 characters or more). */
  constructor(private readonly key: string) {}

  /** The digest of `args`; key order does not matter (`{"a":1,"b":2}` and `{"b":2,"a":1}` give one digest). */
  of(args: unknown): string {
    // The chain's native path where it applies (several times faster on large arguments); the walk for the rest.
    const text = plainCanonicalJson(args) ?? canonicalArgumentsJson(args);
    // An HMAC hasher is spent by its digest: one per line.
    return new Bun.CryptoHasher('sha256', this.key).update(text).digest('hex');
  }
}
