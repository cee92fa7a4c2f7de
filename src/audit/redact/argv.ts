/** The argv rules: a flag (`--password`, mysql's `-p`) says the next element, or the rest of this one, is a secret. */
import { REDACTED } from './masks.ts';
import { NAMES, NAME_CHARS, NOT_SECRET_PREFIX, NOT_SECRET_SUFFIX, USER_FLAGS, maskUserPass, userShown } from './names.ts';
import { LOWER_HEX } from './patterns.ts';
import { LOGIN_WORD, type Mask, ORACLE_TOOLS, ORACLE_USER, PORT_MAPPING, PROGRAM_FLAGS, type ProgramFlags } from './programs.ts';

/** An argv element that names a secret and expects it as the next element. */
const SECRET_FLAG = new RegExp(`^${NOT_SECRET_PREFIX}--?(?:${NAME_CHARS}*(?:${NAMES})${NAME_CHARS}*${NOT_SECRET_SUFFIX}|pass|pw|auth)$`, 'i');
/**
 * An argv element shaped like an option (`--long`, `--name=value`, `-v`): after
 * a secret flag it says the flag took no value (`psql --password --host db`),
 * so it is not masked in the secret's place, and is itself read as a flag.
 * Long options are spelled in lower case: a value such as `--Tr0ub4dor-X` is
 * taken for the secret it more likely is.
 */
export const OPTION_SHAPED = /^(?:--[a-z][a-z0-9-]*(?:=.*)?|-[A-Za-z])$/s;
/** A bare setting name followed by its value: `aws configure set aws_secret_access_key X`, `git config github.token X`. */
const SECRET_SETTING = new RegExp(`^[A-Za-z0-9_.:/]*[.:/][A-Za-z0-9_.:/-]*(?:${NAMES})$|^aws_(?:secret_access_key|session_token)$`, 'i');

const USER_FLAG = new RegExp(`^${USER_FLAGS}$`);
/** In argv, for GROUPED_USER's programs: a group of short flags ending in `u`/`U`, and one with `user:password` glued on after its first `u`/`U`. */
const GROUPED_USER_ARG = /^-[A-Za-z0-9#]+[uU]$/;
const GROUPED_USER_ATTACHED = /^(-[A-Za-z0-9#]*?[uU])(.*:.*)$/s;

export const AWS_KEY_ID = /^(?:AKIA|ASIA)[A-Z0-9]{16}$/;
const AWS_SECRET = /^[A-Za-z0-9/+]{40}$/;

/** `user/password`, `user/password@db`, `userid=user/password`, `"sys/password as sysdba"`, `proxy[schema]/password`: the password masked. */
const ORACLE_CONNECT = new RegExp(`^((?:userid=)?["']?${ORACLE_USER})/([^\\s@/"']+)(.*)$`, 'is');

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
export class ArgvPrograms {
  private readonly named = new Set<ProgramFlags>();
  private afterLogin = false;
  private oracle = false;

  constructor(command: string | null) {
    if (command !== null) this.see(command);
  }

  see(x: string): void {
    const name = baseName(x);
    if (ORACLE_TOOLS.has(name)) this.oracle = true;
    const p = PROGRAM_FLAGS.get(name);
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
    if (this.oracle) {
      const connect = ORACLE_CONNECT.exec(x);
      if (connect !== null) return `${connect[1]}/${REDACTED}${connect[3]}`;
    }
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

export function applyMask(mask: Mask, x: string): string | null {
  if (mask === 'all') return REDACTED;
  if (mask === 'unlessPort') return PORT_MAPPING.test(x) ? null : REDACTED;
  return maskUserPass(x);
}

/** An AWS secret key beside its key id in the same argv. */
export function maskAwsSecret(x: string, awsId: boolean): string | null {
  return awsId && AWS_SECRET.test(x) && !LOWER_HEX.test(x) ? REDACTED : null;
}
