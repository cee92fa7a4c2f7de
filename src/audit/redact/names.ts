/** What names a secret: the words that introduce one, `user:password` flags and their users, and tokens of known shapes. */
import { REDACTED } from './masks.ts';
import { quotesOf, unquoted } from './shell.ts';

// Names that, inside free text, introduce a secret value (`password=…`, `--api-key x`, `BW_SESSION=…`). `auth`
// counts only where no letter follows it: `author`, `authority` and `authenticate` name no secret.
export const NAMES =
  'passw(?:or)?d|passphrase|storepass|keypass|token|secret|api[_-]?key|access[_-]?key|private[_-]?key|account[_-]?key|signing[_-]?key|encryption[_-]?key|master[_-]?key|credentials?|authorization|auth(?![a-z])|cookie|session';
export const NAME_CHARS = '[A-Za-z0-9_.-]';
/**
 * The start of a word: not after a word character, unless that character ends
 * a JSON escape (`\n`, `\r`, `\t`: a line break or tab in the JSON text of a
 * command, as an error message or a logged script holds it).
 */
export const WORD_START = String.raw`(?<![\w.-](?<!\\[nrt]))`;
/**
 * Names built on a secret's name that hold no secret: where it is kept or how
 * to get it (`--password-file PATH`, `--token-path`, `--cookie-jar FILE`,
 * `--password-cmd CMD`, `--password-stdin` with no value at all, `--auth-url`,
 * `token_endpoint`), a measure (`--token-limit 5`, `password_length=20`), a
 * kind (`--auth-type basic`, `--auth-method oidc`), or a negation or bound in
 * front (`--no-password`, `--max-tokens 100`). Their values are paths, URLs,
 * commands, words and numbers, which say what a command did and stay readable.
 */
export const NOT_SECRET_SUFFIX = '(?<![-_.]?(?:files?|path|dir|fd|env|var|stdin|cmd|command|helper|jar|prompt|length|len|size|count|limit|ttl|name|url|uri|endpoint|type|method))';
export const NOT_SECRET_PREFIX = '(?!-{0,2}(?:no|max|min|num)[-_])';

/** Flags whose value is `user:password` (curl and alike); the user stays readable. */
export const USER_FLAGS = String.raw`(?:-u|-U|--user|--proxy-user|--(?:src-|dest-)?creds)`;

/** docker -u 1000:1000 (or -u :1000, a group alone): ids, not a user and password (`admin:123456` is one). */
export const UID_GID = /^\d*:\d+$/;

/** A flag that takes `user:password`, and what joins it to the value in a command string. */
export const USER_FLAG_GAP = String.raw`${USER_FLAGS}(?:\s*|=)`;
export const USER_NAME = String.raw`[^\s:"'\\-][^\s:"'\\]*`;

/**
 * Well-known token formats: GitHub, GitLab, OpenAI/Anthropic (sk-, sk-proj-, sk-ant-), Stripe, Google, Slack, npm,
 * PyPI, Hugging Face, SendGrid, DigitalOcean, Shopify, Vault, AWS key ids, JWTs (three base64url parts, the header
 * always starting {", eyJ).
 */
export const TOKEN_SHAPES = [
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
  // An age identity (its private key), Bech32.
  String.raw`\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b`,
];
/** Whether a word starts with a token of a known shape: a user name that is one (`curl -u ghp_…:x-oauth-basic`) is masked too. */
const TOKEN_SHAPE = new RegExp(`^(?:${TOKEN_SHAPES.join('|')})`, 'i');
/** The user part of `user:password` as the log shows it. */
export const userShown = (user: string): string => (TOKEN_SHAPE.test(user) ? REDACTED : user);

/** `user:password` (quoted or not) with the password masked, the user too when it is a token; null without a colon or for a uid:gid. */
export function maskUserPass(value: string): string | null {
  const [open, close] = quotesOf(value);
  const inner = unquoted(value);
  const colon = inner.indexOf(':');
  if (colon < 0 || UID_GID.test(inner)) return null;
  return `${open}${userShown(inner.slice(0, colon))}:${REDACTED}${close}`;
}
