/**
 * The server's own keys found by value in text: runs of token characters and
 * their pieces, hashed and looked up; and where a long string may be cut
 * without leaving part of a key.
 */

/** Runs of token characters at least this long are hashed and checked against the key digests. */
export const MIN_KEY_RUN = 16;

// Where to cut a long string: never inside a run of token characters, so a
// secret straddling the limit is not left half-visible and unrecognisable.
const TOKEN_CHAR = /[^\s"'<>,;]/;
/** How far back a cut inside a run longer than the first look-back may go to a place where a key can start. */
const KEY_CUT_LOOKBACK = 512;
export function cutPoint(s: string, limit: number): number {
  let i = limit;
  const floor = Math.max(0, limit - 256);
  while (i > floor && TOKEN_CHAR.test(s[i - 1]!) && TOKEN_CHAR.test(s[i]!)) i--;
  if (i === 0 || !TOKEN_CHAR.test(s[i - 1]!) || !TOKEN_CHAR.test(s[i]!)) return i;
  // Still inside a run: cut where a key piece may start (after a separator, at %XX), so a key is dropped whole, not half shown.
  for (let j = limit; j > Math.max(0, limit - KEY_CUT_LOOKBACK); j--) {
    if (KEY_SEPARATOR.test(s[j - 1]!) || !TOKEN_CHAR.test(s[j - 1]!) || (s[j] === '%' && HEX_PAIR.test(s.slice(j + 1, j + 3)))) return j;
  }
  return i;
}


/** Runs of characters a key can be made of; each run, and its pieces between `=`, `/`, `+`, `~` and `%XX`, is a candidate. */
export const KEY_RUN = new RegExp(`[A-Za-z0-9_\\-.~+/=%]{${MIN_KEY_RUN},}`, 'g');
export const KEY_RUN_TEST = new RegExp(`[A-Za-z0-9_\\-.~+/=%]{${MIN_KEY_RUN}}`);
const HEX_PAIR = /^[0-9A-Fa-f]{2}$/;
const KEY_SEPARATOR = /[=/+~]/;
/** Separators among which pieces spanning separators are tried; past them, only pieces between neighbours. */
const MAX_CUTS = 12;

/**
 * The span of `run` that is a key, or null. Candidates: the run itself and
 * each piece of MIN_KEY_RUN or more characters between two of its `=`/`/`/`+`/`~`/`%XX`
 * separators or its ends (so `--api-key=KEY`, `https://host/KEY/x` and
 * `KEY.` are found). Pieces spanning separators (a key holding `+`, `/` or
 * `=`) are tried only among the first MAX_CUTS separators; past them, each
 * piece between two neighbouring separators is, so the hashing per run stays
 * linear in its length wherever in it the key lies.
 */
export function keySpan(run: string, isKey: (s: string) => boolean): [number, number] | null {
  // starts[k] is where the piece after the k-th separator begins; seps[k] where the (k+1)-th separator is.
  const starts = [0];
  const seps: number[] = [];
  for (let i = 0; i < run.length; i++) {
    const c = run[i];
    if (c === '=' || c === '/' || c === '+' || c === '~') {
      starts.push(i + 1);
      seps.push(i);
    } else if (c === '%' && HEX_PAIR.test(run.slice(i + 1, i + 3))) {
      // URL-encoded text: `a%20b%20KEY`.
      starts.push(i + 3);
      seps.push(i);
    }
  }
  // The run's end, and before a sentence's full stop after a key.
  let trimmed = run.length;
  while (trimmed > 0 && run[trimmed - 1] === '.') trimmed--;
  const tail = trimmed < run.length ? [run.length, trimmed] : [run.length];
  for (let k = 0; k < starts.length; k++) {
    const a = starts[k]!;
    const ends = k <= MAX_CUTS ? [...tail, ...seps.slice(k, Math.max(k + 1, MAX_CUTS))] : k < seps.length ? [seps[k]!] : tail;
    for (const b of ends) {
      if (b - a >= MIN_KEY_RUN && isKey(run.slice(a, b))) return [a, b];
    }
  }
  return null;
}

/**
 * A key test over a set of SHA-256 digests (hex), for callers holding the
 * digests themselves.
 * @example new Redactor([], { isKey: digestMatcher(['9f86d0…']) })
 */
export function digestMatcher(digests: Iterable<string>): (candidate: string) => boolean {
  const set = new Set([...digests].map((d) => d.toLowerCase()));
  const hasher = new Bun.CryptoHasher('sha256');
  return (candidate) => set.size > 0 && set.has(hasher.update(candidate).digest('hex'));
}

/** What the redactor needs of the key store (src/security/keys.ts). */
export interface KeyLookup {
  authenticate(key: string): { ok: boolean; reason?: string };
}

/**
 * The key test for a key store: a candidate that authenticates, or would if
 * its client were enabled, is a key. The store does the hashing and looks up
 * its current digests, so the test follows every reload of the keys file.
 */
export function storeMatcher(store: KeyLookup): (candidate: string) => boolean {
  return (candidate) => {
    const r = store.authenticate(candidate);
    return r.ok || r.reason === 'disabled';
  };
}
