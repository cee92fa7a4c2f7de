/**
 * Masks secrets before anything is written to the audit log or a log line.
 * Two nets: values under sensitive key names, and secrets recognised inside
 * strings (the server's own keys, bearer tokens, well-known token formats,
 * private-key blocks, URL passwords, `password=…` pairs). All string patterns
 * live in one precompiled regex, because this runs on every audit line.
 * Copies are bounded in depth, breadth and string length.
 */

export const REDACTED = '[REDACTED]';
const MAX_DEPTH = 20;
const MAX_ENTRIES = 1000;
/** Strings longer than this (in UTF-16 units) are cut, with a marker saying how much went. */
export const MAX_STRING = 4096;
/** Shorter configured secrets are not matched by value: they would mask ordinary words. */
const MIN_SECRET_LENGTH = 4;

// Key names whose values are masked whatever they hold ("api_key", "apiKey",
// "private_key", "Authorization", "sessionId"…). Over-masking beats leaking.
const SENSITIVE_KEY = /passw(?:or)?d|passphrase|token|secret|key|authori[sz]ation|credential|cookie|session/i;

// Names that, inside free text, introduce a secret value (`password=…`, `--api-key x`).
const NAMES = 'passw(?:or)?d|passphrase|token|secret|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|authorization|cookie|session[_-]?id';
const NAME_CHARS = '[A-Za-z0-9_.-]';
/** An argv element that names a secret and expects it as the next element. */
const SECRET_FLAG = new RegExp(`^--?${NAME_CHARS}*(?:${NAMES})${NAME_CHARS}*$`, 'i');

const PATTERNS = [
  // Private-key blocks; an unterminated block (cut output) is masked to the end.
  String.raw`(?<pem>-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY-----|$))`,
  // scheme://user:password@ — the user stays readable.
  String.raw`(?<urlUser>\b[a-z][a-z0-9+.-]{0,31}://[^\s:/@]*):(?<urlPass>[^\s@/?#]+)@`,
  // name=value, name: value, "name":"value", --name=value. Only at the start of a
  // word, and with bounded name parts so a long word cannot make matching quadratic.
  String.raw`(?<kvName>(?<![A-Za-z0-9_.-])-{0,2}${NAME_CHARS}{0,64}?(?:${NAMES})${NAME_CHARS}{0,64})(?<kvSep>["']?\s*[=:]\s*)(?<kvVal>"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|(?<kvScheme>(?:Bearer|Basic)\s+)?[^\s"'&,;]+)`,
  // --password hunter2 (value as the next word).
  String.raw`(?<flag>(?<![A-Za-z0-9_.-])--?${NAME_CHARS}{0,64}?(?:${NAMES})${NAME_CHARS}{0,64}\s+)(?<flagVal>[^\s"'-][^\s"']*)`,
  String.raw`(?<bearer>\bBearer\s+)[A-Za-z0-9._~+/-]+=*`,
  String.raw`\b(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255})`,
  String.raw`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`,
  String.raw`\bxox[abposr]-[A-Za-z0-9-]{8,}`,
  String.raw`\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`,
];

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

type Groups = Record<string, string | undefined>;

function replacement(match: string, ...rest: unknown[]): string {
  const g = rest[rest.length - 1] as Groups;
  if (g.pem !== undefined) return '[REDACTED PRIVATE KEY]';
  if (g.urlUser !== undefined) return `${g.urlUser}:${REDACTED}@`;
  if (g.kvName !== undefined) {
    const val = g.kvVal ?? '';
    const quote = val.startsWith('"') ? '"' : val.startsWith("'") ? "'" : '';
    return `${g.kvName}${g.kvSep}${quote}${g.kvScheme ?? ''}${REDACTED}${quote}`;
  }
  if (g.flag !== undefined) return `${g.flag}${REDACTED}`;
  if (g.bearer !== undefined) return `${g.bearer}${REDACTED}`;
  return match.length > 0 ? REDACTED : match;
}

// Where to cut a long string: never inside a run of token characters, so a
// secret straddling the limit is not left half-visible and unrecognisable.
const TOKEN_CHAR = /[^\s"'<>,;]/;
function cutPoint(s: string, limit: number): number {
  let i = limit;
  const floor = Math.max(0, limit - 256);
  while (i > floor && TOKEN_CHAR.test(s[i - 1]!) && TOKEN_CHAR.test(s[i]!)) i--;
  return i;
}

export class Redactor {
  private re: RegExp;

  /** @param secrets the server's own secrets (API keys…), masked wherever they appear. */
  constructor(secrets: readonly string[] = []) {
    this.re = Redactor.compile(secrets);
  }

  /** Replaces the server secrets (after a keys-file reload added plaintext keys). */
  setSecrets(secrets: readonly string[]): void {
    this.re = Redactor.compile(secrets);
  }

  private static compile(secrets: readonly string[]): RegExp {
    const literal = [...new Set(secrets)]
      .filter((s) => s.length >= MIN_SECRET_LENGTH)
      .sort((a, b) => b.length - a.length)
      .map(escapeRegex);
    const parts = literal.length > 0 ? [`(?:${literal.join('|')})`, ...PATTERNS] : PATTERNS;
    return new RegExp(parts.join('|'), 'gi');
  }

  /** Masks secrets inside one string (a log line, an error message); no length limit. */
  redactText(s: string): string {
    this.re.lastIndex = 0;
    return s.replace(this.re, replacement);
  }

  private redactString(s: string): string {
    if (s.length <= MAX_STRING) return this.redactText(s);
    const cut = cutPoint(s, MAX_STRING);
    return `${this.redactText(s.slice(0, cut))}…[truncated ${s.length - cut} chars]`;
  }

  /**
   * A redacted deep copy of a JSON-like value: safe to serialise, bounded in
   * size, with cycles and excessive nesting replaced by markers.
   * @example redactor.redact({ api_key: 'k', cmd: 'curl -H "Authorization: Bearer abc"' })
   */
  redact(value: unknown): unknown {
    return this.copy(value, 0);
  }

  private copy(value: unknown, depth: number): unknown {
    if (value === null || value === undefined || typeof value === 'boolean' || typeof value === 'number') return value;
    if (typeof value === 'string') return this.redactString(value);
    if (typeof value === 'bigint') return value.toString();
    if (typeof value !== 'object') return undefined; // functions, symbols: not JSON
    if (depth >= MAX_DEPTH) return '[MAX DEPTH]';
    const json = (value as { toJSON?: unknown }).toJSON;
    if (typeof json === 'function') return this.copy(json.call(value), depth + 1);
    if (value instanceof Error) return { name: value.name, message: this.redactString(value.message) };
    if (Array.isArray(value)) return this.copyArray(value, depth);
    const out: Record<string, unknown> = {};
    let n = 0;
    for (const key of Object.keys(value)) {
      if (n++ >= MAX_ENTRIES) {
        define(out, '…', `[${Object.keys(value).length - MAX_ENTRIES} more keys]`);
        break;
      }
      const v = (value as Record<string, unknown>)[key];
      const masked = SENSITIVE_KEY.test(key) && v !== null && v !== undefined;
      define(out, this.redactString(key), masked ? REDACTED : this.copy(v, depth + 1));
    }
    return out;
  }

  private copyArray(value: unknown[], depth: number): unknown[] {
    const n = Math.min(value.length, MAX_ENTRIES);
    const out: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const prev = i > 0 ? value[i - 1] : undefined;
      // argv style: ["--password", "hunter2"] carries the secret in the next element.
      const afterFlag = typeof prev === 'string' && prev.length <= 128 && SECRET_FLAG.test(prev);
      out[i] = afterFlag && typeof value[i] === 'string' ? REDACTED : this.copy(value[i], depth + 1);
    }
    if (value.length > n) out.push(`[${value.length - n} more items]`);
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
