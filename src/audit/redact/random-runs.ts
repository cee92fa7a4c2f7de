/**
 * Long runs of base64 that read as random data: a private key's body lines
 * found without their BEGIN line (a key written `echo '…' >> k` a call at a
 * time, or cut before its END line by the string bound), a key or secret
 * encoded whole (`base64 -w0 id_rsa`), a JWK's private members. Which runs are
 * random is told by their characters, not by where they stand; public values
 * of the same shape that an auditor needs (an SSH public key after its type
 * word, a subresource-integrity digest) are told by their context.
 */
import { REDACTED } from './masks.ts';

/**
 * The shortest run masked for looking random: under a key body line's width (PEM's and PuTTY's 64, OpenSSH's 70),
 * so a key re-wrapped (`fold -w 48`) and most keys' last, shorter line are caught too.
 */
const MIN_RUN = 40;
/**
 * The entropy a run needs, in bits a character, by its length: a short run of random characters repeats fewer of
 * them by chance. Of 100,000 random base64 runs, the lowest measured 4.22 bits at 40 characters, 4.36 at 48, 4.63
 * at 60, 4.73 at 64; long identifiers and paths (`AbstractSingletonProxyFactoryBean…`, `src/main/java/com/…`)
 * measure 4.0 to 4.4 at 40 to 100 characters. 4.15 at 40, rising to 4.5 at 64 and staying there.
 */
function minEntropy(length: number): number {
  return length >= 64 ? 4.5 : 4.15 + ((length - MIN_RUN) / (64 - MIN_RUN)) * 0.35;
}

/**
 * A run, standard or URL-safe, with its `=` padding. `=` only at the end: `--from-literal=password=…` is judged by
 * its value, not as one run. No lookaround (it costs the regex its compiled form): matched greedily from its first
 * character, a run is whole.
 */
export const RANDOM_RUN = String.raw`(?<b64run>[A-Za-z0-9+/_-]{${MIN_RUN},}={0,2})`;

/** A segment of four or more lower-case letters alone between slashes (or the run's ends): a path's word. */
const PATH_WORD = /(?<=^|\/)[a-z]{4,}(?=\/|$)/g;

/**
 * Both letter cases, a digit or `+ / - _`, and the entropy its length needs; one alphabet (no encoding mixes the
 * standard `+ /` with the URL-safe `- _`, which paths and names do: `bucket/Object_Name_2`), and fewer than two
 * path words (`auth/kubernetes/role/…`): of 200,000 random 64-character lines, 496 held one and none two.
 */
function readsRandom(run: string): boolean {
  if (!/[a-z]/.test(run) || !/[A-Z]/.test(run) || !/[0-9+/_-]/.test(run)) return false;
  if ((/[+/]/.test(run) && /[-_]/.test(run)) || (run.match(PATH_WORD)?.length ?? 0) >= 2) return false;
  // Every character of a run is ASCII.
  const counts = new Uint32Array(128);
  for (let i = 0; i < run.length; i++) counts[run.charCodeAt(i)]!++;
  let bits = 0;
  for (const n of counts) if (n > 0) bits -= (n / run.length) * Math.log2(n / run.length);
  return bits >= minEntropy(run.length);
}

/**
 * What precedes a public value of the shape, evidence rather than a secret: an OpenSSH public key's type word
 * (authorized_keys, known_hosts lines), a key fingerprint (`SHA256:…`), a Go module hash (`h1:…`).
 */
const PUBLIC_BEFORE = /(?:(?:^|[\s"'])(?:ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-[a-z0-9]+|sk-[a-z0-9-]+@openssh\.com|[a-z0-9-]+-cert-v01@openssh\.com)[ \t]+|(?:SHA256|SHA1|MD5|h1):)$/;
/** A subresource-integrity or package-lock digest. */
const DIGEST_PREFIX = /^sha(?:256|384|512)-/;
/**
 * The characters of a backslash escape a run may start right after (`$'…\nAbc…'`, `\x3b`, `\u003b`, `\U0000003b`,
 * `\073`, echo's `\0073`, `\cJ`): they stay, so the line break or `;` they spell is not hidden in the mask.
 */
const ESCAPE_TAIL = /^(?:x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}|0[0-7]{1,3}|[0-7]{1,3}|c.|.)/;

/**
 * What a run found at `index` of `text` becomes: masked when it reads random, as written otherwise. The characters
 * of an escape it starts with stay (`$'true\n[REDACTED]'`, not `$'true\[REDACTED]'`, which would hide the line break).
 */
export function randomRunMasked(run: string, index: number, text: string): string {
  if (PUBLIC_BEFORE.test(text.slice(Math.max(0, index - 64), index)) || DIGEST_PREFIX.test(run)) return run;
  const kept = text[index - 1] === '\\' ? (ESCAPE_TAIL.exec(run)?.[0] ?? '') : '';
  const rest = run.slice(kept.length);
  const body = rest.replace(/=+$/, '');
  // A path or URL holding a segment that reads random on its own (a webhook's token after `/api/webhooks/123/`, a
  // random directory name) loses that segment only when the rest holds two words or numbers of five or more, which
  // a key line's pieces between its slashes almost never do: the words around it stay. A key's line holds `/` too,
  // at random, and is masked whole.
  const whole = body.length >= MIN_RUN && readsRandom(body);
  if (rest.includes('/')) {
    const segments = rest.split('/');
    const random = segments.map((segment) => {
      const bare = segment.replace(/=+$/, '');
      return bare.length >= MIN_RUN && readsRandom(bare);
    });
    const wordsBeside = segments.filter((segment, i) => !random[i] && /^(?:[a-z]{5,}|[0-9]{5,})$/.test(segment)).length >= 2;
    if (random.includes(true) && (!whole || wordsBeside)) return `${kept}${segments.map((segment, i) => (random[i] ? REDACTED : segment)).join('/')}`;
  }
  return whole ? `${kept}${REDACTED}` : run;
}
