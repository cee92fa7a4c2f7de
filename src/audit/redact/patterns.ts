/**
 * The patterns that find secrets by shape inside a string, each searched for
 * on its own, with what each match becomes and its rank among them (where two
 * start at one place, the lower rank decides, as in one regex of them all).
 */
import { type Masked, REDACTED, REDACTED_KEY } from './masks.ts';
import { NAMES, NAME_CHARS, NOT_SECRET_PREFIX, NOT_SECRET_SUFFIX, TOKEN_SHAPES, UID_GID, USER_FLAG_GAP, USER_NAME, WORD_START, userShown } from './names.ts';
import { RANDOM_RUN, randomRunMasked } from './random-runs.ts';
import { GAP, LOOSE_FLAG_VALUE, OPTION_START, VALUE_WORD, emptyQuoted, quoted, quotesOf } from './shell.ts';

/**
 * A value that opens a bracket (`credentials={"user":"bob","pw":"…"}`, `auth=('bob','…')`, `[x7Qp]Zr9…`): masked
 * as one word that may hold quotes and commas, up to 512 characters, never over a space, a command separator, a
 * redirection or a substitution, which would hide the commands or arguments after it. A bare word stops at the
 * first quote, and masked the bracket alone beside a secret left in clear.
 */
const BRACKETED = String.raw`[{(\[](?:[^\s;|&\x60$<>]|\$(?!\()){0,512}`;

/** A line break inside a key block: a real one (a bare CR too), or written as `\n` (a key in an environment variable or in JSON text). */
const KEY_NL = String.raw`(?:\r?\n|\r|\\r\\n|\\n)`;
/**
 * A short base64 line of a key body must end its line (or a quote, escaped or
 * not, must end it): `MIIabc` is one, the word `echo` of `echo done` is not.
 * A run of 16 or more is a key line whatever follows it (`)`, a backquote, a
 * comma): no word of a command is that long a run of base64 characters.
 */
const KEY_LINE_END = String.raw`(?=[ \t]*(?:\r?\n|\r|\\[rn"'\x60]|$|["'\x60]))`;
const KEY_BODY_RUN = '[A-Za-z0-9+/=]{16,4096}(?![A-Za-z0-9+/=])';
/**
 * What follows the BEGIN line of a key block cut before its END line: armor
 * headers (`Proc-Type: 4,ENCRYPTED`, PGP's `Version: …`), then base64 lines, or
 * on one line base64 runs of 16 or more characters (a key whose newlines became
 * spaces), the last one shorter only at the very end. Whatever follows the last
 * such line (the rest of a command, a message) stays readable.
 */
const KEY_TAIL =
  // A body glued to the BEGIN line (its newlines deleted).
  `(?:${KEY_BODY_RUN})?` +
  `(?:${KEY_NL}[A-Za-z][A-Za-z0-9-]{0,40}:[ \t][^\r\n\\\\"']{0,256})*` +
  `(?:${KEY_NL}+[ \t]*(?:${KEY_BODY_RUN}|[A-Za-z0-9+/=]{1,4096}${KEY_LINE_END})|[ \t]+${KEY_BODY_RUN}|[ \t]+[A-Za-z0-9+/=]{1,4096}(?=[ \t]*$))*`;

/**
 * A character of a header value: not a quote, a line end, a space, a
 * backquote or `$(` (a command substitution), nor a `;`, `|` or `&` that a
 * space or the end follows: the shell ends a command there (`echo
 * authorization: none; wget …` keeps its wget), where a value glued on keeps
 * going (`abc|def`, `a;b`).
 */
const HDR_CHAR = String.raw`[^\s"'\x60$;|&]|[;|&](?![\s]|$)|\$(?!\()`;
/** Spaces inside a header value, when no shell operator follows them. */
const HDR_SPACE = String.raw`[ \t]+(?![|&;<>]|\$\(|\x60)(?=[^\s"'])`;
const COOKIE_CHAR = String.raw`[^\s"'\x60$;]|\$(?!\()`;
/** The `;` between two cookies (a `;` or a space before anything else ends the value). */
const COOKIE_SEP = String.raw`[ \t]*;[ \t]*(?=[^\s"';=|&]+=)`;

/**
 * An unquoted value: up to a space, a quote, `&`, `;`, `|`, a redirection, a backquote, `$(` or `${` (where a shell ends
 * the command or runs another: masking past them would hide that command from the log). A `$` otherwise is a
 * character (`Pa$$w0rd`). A comma ends no shell word, so it ends the value only where another setting follows it
 * (`-o user=me,password=pw,uid=0` keeps its uid); `password=Hunter2,Part2` and `password=,Hunter2` are masked
 * whole, up to the 64th comma or `$`. Written as runs of a plain class between a bounded number of separators: an
 * alternation repeated per character cost seconds on a 150 K-character value and, longer, matched nothing at all.
 */
const VALUE_CHAR = String.raw`[^\s"'&,;|<>$\x60]`;
/** A `$` not opening a substitution or an expansion (`${IFS}` spells a space), a comma before no setting and in no brace expansion (`{env,password=1,touch,x}`). */
const NOT_SUBSTITUTION = String.raw`\$(?![({])`;
const VALUE_SEP = String.raw`(?:,(?![A-Za-z_][A-Za-z0-9_.-]{0,64}=)(?![^\s}]*\})|${NOT_SUBSTITUTION})`;
const BARE_VALUE = String.raw`(?:${VALUE_CHAR}|${VALUE_SEP})${VALUE_CHAR}*(?:${VALUE_SEP}${VALUE_CHAR}*){0,64}`;
/** Quoted values, masked to their closing quote, matched as runs of a plain class. */
const DOUBLE_QUOTED = String.raw`"[^"\\\n]*(?:\\.[^"\\\n]*){0,4096}"`;
const ESCAPED_QUOTED = String.raw`\\"[^\\\n]*(?:\\[^"][^\\\n]*){0,4096}\\"`;
const SINGLE_QUOTED = String.raw`'[^'\n]*'`;
const QUOTED_VALUE = String.raw`\$'(?:[^'\\\n]|\\.)*'|${ESCAPED_QUOTED}|${DOUBLE_QUOTED}|${SINGLE_QUOTED}`;

const PATTERNS = [
  // Private-key blocks (PEM, OpenSSH, PGP); an unterminated block (cut output) is masked to the end of its key lines.
  String.raw`(?<pem>-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:(?:(?!-----BEGIN)[\s\S])*?-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|${KEY_TAIL}))`,
  // scheme://user:password@ — the user stays readable; the password runs to the last @ of the authority.
  String.raw`(?<urlUser>\b[a-z][a-z0-9+.-]{0,31}://[^\s:/@]*):(?<urlPass>[^\s/?#]+)@`,
  // scheme://TOKEN@ — a token as the whole user part (git over https takes one so): 20+ token characters with a
  // digit among them, which no user name a person picks looks like.
  String.raw`(?<urlTokenAt>\b[a-z][a-z0-9+.-]{0,31}://)(?=[A-Za-z_.~-]*\d)[A-Za-z0-9_.~-]{20,256}@`,
  // Authorization / Cookie headers: the whole value (every cookie, any scheme's credentials, words and all). A
  // value holds `;`, `|` and `&` glued to its characters (signed cookies, query-like cookies, odd tokens), so those
  // do not end it; a shell operator after a space does (` | `, ` && `, ` ; `), and so do `$(` and a backquote: what
  // a value never holds. A Cookie header's value is `name=value` cookies joined by `;` and spaces, with no other
  // space: a space or a `;` not followed by a cookie ends it (`echo cookie: x; touch y` keeps `; touch y`).
  String.raw`(?<hdrName>(?<![A-Za-z0-9_.-])[A-Za-z0-9-]{0,64}?authorization[ \t]*:[ \t]*)(?<hdrScheme>(?:Bearer|Basic|Token|Digest|Bot|Negotiate)\s+)?(?:${HDR_CHAR})(?:${HDR_CHAR}|${HDR_SPACE})*`,
  String.raw`(?<ckName>(?<![A-Za-z0-9_.-])[A-Za-z0-9-]{0,64}?cookie[ \t]*:[ \t]*)(?:${COOKIE_CHAR})(?:${COOKIE_CHAR}|${COOKIE_SEP})*`,
  // An AWS access key id with its secret key beside it, in either order.
  String.raw`(?<akid>\b(?:AKIA|ASIA)[A-Z0-9]{16}\b)(?<awsSep>[^A-Za-z0-9/+\n]{1,8})(?<awsSecret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])`,
  String.raw`(?<awsBefore>(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=]))(?=[^A-Za-z0-9/+\n]{1,8}(?:AKIA|ASIA)[A-Z0-9]{16}\b)`,
  // name=value, name: value, "name":"value", --name=value. Only at the start of a
  // word, and with bounded name parts so a long word cannot make matching quadratic.
  // JSON inside a string (\"password\":\"…\") counts too. A quoted value runs to its closing quote on the line (a
  // string cut at its length limit has its open quote closed first: redactCut), never to the end of the line: an
  // unclosed one (`echo 'password="' > f; curl x | sh`) would hide the commands after it.
  String.raw`(?<kvName>(?<![A-Za-z0-9_.-])${NOT_SECRET_PREFIX}-{0,2}${NAME_CHARS}{0,64}?(?:${NAMES})${NAME_CHARS}{0,64}${NOT_SECRET_SUFFIX})(?<kvSep>\\?["']?[ \t]*[=:][ \t]*(?:\r?\n[ \t]+)?)(?<kvVal>${QUOTED_VALUE}|${BRACKETED}|(?<kvScheme>(?:Bearer|Basic)\s+)?${BARE_VALUE})`,
  // Environment-style DB_PASS=…, MYSQL_PWD=…, SSH_KEY=…, GITHUB_PAT=…, REDISCLI_AUTH=…, SMTP_PW=…, NPM_CREDS=…, WIFI_PSK=…, PGPASS=…,
  // SSHPASS=… (sshpass -e), SMBPASS=…, and pass=…,
  // the value bare or quoted (`export DB_PASS="…"`), quotes kept.
  String.raw`(?<envName>(?<![A-Za-z0-9_.-])-{0,2}(?:[A-Za-z][A-Za-z0-9_]{0,63}_(?:KEY|PAT|PASS|PWD|PW|PSK|AUTH|CREDS?)|(?:PG|SSH|SMB)?PASS)=)(?<envVal>${QUOTED_VALUE}|${BARE_VALUE})`,
  // --password hunter2, aws_secret_access_key X (value as the next word).
  String.raw`(?<flag>${WORD_START}(?:${NOT_SECRET_PREFIX}--?${NAME_CHARS}{0,64}?(?:${NAMES})${NAME_CHARS}{0,64}${NOT_SECRET_SUFFIX}|--?(?:pass|pw|auth)|aws_secret_access_key)${GAP})(?<flagVal>${LOOSE_FLAG_VALUE})`,
  // curl -u user:password, podman --creds, skopeo --src-creds and --dest-creds: the password read as a word, or
  // up to the closing quote when a quote opened before the user name. A numeric uid:gid (docker -u 1000:1000) is
  // not a password (the replacement keeps it); a numeric password after a name is.
  String.raw`(?<userFlag>${OPTION_START}${USER_FLAG_GAP}(?<userName>${USER_NAME})?:)(?<userPass>${VALUE_WORD})`,
  // In quotes: up to the closing quote on the same line, with no command substitution between.
  String.raw`(?<userFlagDq>${OPTION_START}${USER_FLAG_GAP}\\?"(?<userNameDq>${USER_NAME})?:)(?<userPassDq>(?:[^"\\\n$\x60]|\\[^"\r\n]|\$(?!\())+)(?=\\?")`,
  String.raw`(?<userFlagSq>${OPTION_START}${USER_FLAG_GAP}'(?<userNameSq>${USER_NAME})?:)(?<userPassSq>[^'\n]+)(?=')`,
  // openssl -passin pass:SECRET
  String.raw`(?<osPass>(?<![A-Za-z0-9_])pass:)[^\s"']+`,
  // A signed URL's signature, which works as a bearer credential until the URL expires: S3's and GCS's
  // X-Amz-Signature / X-Goog-Signature, CloudFront's Signature, an Azure SAS's sig. No signature holds a character
  // the shell ends a word at, so the mask stops there (`curl https://h/o?sig=X;rm f` keeps its rm).
  String.raw`(?<qsSig>[?&](?:[A-Za-z0-9_.-]{0,32}signature|sig)=)[^&#\s"'\\;|<>()$\x60]+`,
  // Basic credentials outside an Authorization header (a proxy's message, a copied header value): masked when the
  // word after `Basic` decodes to user:password text, so `Basic authentication` stays.
  String.raw`(?<basic>\bBasic\s+)(?<basicVal>[A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])`,
  String.raw`(?<bearer>\bBearer\s+)[A-Za-z0-9._~+/-]+=*`,
  ...TOKEN_SHAPES,
  // A private key's members in a JWK (`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`, a symmetric `"k"`), in text that
  // names a `kty` (replacement): a 128-bit `k` is 22 characters, short of a random run. JSON inside a string
  // (`\"d\":\"…\"`) and single quotes (a Python dict) too.
  String.raw`(?<jwkName>\\?["'](?:d|p|q|dp|dq|qi|k)\\?["'][ \t]*:[ \t]*\\?["'])[A-Za-z0-9_-]{16,}(?=\\?["'])`,
  // A long run of base64 that reads as random, wherever it stands (random-runs.ts).
  RANDOM_RUN,
];

/** Whether `b64` decodes to printable `user:password` text, as Basic credentials do. */
function isBasicCredentials(b64: string): boolean {
  if (b64.length % 4 === 1) return false;
  let text: string;
  try {
    text = atob(b64);
  } catch {
    return false;
  }
  return /^[\x20-\x7e]+$/.test(text) && text.indexOf(':') > 0;
}

// The regex is case-insensitive for names; a 40-character AWS secret is told
// from a git commit id (40 lowercase hex digits) here, case-sensitively.
export const LOWER_HEX = /^[0-9a-f]+$/;

type Groups = Record<string, string | undefined>;

/** A user flag's text up to its `user:` (`-u bob:`), the user masked when it is a token. */
function withUser(lead: string, user: string): string {
  const shown = userShown(user);
  return shown === user ? lead : `${lead.slice(0, lead.length - user.length - 1)}${shown}:`;
}

/** Armor headers a key block may carry (PEM's encryption headers, PGP's). */
const ARMOR_HEADER = /^(?:Proc-Type|DEK-Info|Version|Comment|Hash|Charset|MessageID):[ \t][^\r\n;|&<>`$]*$/;

/**
 * Whether a key block holds key lines only: one base64 run a line (not starting with `/`, which a path does; or runs
 * of 16 or more joined by spaces, a key whose line breaks became spaces), a
 * short one (the last) holding a digit, a capital, `+` or `=` as key text does and a command name does not, known
 * armor headers, blank lines. Masked whole either way (a key written a line at a time with `echo '…' >> k`, or in
 * `diff` output, is still a key); one that held more says so, since commands between a BEGIN and an END line
 * (`echo -----BEGIN …; touch x; echo -----END …`) are masked with it.
 */
function keyShaped(block: string): boolean {
  const lines = block.split(/\r?\n|\r|\\r\\n|\\n/);
  return lines.every((line) => {
    const text = line.replace(/^-----BEGIN[A-Z0-9 ]*-----/, '').replace(/-----END[A-Z0-9 ]*-----$/, '').trim();
    if (text === '' || ARMOR_HEADER.test(text)) return true;
    // A key whose line breaks became spaces: runs of 16 or more, the last one shorter.
    if (/^(?:[A-Za-z0-9+=][A-Za-z0-9+/=]{15,}[ \t]+)+[A-Za-z0-9+=][A-Za-z0-9+/=]*$/.test(text)) return true;
    if (!/^[A-Za-z0-9+=][A-Za-z0-9+/=]*$/.test(text)) return false;
    return text.length >= 16 || /[0-9A-Z+=]/.test(text);
  });
}

function replacement(match: string, ...rest: unknown[]): string {
  const g = rest[rest.length - 1] as Groups;
  if (g.pem !== undefined) return keyShaped(match) ? REDACTED_KEY : `${REDACTED_KEY.slice(0, -1)}: held more than key lines]`;
  if (g.urlUser !== undefined) {
    // The user stays readable, unless it is a token itself (`https://ghp_…:x-oauth-basic@github.com`).
    const at = g.urlUser.indexOf('://') + 3;
    return `${g.urlUser.slice(0, at)}${userShown(g.urlUser.slice(at))}:${REDACTED}@`;
  }
  if (g.urlTokenAt !== undefined) return `${g.urlTokenAt}${REDACTED}@`;
  if (g.hdrName !== undefined) return `${g.hdrName}${g.hdrScheme ?? ''}${REDACTED}`;
  if (g.ckName !== undefined) return `${g.ckName}${REDACTED}`;
  if (g.akid !== undefined) return `${REDACTED}${g.awsSep}${LOWER_HEX.test(g.awsSecret!) ? g.awsSecret : REDACTED}`;
  if (g.awsBefore !== undefined) return LOWER_HEX.test(g.awsBefore) ? match : REDACTED;
  if (g.kvName !== undefined) {
    const val = g.kvVal ?? '';
    if (emptyQuoted(val)) return match;
    const [open, close] = quotesOf(val);
    return `${g.kvName}${g.kvSep}${open}${g.kvScheme ?? ''}${REDACTED}${close}`;
  }
  if (g.envName !== undefined) return emptyQuoted(g.envVal!) ? match : `${g.envName}${quoted(REDACTED, g.envVal!)}`;
  if (g.flag !== undefined) return emptyQuoted(g.flagVal!) ? match : `${g.flag}${quoted(REDACTED, g.flagVal!)}`;
  if (g.userFlag !== undefined) return UID_GID.test(`${g.userName ?? ''}:${g.userPass}`) ? match : `${withUser(g.userFlag, g.userName ?? '')}${quoted(REDACTED, g.userPass!)}`;
  if (g.userFlagDq !== undefined) return UID_GID.test(`${g.userNameDq ?? ''}:${g.userPassDq}`) ? match : `${withUser(g.userFlagDq, g.userNameDq ?? '')}${REDACTED}`;
  if (g.userFlagSq !== undefined) return UID_GID.test(`${g.userNameSq ?? ''}:${g.userPassSq}`) ? match : `${withUser(g.userFlagSq, g.userNameSq ?? '')}${REDACTED}`;
  if (g.osPass !== undefined) return `${g.osPass}${REDACTED}`;
  if (g.qsSig !== undefined) return `${g.qsSig}${REDACTED}`;
  if (g.basic !== undefined) return isBasicCredentials(g.basicVal!) ? `${g.basic}${REDACTED}` : match;
  if (g.bearer !== undefined) return `${g.bearer}${REDACTED}`;
  if (g.jwkName !== undefined) return /kty/i.test(rest[rest.length - 2] as string) ? `${g.jwkName}${REDACTED}` : match;
  if (g.b64run !== undefined) return randomRunMasked(match, rest[rest.length - 3] as number, rest[rest.length - 2] as string);
  return match.length > 0 ? REDACTED : match;
}

/**
 * The patterns a continuation can split: those that look for a flag
 * elsewhere in the same command, and a secret flag's value (`--password
 * pass\⏎word`). Text with a continuation gets them only over its joined copy,
 * as it gets the rules that pair flags by position.
 */
const SAME_COMMAND = new Set(PATTERNS.filter((p) => p.startsWith('(?<flag>') || p.startsWith('(?<userFlag')));
/**
 * One pattern as it is searched for: its regex, its rank (its place in PATTERNS), whether it looks over
 * continuations, and whether a match `replacement` leaves as written is no match at all (a base64 run or a JWK-shaped
 * member judged by what is around it, not by what it holds: it must not keep the masks of other rules inside it,
 * `--build-arg=TOKEN=ghp_…`, `{"k":"sk-ant-…"}`).
 */
export interface Rule {
  re: RegExp;
  rank: number;
  sameCommand: boolean;
  unmaskedIsNoMatch?: boolean;
}
const UNMASKED_IS_NO_MATCH = /^\(\?<(?:b64run|jwkName)>/;
// The base64 run's class names both cases already; case-insensitive matching made it several times slower.
const CASE_SENSITIVE = new Set(PATTERNS.filter((p) => p.startsWith('(?<b64run>')));
export const PATTERN_RULES: Rule[] = PATTERNS.map((p, i) => ({
  re: new RegExp(p, CASE_SENSITIVE.has(p) ? 'g' : 'gi'),
  rank: i + 1,
  sameCommand: SAME_COMMAND.has(p),
  unmaskedIsNoMatch: UNMASKED_IS_NO_MATCH.test(p),
}));
// A program's flag ranks before a secret flag's name at the same place: `mysql -pPassword123 db` is mysql's `-p` and its
// password, not a flag named for a password whose value is `db`. The here-string and echo rules rank after the others'.
export const PROGRAM_RANK = PATTERNS.findIndex((p) => p.startsWith('(?<flag>')) + 0.5;
export const STDIN_RANK = PATTERNS.findIndex((p) => p.startsWith('(?<osPass>')) + 0.5;
export const USER_PROGRAM_RANK = PATTERNS.findIndex((p) => p.startsWith('(?<osPass>')) + 0.25;

/** Every match of the rule in `text`, with what `replacement` makes of it. */
export function matchesOf({ re, rank, unmaskedIsNoMatch }: Rule, text: string): Masked[] {
  const found = Array.from(text.matchAll(re), (m) => ({ index: m.index, seen: m[0], masked: replacement(m[0], ...m.slice(1), m.index, text, m.groups ?? {}), rank }));
  return unmaskedIsNoMatch === true ? found.filter((f) => f.masked !== f.seen) : found;
}
