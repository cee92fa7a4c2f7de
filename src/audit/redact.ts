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
 * are matched up by position, so every pass is linear in the text.
 * Copies are bounded in depth, breadth, string length and, given a budget,
 * in total size, so one audit line stays small whatever a client sends.
 */

export const REDACTED = '[REDACTED]';
const MAX_DEPTH = 20;
/** Arrays and objects keep their first this many items, then a count of the rest. */
export const MAX_ENTRIES = 1000;
/** Strings longer than this (in UTF-16 units) are cut, with a marker saying how much went. */
export const MAX_STRING = 4096;
/** Shorter configured secrets are not matched by value: they would mask ordinary words. */
const MIN_SECRET_LENGTH = 4;
/** Runs of token characters at least this long are hashed and checked against the key digests. */
export const MIN_KEY_RUN = 16;

// Key names whose values are masked whatever they hold ("api_key", "apiKey",
// "private_key", "Authorization", "sessionId"…). Over-masking beats leaking.
// Environment names end so too (`MYSQL_PWD`, `REDISCLI_AUTH`, `GITHUB_PAT`, `DB_PASS`, `PGPASS`, `SMTP_PW`, `NPM_CREDS`).
const SENSITIVE_KEY = /passw(?:or)?d|passphrase|token|secret|key|authori[sz]ation|credential|cookie|session|^auth$|(?:^|[_.-]|pg)pass$|[_.-](?:pwd|pw|pat|auth|creds?)$/i;
// …except for numbers under a name that counts or measures: `{ keys: 3 }` in
// keys_reloaded, `max_tokens`, `sessionTimeoutMs` say nothing secret.
const COUNT_NAME = /(?:[^s]s|count|total|num|number|len|length|size|limit|max|min|ms|seconds|bytes)$/i;

// Names that, inside free text, introduce a secret value (`password=…`, `--api-key x`, `BW_SESSION=…`). `auth`
// counts only where no letter follows it: `author`, `authority` and `authenticate` name no secret.
const NAMES =
  'passw(?:or)?d|passphrase|storepass|keypass|token|secret|api[_-]?key|access[_-]?key|private[_-]?key|account[_-]?key|signing[_-]?key|encryption[_-]?key|master[_-]?key|credentials?|authorization|auth(?![a-z])|cookie|session';
const NAME_CHARS = '[A-Za-z0-9_.-]';
/**
 * The start of a word: not after a word character, unless that character ends
 * a JSON escape (`\n`, `\r`, `\t`: a line break or tab in the JSON text of a
 * command, as an error message or a logged script holds it).
 */
const WORD_START = String.raw`(?<![\w.-](?<!\\[nrt]))`;
/**
 * Names built on a secret's name that hold no secret: where it is kept or how
 * to get it (`--password-file PATH`, `--token-path`, `--cookie-jar FILE`,
 * `--password-cmd CMD`, `--password-stdin` with no value at all, `--auth-url`,
 * `token_endpoint`), a measure (`--token-limit 5`, `password_length=20`), a
 * kind (`--auth-type basic`, `--auth-method oidc`), or a negation or bound in
 * front (`--no-password`, `--max-tokens 100`). Their values are paths, URLs,
 * commands, words and numbers, which say what a command did and stay readable.
 */
const NOT_SECRET_SUFFIX = '(?<![-_.]?(?:files?|path|dir|fd|env|var|stdin|cmd|command|helper|jar|prompt|length|len|size|count|limit|ttl|name|url|uri|endpoint|type|method))';
const NOT_SECRET_PREFIX = '(?!-{0,2}(?:no|max|min|num)[-_])';
/** An argv element that names a secret and expects it as the next element. */
const SECRET_FLAG = new RegExp(`^${NOT_SECRET_PREFIX}--?(?:${NAME_CHARS}*(?:${NAMES})${NAME_CHARS}*${NOT_SECRET_SUFFIX}|pass|pw|auth)$`, 'i');
/**
 * An argv element shaped like an option (`--long`, `--name=value`, `-v`): after
 * a secret flag it says the flag took no value (`psql --password --host db`),
 * so it is not masked in the secret's place, and is itself read as a flag.
 * Long options are spelled in lower case: a value such as `--Tr0ub4dor-X` is
 * taken for the secret it more likely is.
 */
const OPTION_SHAPED = /^(?:--[a-z][a-z0-9-]*(?:=.*)?|-[A-Za-z])$/s;
/** A bare setting name followed by its value: `aws configure set aws_secret_access_key X`, `git config github.token X`. */
const SECRET_SETTING = new RegExp(`^[A-Za-z0-9_.:/]*[.:/][A-Za-z0-9_.:/-]*(?:${NAMES})$|^aws_(?:secret_access_key|session_token)$`, 'i');
/** Flags whose value is `user:password` (curl and alike); the user stays readable. */
const USER_FLAGS = String.raw`(?:-u|-U|--user|--proxy-user|--(?:src-|dest-)?creds)`;
const USER_FLAG = new RegExp(`^${USER_FLAGS}$`);
/** In argv, for GROUPED_USER's programs: a group of short flags ending in `u`/`U`, and one with `user:password` glued on after its first `u`/`U`. */
const GROUPED_USER_ARG = /^-[A-Za-z0-9#]+[uU]$/;
const GROUPED_USER_ATTACHED = /^(-[A-Za-z0-9#]*?[uU])(.*:.*)$/s;
/** docker -u 1000:1000 (or -u :1000, a group alone): ids, not a user and password (`admin:123456` is one). */
const UID_GID = /^\d*:\d+$/;

/**
 * Programs whose short flags take a password (flags separated by spaces).
 * `attached`: `-pSECRET`; `next`: `-p SECRET`; `ports`: the flags also take
 * port mappings (docker run -p 8080:80), which stay readable. A program name
 * anywhere in argv switches these rules on (`sudo mysql …`, `docker exec db
 * mysql …`).
 */
const PROGRAMS: [names: string, attached: string, next: string, ports?: boolean][] = [
  ['mysql mysqldump mysqladmin mysqlimport mysqlshow mysqlcheck mysqlslap mariadb mariadb-dump mariadb-admin', '-p', '-p'],
  ['7z 7za 7zz 7zr rar unrar', '-p', ''],
  // -b: cookies (`-b sid=…`), or the file they are read from, which is masked with them.
  ['curl curl.exe', '-u -b', '-b'],
  ['sshpass', '-p', '-p'],
  ['redis-cli valkey-cli keydb-cli', '', '-a'],
  ['zip unzip zipcloak sqlcmd bcp', '-P', '-P'],
  ['mongo mongosh mongodump mongorestore mongoexport mongoimport', '-p', '-p'],
  // Registry clients: -p is always their password (oras pull -u me -p …).
  ['buildah skopeo helm oras crane cosign ko notation regctl', '-p', '-p'],
  // Container CLIs whose run/create publish ports with -p.
  ['docker podman podman-remote nerdctl finch', '-p', '-p', true],
  ['ldapsearch ldapmodify ldapadd ldapdelete ldapmodrdn ldapcompare ldapwhoami ldappasswd ldapexop', '-w', '-w'],
  // -k a password, -K a key in hex (enc).
  ['openssl', '', '-k -K'],
  // -N the new passphrase, -P the old one.
  ['ssh-keygen', '-N -P', '-N -P'],
  ['twine', '-p', '-p'],
];
interface ProgramFlags {
  attached: readonly string[];
  next: readonly string[];
  ports: boolean;
  /** `-u user:password` also at the end of a group of short flags (`curl -su admin:pw`, `-fsSLkvvu`). */
  groupedUser: boolean;
}
/** Programs whose short flags group, `-u` (or `-U`) among them taking user:password. */
const GROUPED_USER = new Set(['curl', 'curl.exe']);
const flagList = (flags: string): string[] => flags.split(' ').filter((f) => f !== '');
const PROGRAM_FLAGS = new Map<string, ProgramFlags>(
  PROGRAMS.flatMap(([names, attached, next, ports]) =>
    names.split(' ').map((n) => [n, { attached: flagList(attached), next: flagList(next), ports: ports ?? false, groupedUser: GROUPED_USER.has(n) }] as const),
  ),
);
/** `8080:80`, `127.0.0.1:53:53/udp`, `[::1]:80:80`, and ranges (`8000-8010:8000-8010`). */
const PORT_MAPPING = /^[\d.:[\]](?:[\d.:[\]]|-(?=\d))*(?:\/(?:tcp|udp|sctp))?$/;
/**
 * After `login` (`docker login`, `podman login`) the flag that elsewhere
 * publishes a port takes a password, which may look like a port
 * (`-p 123456`): there it is always masked.
 */
const LOGIN_WORD = 'login';

/**
 * What may not start a flag's value: `-x` is the next option, and neither a
 * redirection from stdin (`< file`, `<<< word`) nor a lone operator (`;`,
 * `&&`) is a value. A backslash before a line break never starts one (the gap
 * before the value takes it).
 */
const VALUE_LEAD = String.raw`(?![-\s]|<<<|<\s|\\\r?\n|[;&|]+(?:\s|$))`;
/**
 * A quoted part of a word: $'…' (ANSI-C), '…', "…", or \"…\" inside JSON
 * text. Double quotes holding a command substitution (`$(…)`, a backtick) are
 * none: the shell runs it, and the log should say how the secret was got.
 * Nor is a quote followed by a space or an operator: it closes the string the
 * flag sat in (`sh -c "mysql -p"; echo "done"`, mysql asking for the
 * password), and read as opening one it would take the commands after it.
 */
const QUOTED_PART = String.raw`\$'(?:[^'\\\n]|\\.)*'|'(?![\s;&|)])[^'\n]*'|"(?![\s;&|)])(?:[^"\\\n$\x60]|\\.|\$(?!\())*"|\\"(?![\s;&|)])(?:[^\\\n$\x60]|\\[^"]|\$(?!\())*\\"`;
/**
 * A quoted part glued on after the first part of a value (`'x'y"z"`): only
 * word characters inside. A quote right after a value most often closes a
 * string the flag sat in (`sh -c "mysql -pX"; rm -rf "dir"`); read as the
 * start of a part, it carried the mask over the commands up to the next
 * quote, and hid them from the audit log.
 */
const GLUED_QUOTED_PART = String.raw`\$'[^\s"'\\;&|<>(){},:\x60]*'|'[^\s"'\\;&|<>(){},:\x60]*'|"[^\s"'\\;&|<>(){},:\x60]*"|\\"[^\s"'\\;&|<>(){},:\x60]*\\"`;
/**
 * An unquoted part: an escaped character (`a\ b`, and `\\&` in JSON text,
 * where the shell reads `\&`), a continuation inside the
 * word (`pass\⏎word`: before anything but a space it glues the word on), or
 * any other character but a space, a quote, a backslash, a backtick, the `$`
 * of `$'` or `$(`, and `;`, `&`, `|`, where the shell ends a word: `mysql
 * -ppw;rm -rf x` keeps its rm. A value may start with one (VALUE_WORD): in
 * plain text, such as an error message, that is a password's character.
 */
const BARE_PART = String.raw`\\(?:\\[;&|]|[^"\r\n])|\\\r?\n(?=\S)|[^\s"'\\$;&|\x60]|\$(?!['(])`;
/**
 * A flag's value in a command string, as the shell reads one word: bare and
 * quoted parts glued together, quoted ones after the first only as
 * GLUED_QUOTED_PART allows. Each part starts with a character no other part
 * starts with, so a failed match backtracks little.
 */
const VALUE_FIRST_PART = String.raw`${QUOTED_PART}|${BARE_PART}|[;&|]`;
const VALUE_LATER_PARTS = String.raw`(?:${GLUED_QUOTED_PART}|${BARE_PART})*`;
const VALUE_WORD = String.raw`(?:${VALUE_FIRST_PART})${VALUE_LATER_PARTS}`;
/**
 * The word echo or printf pipes into a command reading a secret on stdin: any
 * quoted part may be glued on (`echo S3cr3t'x y' | sudo -S …`), as the
 * look-ahead for the pipe and its command bounds the value.
 */
const PIPED_WORD = String.raw`${VALUE_LEAD}(?:${QUOTED_PART}|${BARE_PART})+`;
const FLAG_VALUE = VALUE_LEAD + VALUE_WORD;
/**
 * FLAG_VALUE that may also start with a JSON-escaped quote left open
 * (`--token \"abc` in JSON text of a command cut short): two ways to read
 * `\"…\"`, so only for patterns that end with the value, where the first
 * reading that matches is the answer; before a look-ahead every reading would
 * be tried.
 */
const LOOSE_FLAG_VALUE = String.raw`${VALUE_LEAD}(?:${VALUE_FIRST_PART}|\\")${VALUE_LATER_PARTS}`;
/**
 * Where an option starts: after a space, a quote or a backslash (`\-p` is
 * `-p` to the shell; a continuation glued to the word before reads so in the
 * joined copy), or after a JSON escape's letter (`mysql\t-pX` in JSON text).
 */
const OPTION_START = String.raw`(?<![^\s"'\\](?<!\\[nrt]))`;
/** A flag that takes `user:password`, and what joins it to the value in a command string. */
const USER_FLAG_GAP = String.raw`${USER_FLAGS}(?:\s*|=)`;
const USER_NAME = String.raw`[^\s:"'\\-][^\s:"'\\]*`;
/**
 * What follows curl's grouped `-…u` (after a gap, or glued on), read as the
 * `-u` patterns read theirs: `user:password` as a word, or in double or
 * single quotes, or the password alone quoted (`admin:"my pass"`).
 */
const GROUPED_USER_VALUE = new RegExp(
  String.raw`(?:\s*|=)(?:\\?"(?<userDq>${USER_NAME})?:(?<passDq>(?:[^"\\\n$\x60]|\\[^"\r\n]|\$(?!\())+)(?=\\?")|'(?<userSq>${USER_NAME})?:(?<passSq>[^'\n]+)(?=')|(?<user>${USER_NAME})?:(?<pass>${VALUE_WORD}))`,
  'y',
);
/**
 * Spaces between a flag and its value within one command: a line break only
 * as a continuation's, never a JSON line-break escape, so a flag at the end of
 * a line takes nothing from the next line, another command (`psql
 * --password⏎rm -rf x` keeps the rm). The backslash of `\t` in JSON text is
 * taken, not that of a JSON-escaped quote (`\"`, which opens the value). Each
 * character is read one way only: a gap that could be split in several made a
 * run of spaces after a flag cost quadratic time. Commands continued over
 * lines are read from a copy with the continuations joined (joinContinuations).
 */
const GAP = String.raw`(?:[ \t]|\\\r?\n|\\(?![\s"nr]))+`;
/**
 * How far before a flag its program may be named in the same command (and how
 * far apart a here-string or an echo and the flag that reads it may be): a
 * word that far back most likely belongs to another command's text.
 */
const PROGRAM_REACH = 256;

const QUOTES: [open: string, close: string][] = [
  ['\\"', '\\"'],
  ['"', '"'],
  ["$'", "'"],
  ["'", "'"],
];

/** The quotes around a value that is one quoted part (`\"` inside JSON text), or none. */
function quotesOf(value: string): [open: string, close: string] {
  for (const [open, close] of QUOTES) {
    if (value.length >= open.length + close.length && value.startsWith(open) && value.endsWith(close)) return [open, close];
  }
  return ['', ''];
}

/**
 * A value that is only quotes (`ssh-keygen -N ""`, `--password ''`): no
 * secret, and the log should say none was given, which is what an auditor
 * looks for.
 */
function emptyQuoted(value: string): boolean {
  const [open, close] = quotesOf(value);
  return open !== '' && value.length === open.length + close.length;
}

/** The value without its quotes. */
function unquoted(value: string): string {
  const [open, close] = quotesOf(value);
  return value.slice(open.length, value.length - close.length);
}

/** A span of a string and what it becomes once masked (the same text when nothing in it is secret). */
interface Masked {
  index: number;
  seen: string;
  masked: string;
  /** Which rule found it: where two start at one place, the lower rank is taken first, as in one regex of them all. */
  rank: number;
}

/** Where a listed program, or `login`, is named: as a word, in any case (`MySQL`). */
const PROGRAM_OR_LOGIN = new RegExp(`${WORD_START}(?:${[...PROGRAM_FLAGS.keys(), LOGIN_WORD].map(escapeRegex).join('|')})(?![\\w.-])`, 'gi');
/** Every short flag some listed program gives a meaning, as an option, with the value attached or after a gap. */
const SHORT_FLAGS = [...new Set([...PROGRAM_FLAGS.values()].flatMap((f) => [...f.attached, ...f.next]))];
const SHORT_FLAG = new RegExp(`${OPTION_START}(?:${SHORT_FLAGS.map(escapeRegex).join('|')})`, 'g');
/** A group of short flags ending in `u` or `U` (the first of them; a bare `-u` is USER_FLAGS'), for GROUPED_USER's programs. */
const GROUPED_USER_FLAG = new RegExp(`${OPTION_START}-[A-Za-z0-9#]+?[uU]`, 'g');
/** A flag's value where it starts, and the gap before a value that is not glued on: read only where a program wants one. */
const VALUE_HERE = new RegExp(LOOSE_FLAG_VALUE, 'y');
const GAP_HERE = new RegExp(GAP, 'y');
const SEPARATOR = /[\n;&|]/;

/** A program or `login` named in a command string, in the order they appear. */
interface Named {
  end: number;
  /** null for `login` */
  flags: ProgramFlags | null;
  /** How many logins, and how many programs taking a grouped `-u`, are named before this one: compared, not counted again. */
  loginsBefore: number;
  groupedBefore: number;
}

/**
 * The program rules for command lines held in one string (`sh -c "mysql
 * -psecret"`): a short flag is a program's password flag when that program is
 * named before it in the same command (no line break, `;`, `&` or `|`
 * between) and at most PROGRAM_REACH characters before it. Programs and flags
 * are each found in one pass and matched up by position, so the cost is linear
 * in the text: a look-back from every flag over the reach, tried for every
 * program name, made a 4 KiB string of `-p ` cost 12 ms.
 */
function programFlagMasks(text: string): Masked[] {
  const named: Named[] = [];
  let logins = 0;
  let grouped = 0;
  for (const m of text.matchAll(PROGRAM_OR_LOGIN)) {
    const flags = PROGRAM_FLAGS.get(m[0].toLowerCase()) ?? null;
    // A login before any program changes nothing.
    if (flags === null && named.length === 0) continue;
    named.push({ end: m.index + m[0].length, flags, loginsBefore: logins, groupedBefore: grouped });
    if (flags === null) logins++;
    else if (flags.groupedUser) grouped++;
  }
  if (named.length === 0) return [];
  // Past the last: how many of each were named in all.
  const total = { loginsBefore: logins, groupedBefore: grouped };
  const before = (i: number) => named[i] ?? total;
  const masks: Masked[] = [];
  scanFlags(text, named, SHORT_FLAG, PROGRAM_REACH, (at, flag, lo, hi) => {
    // The value is read only where a program named here wants one, glued on or after a gap, and a masked one is
    // skipped: read for every flag and looked at again when it was no secret, a word full of flags cost quadratic time.
    const mask = flagMask(text, at + flag.length, flagVerdict(named, before, lo, hi, flag, true), flagVerdict(named, before, lo, hi, flag, false));
    if (mask === null) return null;
    // curl's `-u` ranks after the user:password patterns, which read a quoted password and keep the user; where they
    // read nothing (`-u:PAT`, `-u'CORP\\jdoe:pw'`), the whole value is masked here.
    masks.push({ index: at, seen: text.slice(at, mask.end), masked: `${text.slice(at, mask.end - mask.value.length)}${quoted(REDACTED, mask.value)}`, rank: flag === '-u' ? USER_PROGRAM_RANK : PROGRAM_RANK });
    return mask.end;
  });
  if (grouped === 0) return masks;
  // Anywhere before it in its command: a curl call's options run long (`-d '<a JSON body>' -su admin:pw`).
  scanFlags(text, named, GROUPED_USER_FLAG, Number.POSITIVE_INFINITY, (at, flag, lo, hi) => {
    if (before(hi).groupedBefore === before(lo).groupedBefore) return null;
    GROUPED_USER_VALUE.lastIndex = at + flag.length;
    const m = GROUPED_USER_VALUE.exec(text);
    if (m === null) return null;
    const g = m.groups!;
    // The user may be empty: `-su :PAT` (a token as the password, as Azure DevOps takes it).
    const [user, pass] = [g.userDq ?? g.userSq ?? g.user ?? '', g.passDq ?? g.passSq ?? g.pass!];
    const end = GROUPED_USER_VALUE.lastIndex;
    if (UID_GID.test(`${user}:${unquoted(pass)}`)) return end;
    const lead = text.slice(at, end - pass.length - user.length - 1);
    masks.push({ index: at, seen: text.slice(at, end), masked: `${lead}${userShown(user)}:${quoted(REDACTED, pass)}`, rank: PROGRAM_RANK });
    return end;
  });
  return masks;
}

/**
 * Calls `visit` for every match of `re` (global) in `text`, with the range
 * named[lo..hi) of the programs named before it in its command and within
 * `reach` characters; a position `visit` returns is where the search goes on.
 */
function scanFlags(text: string, named: readonly Named[], re: RegExp, reach: number, visit: (at: number, flag: string, lo: number, hi: number) => number | null): void {
  let lo = 0;
  let hi = 0;
  let commandStart = 0;
  let scanned = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const at = m.index;
    for (; scanned < at; scanned++) if (SEPARATOR.test(text[scanned]!)) commandStart = scanned + 1;
    while (hi < named.length && named[hi]!.end <= at) hi++;
    const from = Math.max(commandStart, at - reach);
    while (lo < hi && named[lo]!.end < from) lo++;
    const end = visit(at, m[0], lo, hi);
    if (end !== null) re.lastIndex = end;
  }
}

/** `user:password` (quoted or not) with the password masked, the user too when it is a token; null without a colon or for a uid:gid. */
function maskUserPass(value: string): string | null {
  const [open, close] = quotesOf(value);
  const inner = unquoted(value);
  const colon = inner.indexOf(':');
  if (colon < 0 || UID_GID.test(inner)) return null;
  return `${open}${userShown(inner.slice(0, colon))}:${REDACTED}${close}`;
}

/**
 * The value after a flag ending at `after` that is a secret: glued on where
 * `attached` says so, else after a gap where `next` does; null when there is
 * none (no value, only quotes, a port mapping where that is allowed).
 */
function flagMask(text: string, after: number, attached: Mask | null, next: Mask | null): { value: string; end: number } | null {
  for (const [verdict, gap] of [[attached, false], [next, true]] as const) {
    if (verdict === null) continue;
    let at = after;
    if (gap) {
      GAP_HERE.lastIndex = after;
      if (GAP_HERE.exec(text) === null) continue;
      at = GAP_HERE.lastIndex;
    }
    VALUE_HERE.lastIndex = at;
    const value = VALUE_HERE.exec(text)?.[0];
    if (value === undefined) continue;
    if (emptyQuoted(value) || (verdict === 'unlessPort' && PORT_MAPPING.test(unquoted(value)))) return null;
    return { value, end: at + value.length };
  }
  return null;
}

/**
 * What the programs named[lo..hi) make of `flag`'s value: a secret, a secret
 * unless it is a port mapping (docker run -p 8080:80), or nothing. After
 * `login` (docker login -p 123456) a port-publishing program's flag takes a
 * password whatever it looks like.
 */
function flagVerdict(named: readonly Named[], before: (i: number) => Pick<Named, 'loginsBefore'>, lo: number, hi: number, flag: string, attached: boolean): Mask | null {
  let verdict: Mask | null = null;
  for (let k = lo; k < hi; k++) {
    const p = named[k]!.flags;
    if (p === null || !(attached ? p.attached : p.next).includes(flag)) continue;
    // A login named after this program and before the flag.
    if (!p.ports || before(hi).loginsBefore > before(k + 1).loginsBefore) return 'all';
    verdict = 'unlessPort';
  }
  return verdict;
}

/**
 * `text` with every mask put in. Masks are found by several passes over the
 * text (or over a copy of the same length with its continuations joined), and
 * spans of different passes may overlap: each mask's secret is the part of
 * its span it changes (what it keeps of the span, a flag or a quote, is left
 * as written), and secrets that overlap are masked as one. Nothing any pass
 * found is shown, whichever pass found it.
 */
function masked(text: string, masks: Masked[]): string {
  const secrets: { from: number; to: number; with: string }[] = [];
  // A match inside another's span, or starting where a rule of lower rank matched, is dropped, as one regex of them
  // all would never have tried it: that one decided what of its span is secret (`Authorization: Token x` keeps
  // `Token`, which `authorization: value` would mask; `Authorization: Bearer t| tee` keeps the pipe).
  masks.sort((x, y) => x.index - y.index || x.rank - y.rank);
  let covered = 0;
  let lastStart = -1;
  for (const { index, seen, masked: m } of masks) {
    const end = index + seen.length;
    if (end <= covered || index === lastStart) continue;
    covered = Math.max(covered, end);
    lastStart = index;
    if (m === seen) continue;
    let head = 0;
    while (head < m.length && head < seen.length && m[head] === seen[head]) head++;
    let tail = 0;
    while (tail < m.length - head && tail < seen.length - head && m[m.length - 1 - tail] === seen[seen.length - 1 - tail]) tail++;
    secrets.push({ from: index + head, to: end - tail, with: m.slice(head, m.length - tail) });
  }
  if (secrets.length === 0) return text;
  secrets.sort((x, y) => x.from - y.from || y.to - x.to);
  let out = '';
  let at = 0;
  for (let i = 0; i < secrets.length; ) {
    let { from, to, with: w } = secrets[i++]!;
    for (; i < secrets.length && secrets[i]!.from < to; i++) {
      if (secrets[i]!.to > to) w = REDACTED;
      to = Math.max(to, secrets[i]!.to);
    }
    out += text.slice(at, from) + w;
    at = to;
  }
  return out + text.slice(at);
}

/** Every match of `re` in `text`, with what `replacement` makes of it. */
function matchesOf(re: RegExp, rank: number, text: string): Masked[] {
  return Array.from(text.matchAll(re), (m) => ({ index: m.index, seen: m[0], masked: replacement(m[0], ...m.slice(1), m.index, text, m.groups ?? {}), rank }));
}

/**
 * What says a command reads a password or token from stdin: `--password-stdin`
 * (docker login and the registry clients), `--pass-stdin` (regctl),
 * `--with-token` (gh), `--passphrase-fd 0` (gpg), `sudo -S`, `passwd --stdin`,
 * `chpasswd` (user:password lines) and `htpasswd -i`. Every repeat is
 * bounded and short: this runs inside a look-ahead at many places, and an
 * option word that could be cut in many ways (`-SSS…`) made a 4 KiB string
 * cost seconds. The words between `sudo` and `-S` are taken lazily, so that a
 * scan for these flags ends each at its first `-S`, as close as it can be to a
 * here-string after it (`sudo -S<<<pw sudo -S`).
 */
const STDIN_SECRET_FLAG = String.raw`${WORD_START}(?:--(?:pass(?:word)?-stdin|with-token)|--passphrase-fd[ \t=]0|chpasswd|passwd[ \t]+--stdin|sudo(?:[ \t]+(?:-{1,2}[A-Za-z]\S{0,40}|[^\s;&|<>-]\S{0,64})){0,6}?[ \t]+(?:-[A-Za-z]{0,3}S[A-Za-z]{0,3}|--stdin)|htpasswd(?:[ \t]+(?:-[A-Za-z]{1,8}|[^\s;&|<>-]\S{0,64})){0,6}?[ \t]+-[A-Za-z]{0,4}i[A-Za-z]{0,4})(?![\w-])`;
/**
 * Spaces after `<<<`, continuations among them. A backslash is taken only as a
 * continuation's: were it also a value's escape, a run of them could be split
 * between the two in every way, each tried against the look-ahead for the flag
 * (seconds for 4 KiB of backslashes).
 */
const HERE_GAP = String.raw`(?:[ \t]|\\\r?\n)*`;
const STDIN_SECRET_FLAG_RE = new RegExp(STDIN_SECRET_FLAG, 'gi');
/** Exactly three `<`: a run of them is no here-string. Its gap and value are read only where it is paired with a flag. */
const HERE_STRING = /(?<!<)<<<(?!<)/g;
const HERE_VALUE = new RegExp(String.raw`${HERE_GAP}(?<value>${LOOSE_FLAG_VALUE})`, 'y');
/** `echo` or `printf` (`printf -- '%s\n' pw`) and its one word, piped (after up to three redirections) into a command. */
const PIPED_ECHO = new RegExp(
  String.raw`${WORD_START}(?:echo|printf)(?:[ \t]+-[neE]{1,3})*(?:[ \t]+--)?[ \t]+(?:(?:'%s[^'\n]{0,8}'|"%s[^"\n]{0,8}"|%s(?:\\{1,2}[rn]){0,2})[ \t]+)?(?<value>${PIPED_WORD})(?=(?<pipe>(?:[ \t]*[0-9]?>{1,2}&?[^\s|;&<>]{0,64}){0,3}[ \t]*\|&?)(?!\|))`,
  'gi',
);
const SEPARATORS = /[\n;&|]/g;

/** Index of the first of `sorted` (ascending) that is at least `n`; its length when none is. */
function firstAtLeast(sorted: readonly number[], n: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < n) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The secret handed on stdin to a command that reads one there, in a command
 * string: a here-string after its flag (`docker login --password-stdin <<<
 * pw`), or before it when `<<<` starts a word (`gh auth login <<< tok
 * --with-token`); or the one word an `echo` or `printf` pipes into it (`echo
 * pw | docker login -u me --password-stdin`). The flag must be in the same
 * command and within PROGRAM_REACH characters. Flags, here-strings and echoes
 * are each found in one pass and paired by position: a look-back or look-ahead
 * over the reach from every `<<<` made a 4 KiB string of them cost 3.5 ms, 45
 * ms for the strings of one call.
 */
function stdinSecretMasks(text: string): Masked[] {
  const starts: number[] = [];
  const ends: number[] = [];
  // Every place a flag starts, even inside another's match (`sudo x sudo -S`): the search goes on from the next character.
  STDIN_SECRET_FLAG_RE.lastIndex = 0;
  for (let m = STDIN_SECRET_FLAG_RE.exec(text); m !== null; m = STDIN_SECRET_FLAG_RE.exec(text)) {
    starts.push(m.index);
    ends.push(m.index + m[0].length);
    STDIN_SECRET_FLAG_RE.lastIndex = m.index + 1;
  }
  if (starts.length === 0) return [];
  ends.sort((x, y) => x - y);
  const separators = Array.from(text.matchAll(SEPARATORS), (m) => m.index);
  const sameCommand = (from: number, to: number): boolean => (separators[firstAtLeast(separators, from)] ?? Number.POSITIVE_INFINITY) >= to;
  const flagEndsBefore = (at: number): boolean => {
    const last = firstAtLeast(ends, at + 1) - 1;
    return last >= 0 && ends[last]! >= at - PROGRAM_REACH && sameCommand(ends[last]!, at);
  };
  const flagStartsAfter = (at: number): boolean => {
    const next = starts[firstAtLeast(starts, at)];
    return next !== undefined && next <= at + PROGRAM_REACH && sameCommand(at, next);
  };
  const masks: Masked[] = [];
  const mask = (m: RegExpExecArray) => {
    const value = m.groups!.value!;
    masks.push({ index: m.index, seen: m[0], masked: `${m[0].slice(0, m[0].length - value.length)}${quoted(REDACTED, value)}`, rank: STDIN_RANK });
  };
  // A here-string's value is read only once it is paired with a flag, and a masked one is skipped: read for every
  // `<<<` and looked at again when unpaired, a word full of them cost quadratic time.
  HERE_STRING.lastIndex = 0;
  for (let m = HERE_STRING.exec(text); m !== null; m = HERE_STRING.exec(text)) {
    const wordStart = m.index === 0 || /[\s"']/.test(text[m.index - 1]!);
    if (!flagEndsBefore(m.index) && !(wordStart && flagStartsAfter(m.index + 3))) continue;
    HERE_VALUE.lastIndex = m.index + 3;
    const v = HERE_VALUE.exec(text);
    if (v === null) continue;
    const value = v.groups!.value!;
    const end = HERE_VALUE.lastIndex;
    masks.push({ index: m.index, seen: text.slice(m.index, end), masked: `${text.slice(m.index, end - value.length)}${quoted(REDACTED, value)}`, rank: STDIN_RANK });
    HERE_STRING.lastIndex = end;
  }
  // What follows an echo that hands nothing to such a command is looked at again: its word may hold one that does
  // (`sh -c "echo pw | sudo -S x"`).
  PIPED_ECHO.lastIndex = 0;
  for (let m = PIPED_ECHO.exec(text); m !== null; m = PIPED_ECHO.exec(text)) {
    if (flagStartsAfter(m.index + m[0].length + m.groups!.pipe!.length)) mask(m);
    else PIPED_ECHO.lastIndex = m.index + 1;
  }
  return masks;
}

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
 * Well-known token formats: GitHub, GitLab, OpenAI/Anthropic (sk-, sk-proj-, sk-ant-), Stripe, Google, Slack, npm,
 * PyPI, Hugging Face, SendGrid, DigitalOcean, Shopify, Vault, AWS key ids, JWTs (three base64url parts, the header
 * always starting {", eyJ).
 */
const TOKEN_SHAPES = [
  String.raw`\b(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255})`,
  String.raw`\bgl(?:pat|ptt|dt|rt|cbt|soat|ffct|agent|oas)-[A-Za-z0-9_-]{20,}`,
  String.raw`\bsk-(?=[A-Za-z0-9_-]{0,200}\d)[A-Za-z0-9_-]{20,}`,
  String.raw`\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}`,
  String.raw`\bAIza[0-9A-Za-z_-]{35}`,
  String.raw`\bxox[abposre]-[A-Za-z0-9-]{8,}|\bxapp-\d-[A-Za-z0-9-]{8,}|hooks\.slack\.com/services/[A-Za-z0-9/_-]+`,
  String.raw`\bnpm_[A-Za-z0-9]{36}\b|\bpypi-[A-Za-z0-9_-]{50,}|\bhf_[A-Za-z0-9]{30,}`,
  String.raw`\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}|\bdop_v1_[a-f0-9]{64}|\bshp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}|\bhv[sbr]\.[A-Za-z0-9_-]{20,}`,
  String.raw`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`,
  String.raw`\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`,
];
/** Whether a word starts with a token of a known shape: a user name that is one (`curl -u ghp_…:x-oauth-basic`) is masked too. */
const TOKEN_SHAPE = new RegExp(`^(?:${TOKEN_SHAPES.join('|')})`, 'i');
/** The user part of `user:password` as the log shows it. */
const userShown = (user: string): string => (TOKEN_SHAPE.test(user) ? REDACTED : user);

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
  String.raw`(?<kvName>(?<![A-Za-z0-9_.-])${NOT_SECRET_PREFIX}-{0,2}${NAME_CHARS}{0,64}?(?:${NAMES})${NAME_CHARS}{0,64}${NOT_SECRET_SUFFIX})(?<kvSep>\\?["']?[ \t]*[=:][ \t]*(?:\r?\n[ \t]+)?)(?<kvVal>\$'(?:[^'\\\n]|\\.)*'|\\"(?:[^\\\n]|\\[^"])*\\"|"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|(?<kvScheme>(?:Bearer|Basic)\s+)?[^\s"'&,;]+)`,
  // Environment-style DB_PASS=…, MYSQL_PWD=…, SSH_KEY=…, GITHUB_PAT=…, REDISCLI_AUTH=…, SMTP_PW=…, NPM_CREDS=…, PGPASS=…, and pass=…,
  // the value bare or quoted (`export DB_PASS="…"`), quotes kept.
  String.raw`(?<envName>(?<![A-Za-z0-9_.-])-{0,2}(?:[A-Za-z][A-Za-z0-9_]{0,63}_(?:KEY|PAT|PASS|PWD|PW|AUTH|CREDS?)|(?:PG)?PASS)=)(?<envVal>\$'(?:[^'\\\n]|\\.)*'|\\"(?:[^\\\n]|\\[^"])*\\"|"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s"'&,;]+)`,
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

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

// The regex is case-insensitive for names; a 40-character AWS secret is told
// from a git commit id (40 lowercase hex digits) here, case-sensitively.
const LOWER_HEX = /^[0-9a-f]+$/;

type Groups = Record<string, string | undefined>;

/** `text` in the quotes `value` was written in, when it was one quoted part. */
function quoted(text: string, value: string): string {
  const [open, close] = quotesOf(value);
  return `${open}${text}${close}`;
}

/** A user flag's text up to its `user:` (`-u bob:`), the user masked when it is a token. */
function withUser(lead: string, user: string): string {
  const shown = userShown(user);
  return shown === user ? lead : `${lead.slice(0, lead.length - user.length - 1)}${shown}:`;
}

function replacement(match: string, ...rest: unknown[]): string {
  const g = rest[rest.length - 1] as Groups;
  if (g.pem !== undefined) return '[REDACTED PRIVATE KEY]';
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
  return match.length > 0 ? REDACTED : match;
}

/**
 * Backslash line continuations (`\` then a line break, the backslash not
 * itself escaped), a run of them at a time, and the line break after a pipe:
 * the shell reads each as if the lines were one. The pipe's line break is
 * matched first and looked back from: a look-back tried at every position
 * would scan back over every run of spaces again.
 */
const CONTINUATIONS = /(?<!\\)((?:\\\\)*)((?:\\\r?\n)+)(?=([^\s]?))|\r?\n(?<=\|[ \t]*\r?\n)/g;
const CONTINUED_LINE = /\\\r?\n|\|[ \t]*\r?\n/;

/**
 * The same text with its continuations joined, at the same length: a run of
 * continuations beside a space or an end becomes spaces (it only separates
 * words, as for the shell); one inside a word (`pass\⏎word`) becomes
 * backslashes, which keep it one word for a value; a gap after a flag takes
 * them too, so `--pass\⏎word` (one word to the shell) is masked as a flag and
 * its value rather than left whole; a line break after a pipe becomes a space.
 */
function joinContinuations(text: string): string {
  return text.replace(CONTINUATIONS, (match: string, escapes: string | undefined, run: string | undefined, next: string | undefined, at: number) => {
    if (run === undefined) return ' '.repeat(match.length);
    // After a space the word has ended, unless the space is escaped (`a\ \⏎b` is one word).
    const afterSpace = at === 0 || (/\s/.test(text[at - 1]!) && text[at - 2] !== '\\');
    const inWord = next !== '' && (escapes !== '' || !afterSpace);
    return `${escapes}${(inWord ? '\\' : ' ').repeat(run.length)}`;
  });
}
/**
 * The patterns a continuation can split: those that look for a flag
 * elsewhere in the same command, and a secret flag's value (`--password
 * pass\⏎word`). Text with a continuation gets them only over its joined copy,
 * as it gets the rules that pair flags by position.
 */
const SAME_COMMAND = new Set(PATTERNS.filter((p) => p.startsWith('(?<flag>') || p.startsWith('(?<userFlag')));
/** One pattern as it is searched for: its regex, its rank (its place in PATTERNS), and whether it looks over continuations. */
interface Rule {
  re: RegExp;
  rank: number;
  sameCommand: boolean;
}
const PATTERN_RULES: Rule[] = PATTERNS.map((p, i) => ({ re: new RegExp(p, 'gi'), rank: i + 1, sameCommand: SAME_COMMAND.has(p) }));
// A program's flag ranks before a secret flag's name at the same place: `mysql -pPassword123 db` is mysql's `-p` and its
// password, not a flag named for a password whose value is `db`. The here-string and echo rules rank after the others'.
const PROGRAM_RANK = PATTERNS.findIndex((p) => p.startsWith('(?<flag>')) + 0.5;
const STDIN_RANK = PATTERNS.findIndex((p) => p.startsWith('(?<osPass>')) + 0.5;
const USER_PROGRAM_RANK = PATTERNS.findIndex((p) => p.startsWith('(?<osPass>')) + 0.25;

/**
 * The quote a shell would still wait for at the end of `text` (`'` or `"`;
 * backslashes escape outside single quotes), or else a JSON-escaped `\"` left
 * open, or null.
 */
function openQuoteAtEnd(text: string): string | null {
  let open: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (open === "'") {
      if (c === "'") open = null;
    } else if (c === '\\') i++;
    else if (c === '"') open = open === '"' ? null : '"';
    else if (c === "'" && open === null) open = "'";
  }
  if (open !== null) return open;
  // JSON text of a command: its quotes are `\"`, which the shell reading above takes for escaped ones.
  return (text.match(/(?<!\\)\\"/g)?.length ?? 0) % 2 === 1 ? '\\"' : null;
}

// Where to cut a long string: never inside a run of token characters, so a
// secret straddling the limit is not left half-visible and unrecognisable.
const TOKEN_CHAR = /[^\s"'<>,;]/;
/** How far back a cut inside a run longer than the first look-back may go to a place where a key can start. */
const KEY_CUT_LOOKBACK = 512;
function cutPoint(s: string, limit: number): number {
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
const KEY_RUN = new RegExp(`[A-Za-z0-9_\\-.~+/=%]{${MIN_KEY_RUN},}`, 'g');
const KEY_RUN_TEST = new RegExp(`[A-Za-z0-9_\\-.~+/=%]{${MIN_KEY_RUN}}`);
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
function keySpan(run: string, isKey: (s: string) => boolean): [number, number] | null {
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
function storeMatcher(store: KeyLookup): (candidate: string) => boolean {
  return (candidate) => {
    const r = store.authenticate(candidate);
    return r.ok || r.reason === 'disabled';
  };
}

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
    const masks = this.rules.flatMap((r) => matchesOf(r.re, r.rank, r.sameCommand ? shellText : unkeyed));
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
      const masked: string | null = mask !== null ? applyMask(mask, x) : (programs.maskAttached(x) ?? maskAwsSecret(x, awsId));
      out.push(masked ?? this.redactString(x, budget));
      if (masked !== null) budget.left -= masked.length + 3;
      mask = masked === null ? programs.flagMask(x) : null;
    }
    return out;
  }
}

/** How the element after a flag is masked. */
type Mask = 'all' | 'afterColon' | 'unlessPort';

const AWS_KEY_ID = /^(?:AKIA|ASIA)[A-Z0-9]{16}$/;
const AWS_SECRET = /^[A-Za-z0-9/+]{40}$/;

function baseName(s: string): string {
  return s.length > 128 ? '' : s.slice(s.lastIndexOf('/') + 1);
}

/**
 * The listed programs an argv has named so far. Each keeps its rules for the
 * rest of the argv: a later element named like another program (a user called
 * `curl`, a registry path ending in `/7z`) adds that program's rules, it does
 * not replace the earlier ones, so a flag is a password flag when any of them
 * says so. After `login` the port-publishing programs take a password with -p.
 */
class ArgvPrograms {
  private readonly named = new Set<ProgramFlags>();
  private afterLogin = false;

  constructor(command: string | null) {
    if (command !== null) this.see(command);
  }

  see(x: string): void {
    const p = PROGRAM_FLAGS.get(baseName(x));
    if (p) this.named.add(p);
    else if (x.toLowerCase() === LOGIN_WORD && this.named.size > 0) this.afterLogin = true;
  }

  /** Whether `p`'s flag may publish a port here. */
  private ports(p: ProgramFlags): boolean {
    return p.ports && !this.afterLogin;
  }

  /** Whether a program named takes `-u` at the end of a group of short flags (`curl -su`). */
  private groupsUser(): boolean {
    for (const p of this.named) if (p.groupedUser) return true;
    return false;
  }

  /** What an argv element announces about the next one. */
  flagMask(x: string): Mask | null {
    if (x.length > 128) return null;
    if (USER_FLAG.test(x) || (this.groupsUser() && GROUPED_USER_ARG.test(x))) return 'afterColon';
    let mask: Mask | null = null;
    for (const p of this.named) {
      if (!p.next.includes(x)) continue;
      if (!this.ports(p)) return 'all';
      mask = 'unlessPort';
    }
    if (mask !== null) return mask;
    if (SECRET_FLAG.test(x) || SECRET_SETTING.test(x)) return 'all';
    return null;
  }

  /** An element that carries its own secret: mysql's -pSECRET, curl's -uuser:pass. */
  maskAttached(x: string): string | null {
    if (x.startsWith('--')) return null;
    const grouped = this.groupsUser() ? GROUPED_USER_ATTACHED.exec(x) : null;
    if (grouped !== null) {
      const userPass = maskUserPass(grouped[2]!);
      if (userPass !== null) return `${grouped[1]}${userPass}`;
    }
    for (const p of this.named) {
      for (const f of p.attached) {
        if (x.length <= f.length || !x.startsWith(f)) continue;
        const v = x.slice(f.length);
        // docker run -p8080:80 publishes a port.
        if (this.ports(p) && PORT_MAPPING.test(v)) continue;
        if (f !== '-u') return `${f}${REDACTED}`;
        const colon = v.indexOf(':');
        if (colon >= 0) return `${f}${userShown(v.slice(0, colon))}:${REDACTED}`;
      }
    }
    return null;
  }
}

function applyMask(mask: Mask, x: string): string | null {
  if (mask === 'all') return REDACTED;
  if (mask === 'unlessPort') return PORT_MAPPING.test(x) ? null : REDACTED;
  const colon = x.indexOf(':');
  if (colon < 0 || UID_GID.test(x)) return null;
  return `${userShown(x.slice(0, colon))}:${REDACTED}`;
}

/** An AWS secret key beside its key id in the same argv. */
function maskAwsSecret(x: string, awsId: boolean): string | null {
  return awsId && AWS_SECRET.test(x) && !LOWER_HEX.test(x) ? REDACTED : null;
}

// Plain assignment of "__proto__" would change the copy's prototype instead of
// adding a key; every other key is assigned plainly (defineProperty on each key
// made the copies several times slower to serialise).
function define(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
