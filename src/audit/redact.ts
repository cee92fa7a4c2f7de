/**
 * Masks secrets before anything is written to the audit log or a log line.
 * Four nets: values under sensitive key names; the server's own API keys,
 * matched literally or, for keys the keys file keeps only as SHA-256 digests,
 * by hashing every run of token characters long enough to be a key; secrets
 * recognised by shape inside strings (bearer tokens, well-known token formats,
 * private-key blocks, URL passwords, `password=…` pairs, auth headers); and
 * argv arrays, where a flag (`--password`, mysql's `-p`) says that the next
 * element, or the rest of this one, is a secret. The string patterns are
 * precompiled, each searched for on its own, and what they find is masked
 * together (masked()); rules that pair a flag with a program named before it
 * are matched up by position, so every pass is linear in the text. The
 * pieces live in ./redact/: the shell's words (shell.ts), what names a secret
 * (names.ts), the patterns (patterns.ts), the program rules for strings
 * (program-flags.ts) and for argv (argv.ts), stdin secrets (stdin.ts), keys
 * by value (key-runs.ts), and how masks are put together (masks.ts).
 * Copies are bounded in depth, breadth, string length and, given a budget,
 * in total size, so one audit line stays small whatever a client sends.
 */

import { AWS_KEY_ID, ArgvPrograms, OPTION_SHAPED, applyMask, maskAwsSecret } from './redact/argv.ts';
import { KEY_RUN, KEY_RUN_TEST, type KeyLookup, MIN_KEY_RUN, cutPoint, keySpan, storeMatcher } from './redact/key-runs.ts';
import { REDACTED, REDACTED_SHELL, masked, noted } from './redact/masks.ts';
import { PATTERN_RULES, type Rule, matchesOf } from './redact/patterns.ts';
import { programFlagMasks } from './redact/program-flags.ts';
import type { Mask } from './redact/programs.ts';
import { CONTINUED_LINE, escapeRegex, joinContinuations, openQuoteAtEnd } from './redact/shell.ts';
import { stdinSecretMasks } from './redact/stdin.ts';

export { digestMatcher, type KeyLookup } from './redact/key-runs.ts';
export { REDACTED, REDACTED_SHELL };

const MAX_DEPTH = 20;
/** Arrays and objects keep their first this many items, then a count of the rest. */
export const MAX_ENTRIES = 1000;
/** Strings longer than this (in UTF-16 units) are cut, with a marker saying how much went. */
export const MAX_STRING = 4096;
/** Shorter configured secrets are not matched by value: they would mask ordinary words. */
const MIN_SECRET_LENGTH = 4;

// Key names whose values are masked whatever they hold ("api_key", "apiKey",
// "private_key", "Authorization", "sessionId"…). Over-masking beats leaking.
// Environment names end so too (`MYSQL_PWD`, `REDISCLI_AUTH`, `GITHUB_PAT`, `DB_PASS`, `PGPASS`, `SMTP_PW`, `NPM_CREDS`).
const SENSITIVE_KEY = /passw(?:or)?d|passphrase|token|secret|key|authori[sz]ation|credential|cookie|session|^auth$|(?:^|[_.-]|pg|ssh|smb)pass$|[_.-](?:pwd|pw|pat|psk|auth|creds?)$/i;
// …except for numbers under a name that counts or measures: `{ keys: 3 }` in
// keys_reloaded, `max_tokens`, `sessionTimeoutMs` say nothing secret.
const COUNT_NAME = /(?:[^s]s|count|total|num|number|len|length|size|limit|max|min|ms|seconds|bytes)$/i;

export interface RedactorOptions {
  /**
   * True when a string is one of the server's API keys; lets keys known only
   * by digest be masked by value. Asked for every run of MIN_KEY_RUN or more
   * token characters, so it must be cheap (a hash and a lookup).
   */
  isKey?: (candidate: string) => boolean;
  /** The server's key store: keys it knows (by digest or in plaintext) are masked by value, across reloads. */
  keyStore?: KeyLookup | null;
}

/** What a copy may still spend, in characters; `redact` decrements it. */
export interface Budget {
  left: number;
}

export class Redactor {
  /** The server's own secrets, matched literally, then the patterns. */
  private rules: Rule[];
  private isKey: ((candidate: string) => boolean) | null;

  /**
   * @param secrets the server's own secrets (API keys…), masked wherever they appear.
   * @param opts.isKey or opts.keyStore recognises keys the server holds only as digests.
   */
  constructor(secrets: readonly string[] = [], opts: RedactorOptions = {}) {
    this.rules = Redactor.compile(secrets);
    this.isKey = opts.isKey ?? (opts.keyStore ? storeMatcher(opts.keyStore) : null);
  }

  /**
   * Masks by value, besides the keys, whatever `test` recognises (the OAuth
   * access tokens the server has seen and holds only as digests). Same rules
   * and cost as the key test: asked for runs of MIN_KEY_RUN or more token characters.
   */
  alsoMask(test: (candidate: string) => boolean): void {
    const keys = this.isKey;
    this.isKey = keys ? (candidate) => keys(candidate) || test(candidate) : test;
  }

  /** Replaces the server secrets (after a keys-file reload added plaintext keys). */
  setSecrets(secrets: readonly string[]): void {
    this.rules = Redactor.compile(secrets);
  }

  /** The rules: the secrets (longest first, so a secret holding another is masked whole), then the patterns. */
  private static compile(secrets: readonly string[]): Rule[] {
    const literal = [...new Set(secrets)]
      .filter((s) => s.length >= MIN_SECRET_LENGTH)
      .sort((a, b) => b.length - a.length)
      .map(escapeRegex);
    return literal.length > 0 ? [{ re: new RegExp(literal.join('|'), 'gi'), rank: 0, sameCommand: false }, ...PATTERN_RULES] : PATTERN_RULES;
  }

  /** Masks secrets inside one string (a log line, an error message); no length limit. */
  redactText(s: string): string {
    const unkeyed = this.isKey === null || !KEY_RUN_TEST.test(s) ? s : s.replace(KEY_RUN, (run) => this.maskKeys(run));
    // Each pattern in a pass of its own (one regex of them all cost twice as much on ordinary text), and the rules
    // that pair a flag with its program or command by position. In text whose commands continue over lines, those
    // rules and the same-command patterns go over a copy where each continuation reads as the shell reads it
    // (`docker login \⏎ -u me \⏎ -p pw`, the shape of a CI step); what they mask is put into the text as written,
    // so a line break stays a line break.
    const shellText = CONTINUED_LINE.test(unkeyed) ? joinContinuations(unkeyed) : unkeyed;
    const masks = this.rules.flatMap((r) => matchesOf(r, r.sameCommand ? shellText : unkeyed));
    return masked(unkeyed, [...masks, ...programFlagMasks(shellText), ...stdinSecretMasks(shellText)]);
  }

  private maskKeys(run: string): string {
    const span = keySpan(run, this.isKey!);
    if (span === null) return run;
    const rest = run.slice(span[1]);
    return `${run.slice(0, span[0])}${REDACTED}${rest.length >= MIN_KEY_RUN ? this.maskKeys(rest) : rest}`;
  }

  /**
   * The start of a string cut at its limit. A cut inside a quoted value took
   * its closing quote (`--password "s3cr…`, `curl -u "me:pw…`): the patterns
   * read a quoted value to its quote, and the value's start would show. The
   * quote left open is closed for them, and taken off again.
   */
  private redactCut(text: string): string {
    const close = openQuoteAtEnd(text);
    if (close === null) return this.redactText(text);
    const out = this.redactText(text + close);
    return out.endsWith(close) ? out.slice(0, -close.length) : out;
  }

  private redactString(s: string, budget: Budget): string {
    const limit = Math.min(MAX_STRING, Math.max(0, budget.left));
    let out: string;
    if (s.length <= limit) out = this.redactText(s);
    else {
      const cut = limit === 0 ? 0 : cutPoint(s, limit);
      out = `${this.redactCut(s.slice(0, cut))}…[truncated ${s.length - cut} chars]`;
    }
    // Charged what was read, not only what is left: a long secret masks down to a few characters, and a thousand
    // of them would otherwise all be read (4 MB of `--password="…"` held the event loop 0.65 s per call).
    budget.left -= Math.max(out.length, Math.min(s.length, limit)) + 3;
    return out;
  }

  /**
   * A redacted deep copy of a JSON-like value: safe to serialise, bounded in
   * size, with cycles and excessive nesting replaced by markers. With a budget
   * (characters, shared across calls) strings are cut and lists end early once
   * it is spent, each with a marker saying how much went.
   * @example redactor.redact({ api_key: 'k', cmd: 'curl -H "Authorization: Bearer abc"' })
   */
  redact(value: unknown, budget: Budget = { left: Number.POSITIVE_INFINITY }): unknown {
    return this.copy(value, 0, budget, null);
  }

  private copy(value: unknown, depth: number, budget: Budget, program: string | null): unknown {
    if (typeof value === 'string') return this.redactString(value, budget);
    // Everything costs something, so even a list of empty lists is bounded by the budget.
    budget.left -= typeof value === 'number' ? 8 : 5;
    if (value === null || value === undefined || typeof value === 'boolean' || typeof value === 'number') return value;
    if (typeof value === 'bigint') return this.redactString(value.toString(), budget);
    if (typeof value !== 'object') return undefined; // functions, symbols: not JSON
    if (depth >= MAX_DEPTH) return '[MAX DEPTH]';
    if (ArrayBuffer.isView(value)) return `[binary, ${value.byteLength} bytes]`;
    const json = (value as { toJSON?: unknown }).toJSON;
    if (typeof json === 'function') return this.copy(json.call(value), depth + 1, budget, program);
    if (value instanceof Error) return { name: value.name, message: this.redactString(value.message, budget) };
    if (Array.isArray(value)) return this.copyArray(value, depth, budget, program);
    const obj = value as Record<string, unknown>;
    // The tool's { command, arguments }: the program decides what its short flags mean.
    const cmd = typeof obj.command === 'string' ? obj.command : null;
    const out: Record<string, unknown> = {};
    const keys = Object.keys(obj);
    for (let n = 0; n < keys.length; n++) {
      if (n >= MAX_ENTRIES || budget.left <= 0) {
        define(out, '…', `[${keys.length - n} more keys]`);
        break;
      }
      const key = keys[n]!;
      const v = obj[key];
      const masked = SENSITIVE_KEY.test(key) && v !== null && v !== undefined && typeof v !== 'boolean' && !(typeof v === 'number' && COUNT_NAME.test(key));
      define(out, this.redactString(key, budget), masked ? REDACTED : this.copy(v, depth + 1, budget, cmd));
    }
    return out;
  }

  private copyArray(value: unknown[], depth: number, budget: Budget, command: string | null): unknown[] {
    const out: unknown[] = [];
    const programs = new ArgvPrograms(command);
    const awsId = value.slice(0, MAX_ENTRIES).some((x) => typeof x === 'string' && AWS_KEY_ID.test(x));
    let mask: Mask | null = null;
    for (let i = 0; i < value.length; i++) {
      if (i >= MAX_ENTRIES || budget.left <= 0) {
        out.push(`[${value.length - i} more items]`);
        break;
      }
      const x = value[i];
      if (typeof x !== 'string') {
        out.push(this.copy(x, depth + 1, budget, null));
        mask = null;
        continue;
      }
      programs.see(x);
      // `--password -- SECRET`: the end of options passes the flag's value on to the next element.
      if (mask !== null && x === '--') {
        out.push(x);
        continue;
      }
      if (mask !== null && OPTION_SHAPED.test(x)) mask = null;
      const found: string | null = mask !== null ? applyMask(mask, x) : (programs.maskAttached(x) ?? maskAwsSecret(x, awsId));
      // What an argv rule masked was part of this element: said to have held shell syntax when the element did.
      const shown: string | null = found === null ? null : found.replaceAll(REDACTED, noted(REDACTED, x));
      out.push(shown ?? this.redactString(x, budget));
      if (shown !== null) budget.left -= shown.length + 3;
      mask = shown === null ? programs.flagMask(x) : null;
    }
    return out;
  }
}

// Plain assignment of "__proto__" would change the copy's prototype instead of
// adding a key; every other key is assigned plainly (defineProperty on each key
// made the copies several times slower to serialise).
function define(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
