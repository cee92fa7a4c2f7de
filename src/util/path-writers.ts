/**
 * Who other than root and the server's own user could change what a path is:
 * write it, or put another file or link in the place of a name its lookup
 * passes (path-links.ts) by writing the directory that name lies in. The
 * server trusts a few paths by name — its keys file, re-read on every change;
 * the workspace and the sandbox's grants, taken wherever their names lead
 * when it starts — so whoever can do either decides what the server reads or
 * what commands are given. Pure apart from reading the filesystem: callers
 * decide what to say.
 */
import { lstatSync, readFileSync, type Stats, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PathRoute } from './path-links.ts';
import { accessAcl } from './xattrs.ts';

/** The user and group tables (`/etc/passwd`, `/etc/group`) as text. */
export interface Accounts {
  passwd: string;
  group: string;
}

export function systemAccounts(): Accounts {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  };
  return { passwd: read('/etc/passwd'), group: read('/etc/group') };
}

/**
 * Whether `gid` is user `uid`'s private group, as user-private-group systems
 * make one: the same number, named as the user in the group table, with no
 * other member listed there and no other user's primary group. The number
 * alone says nothing: a gid the tables do not name (`--user 1000:1000`, a
 * Kubernetes fsGroup equal to runAsUser) or a shared one that happens to be
 * the uid (`users`, gid 100) may have other members. Root's group never is.
 */
export function isPrivateGroup(uid: number, gid: number, accounts: Accounts): boolean {
  if (uid === 0 || gid !== uid) return false;
  const rows = (text: string) => text.split('\n').map((line) => line.split(':'));
  const users = rows(accounts.passwd).filter((f) => f.length >= 4);
  const name = users.find((f) => Number(f[2]) === uid && f[2] !== '')?.[0];
  if (name === undefined) return false;
  // Every entry with that number: a second name for it would let its members in as well.
  const groups = rows(accounts.group).filter((f) => f.length >= 4 && f[2] !== '' && Number(f[2]) === gid);
  if (groups.length === 0) return false;
  for (const [groupName, , , members = ''] of groups) {
    if (groupName !== name || members.split(',').some((m) => m !== '' && m !== name)) return false;
  }
  return !users.some((f) => f[3] !== '' && Number(f[3]) === gid && Number(f[2]) !== uid);
}

/** ACL tags (acl/libacl.h) and the write permission. */
const ACL_USER = 0x02;
const ACL_GROUP = 0x08;
const ACL_MASK = 0x10;
const ACL_WRITE = 0x02;

/**
 * Who other than a trusted user an access ACL lets write `path` (`uid N`,
 * `gid N`), or null: a named entry with write that the mask leaves in. The
 * mode's group bits say nothing of these (they are the mask).
 */
function aclWriters(path: string, trusted: (uid: number) => boolean): string | null {
  let acl: Buffer | null;
  try {
    acl = accessAcl(path);
  } catch {
    return null;
  }
  if (acl === null || acl.length < 4) return null;
  const entries: { tag: number; perm: number; id: number }[] = [];
  for (let at = 4; at + 8 <= acl.length; at += 8) entries.push({ tag: acl.readUInt16LE(at), perm: acl.readUInt16LE(at + 2), id: acl.readUInt32LE(at + 4) });
  const mask = entries.find((e) => e.tag === ACL_MASK)?.perm ?? 0o7;
  const writer = entries.find((e) => (e.perm & mask & ACL_WRITE) !== 0 && ((e.tag === ACL_USER && !trusted(e.id)) || e.tag === ACL_GROUP));
  return writer === undefined ? null : `${writer.tag === ACL_USER ? 'uid' : 'gid'} ${writer.id}`;
}

/** Whom to trust: root and the server's user; a non-root owner's private group is its owner. */
export interface Trust {
  serverUid?: number;
  accounts?: Accounts;
}

class Judge {
  private readonly serverUid: number | undefined;
  private readonly accounts: Accounts;
  constructor(trust: Trust) {
    this.serverUid = 'serverUid' in trust ? trust.serverUid : process.getuid?.();
    this.accounts = trust.accounts ?? systemAccounts();
  }

  trusted(uid: number): boolean {
    return uid === 0 || uid === this.serverUid;
  }

  /**
   * Why someone else may write `path` (`what` names it in the answer), or
   * null; `owner` when they own it, which a sticky bit does not limit.
   */
  writer(path: string, what: string, st: Stats = statSync(path)): { why: string; owner: boolean } | null {
    if (!this.trusted(st.uid)) return { why: `${what} is owned by uid ${st.uid}`, owner: true };
    const acl = aclWriters(path, (uid) => this.trusted(uid));
    if (acl !== null) return { why: `${what} has an ACL that lets ${acl} write`, owner: false };
    const open = st.mode & (isPrivateGroup(st.uid, st.gid, this.accounts) ? 0o002 : 0o022);
    if (open === 0) return null;
    return { why: `${what} is writable by ${open === 0o022 ? 'group and others' : open === 0o020 ? 'its group' : 'others'} (mode 0${(st.mode & 0o7777).toString(8)})`, owner: false };
  }
}

/**
 * Why someone other than root or the server's user may write the file at
 * `path` itself (`it is writable by others (mode 0646)`, `it is owned by uid
 * 1000`), or null.
 */
export function otherWriterOf(path: string, trust: Trust = {}): string | null {
  return new Judge(trust).writer(path, 'it')?.why ?? null;
}

/**
 * Why someone other than root or the server's user could put another file or
 * link at a name `route` passes, or null: a directory holding one (`/`
 * included) that such a user owns or may write — unless it is sticky (`/tmp`)
 * and the name in it is root's or the server's, which the sticky bit keeps
 * others from renaming or removing. Throws when a name is gone while looked at.
 */
export function otherReplacerOf(route: PathRoute, trust: Trust = {}): string | null {
  const judge = new Judge(trust);
  const seen = new Set<string>();
  for (const name of route.passed) {
    const dir = dirname(name);
    const st = statSync(dir);
    const sticky = (st.mode & 0o1000) !== 0;
    if (!seen.has(dir)) {
      seen.add(dir);
      // Others who may write a sticky directory may add names to it, not replace one they do not own (below).
      const writer = judge.writer(dir, `the directory ${dir}`, st);
      if (writer !== null && (writer.owner || !sticky)) return writer.why;
    }
    if (sticky) {
      const owner = lstatSync(name).uid;
      if (!judge.trusted(owner)) return `${name}, in the sticky directory ${dir}, is owned by uid ${owner}`;
    }
  }
  return null;
}
