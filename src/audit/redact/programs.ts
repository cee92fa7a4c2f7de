/** The programs whose short flags take a password, shared by the command-string rules and the argv rules. */

/**
 * Programs whose short flags take a password (flags separated by spaces).
 * `attached`: `-pSECRET`; `next`: `-p SECRET`; `ports`: the flags also take
 * port mappings (docker run -p 8080:80), which stay readable. A program name
 * anywhere in argv switches these rules on (`sudo mysql …`, `docker exec db
 * mysql …`).
 */
const PROGRAMS: [names: string, attached: string, next: string, kind?: 'ports' | 'login'][] = [
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
  ['docker podman podman-remote nerdctl finch', '-p', '-p', 'ports'],
  ['ldapsearch ldapmodify ldapadd ldapdelete ldapmodrdn ldapcompare ldapwhoami ldappasswd ldapexop', '-w', '-w'],
  // -k a password, -K a key in hex (enc).
  ['openssl', '', '-k -K'],
  // -N the new passphrase, -P the old one.
  ['ssh-keygen', '-N -P', '-N -P'],
  ['twine', '-p', '-p'],
  // Database and FTP clients: `cqlsh -u me -p …`, ncftp's `-p`.
  ['cqlsh ncftp ncftpget ncftpput', '-p', '-p'],
  // Cloud CLIs whose -p is a password after `login` only (`oc login -u dev -p …`, `cf login`, `az login`): elsewhere
  // it is a path, a plan, a parameter (`cf push -p dist`, `oc process -p NAME=v`), which stays readable.
  ['oc cf az', '-p', '-p', 'login'],
];
export interface ProgramFlags {
  attached: readonly string[];
  next: readonly string[];
  ports: boolean;
  /** Its flags take a password only after `login`. */
  loginOnly: boolean;
  /** `-u user:password` also at the end of a group of short flags (`curl -su admin:pw`, `-fsSLkvvu`). */
  groupedUser: boolean;
}
/** Programs whose short flags group, `-u` (or `-U`) among them taking user:password. */
const GROUPED_USER = new Set(['curl', 'curl.exe']);
const flagList = (flags: string): string[] => flags.split(' ').filter((f) => f !== '');
export const PROGRAM_FLAGS = new Map<string, ProgramFlags>(
  PROGRAMS.flatMap(([names, attached, next, kind]) =>
    names
      .split(' ')
      .map((n) => [n, { attached: flagList(attached), next: flagList(next), ports: kind === 'ports', loginOnly: kind === 'login', groupedUser: GROUPED_USER.has(n) }] as const),
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

/** How the element after a flag is masked. */
export type Mask = 'all' | 'afterColon' | 'unlessPort';
