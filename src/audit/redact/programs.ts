/** The programs whose short flags take a password, shared by the command-string rules and the argv rules. */

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
  // Database and FTP clients and cloud CLIs: `cqlsh -u me -p …`, ncftp's `-p`, `oc login -p …` and `cf login`
  // (or `cf l`). Their -p is also a path or a template parameter (`cf push -p dist`, `oc process -p DB_PASSWORD=…`),
  // masked all the same: reading it as a password loses a path from the log, the other way a password goes in.
  ['cqlsh ncftp ncftpget ncftpput oc cf', '-p', '-p'],
  // `az login -p …`, and `-p` as --admin-password (`az sql server create`, `az postgres … create`); values that look
  // like ports stay readable.
  ['az', '-p', '-p', true],
];
export interface ProgramFlags {
  attached: readonly string[];
  next: readonly string[];
  ports: boolean;
  /** `-u user:password` also at the end of a group of short flags (`curl -su admin:pw`, `-fsSLkvvu`). */
  groupedUser: boolean;
}
/** Programs whose short flags group, `-u` (or `-U`) among them taking user:password. */
const GROUPED_USER = new Set(['curl', 'curl.exe']);
const flagList = (flags: string): string[] => flags.split(' ').filter((f) => f !== '');
export const PROGRAM_FLAGS = new Map<string, ProgramFlags>(
  PROGRAMS.flatMap(([names, attached, next, ports]) =>
    names.split(' ').map((n) => [n, { attached: flagList(attached), next: flagList(next), ports: ports ?? false, groupedUser: GROUPED_USER.has(n) }] as const),
  ),
);
/** `8080:80`, `127.0.0.1:53:53/udp`, `[::1]:80:80`, and ranges (`8000-8010:8000-8010`). */
export const PORT_MAPPING = /^[\d.:[\]](?:[\d.:[\]]|-(?=\d))*(?:\/(?:tcp|udp|sctp))?$/;
/**
 * After `login` (`docker login`, `podman login`) the flag that elsewhere
 * publishes a port takes a password, which may look like a port
 * (`-p 123456`): there it is always masked.
 */
export const LOGIN_WORD = 'login';

/**
 * Oracle's tools, whose connect string `user/password@db` carries the
 * password, anywhere after them in their command. Not `exp`, `imp` or SQLcl's
 * `sql`: words too common (`git checkout -b exp`) to mask paths after.
 */
export const ORACLE_TOOLS = new Set(['sqlplus', 'expdp', 'impdp', 'rman', 'sqlldr', 'dgmgrl', 'sqlcl']);
/** The user of a connect string, as a regex source: a name or a quoted one, with a proxy's `[schema]`. */
export const ORACLE_USER = String.raw`(?:"[^"\s/]{1,128}"|[A-Za-z][A-Za-z0-9_$#]{0,127})(?:\[[A-Za-z0-9_$#"]{1,128}\])?`;

/** How the element after a flag is masked. */
export type Mask = 'all' | 'afterColon' | 'unlessPort';
