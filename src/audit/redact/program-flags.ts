/** The program rules in command strings: a short flag is a password flag where a program that says so is named before it. */
import { type Masked, REDACTED } from './masks.ts';
import { UID_GID, USER_NAME, WORD_START, userShown } from './names.ts';
import { PROGRAM_RANK, USER_PROGRAM_RANK } from './patterns.ts';
import { LOGIN_WORD, type Mask, ORACLE_TOOLS, ORACLE_USER, PORT_MAPPING, PROGRAM_FLAGS, type ProgramFlags } from './programs.ts';
import { GAP, LOOSE_FLAG_VALUE, OPTION_START, PROGRAM_REACH, VALUE_WORD, emptyQuoted, escapeRegex, quoted, unquoted } from './shell.ts';

/**
 * What follows curl's grouped `-…u` (after a gap, or glued on), read as the
 * `-u` patterns read theirs: `user:password` as a word, or in double or
 * single quotes, or the password alone quoted (`admin:"my pass"`).
 */
const GROUPED_USER_VALUE = new RegExp(
  String.raw`(?:\s*|=)(?:\\?"(?<userDq>${USER_NAME})?:(?<passDq>(?:[^"\\\n$\x60]|\\[^"\r\n]|\$(?!\())+)(?=\\?")|'(?<userSq>${USER_NAME})?:(?<passSq>[^'\n]+)(?=')|(?<user>${USER_NAME})?:(?<pass>${VALUE_WORD}))`,
  'y',
);

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

/** Where one of Oracle's tools is named. */
const ORACLE_TOOL = new RegExp(`${WORD_START}(?:${[...ORACLE_TOOLS].join('|')})(?![\\w.-])`, 'gi');
/** A connect string where a word starts: `user/password`, after `userid=`, quoted or not; the password runs to `@`, a space or a quote. */
const ORACLE_CONNECT_WORD = new RegExp(String.raw`(?<![^\s="'\\])(?:userid=)?\\?["']?${ORACLE_USER}/[^\s@/"'\\;|&<>()]+`, 'gi');

/**
 * Oracle's connect strings in command strings: a `user/password` word
 * anywhere after one of its tools in the same command
 * (`expdp directory=dp userid=system/pw`, `rman target sys/pw@db catalog
 * rcat/pw@rcat`, `sqlplus -S -M "HTML ON" scott/pw@orcl`). The user stays.
 */
function oracleMasks(text: string): Masked[] {
  const named: Named[] = [];
  for (const m of text.matchAll(ORACLE_TOOL)) named.push({ end: m.index + m[0].length, flags: null, loginsBefore: 0, groupedBefore: 0 });
  if (named.length === 0) return [];
  const masks: Masked[] = [];
  // Anywhere in the command: an import's parameters run long, over continuation lines (`impdp \⏎ directory=… \⏎ userid=…`).
  scanFlags(text, named, ORACLE_CONNECT_WORD, Number.POSITIVE_INFINITY, (at, word, lo, hi) => {
    if (hi === lo) return null;
    const slash = word.lastIndexOf('/');
    masks.push({ index: at, seen: word, masked: `${word.slice(0, slash + 1)}${REDACTED}`, rank: PROGRAM_RANK });
    return at + word.length;
  });
  return masks;
}

/** What the program rules mask in a command string: password flags by program, and Oracle's connect strings. */
export function programFlagMasks(text: string): Masked[] {
  return [...flagMasks(text), ...oracleMasks(text)];
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
function flagMasks(text: string): Masked[] {
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

/**
 * The value after a flag ending at `after` that is a secret: glued on where
 * `attached` says so, else after a gap where `next` does; null when there is
 * none (no value, only quotes, a port mapping where that is allowed).
 */
export function flagMask(text: string, after: number, attached: Mask | null, next: Mask | null): { value: string; end: number } | null {
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
