/**
 * The redaction corpus: secret forms a client can put in an audited call, and
 * plain values that must come through untouched. Shared by the test and by a
 * measurement of any checkout of the code, e.g. the original:
 *
 *   mkdir -p /tmp/hide-orig && git archive HEAD src | tar -x -C /tmp/hide-orig
 *   bun test/security/redact-corpus.ts /tmp/hide-orig   # prints "<redacted>/<total> …"
 *   bun test/security/redact-corpus.ts                  # this checkout
 *
 * Each form goes through the audit writer of that checkout into a real file,
 * with a key store whose keys file holds one key only as its SHA-256.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStore, sha256Hex } from '../../src/security/keys.ts';
import type { AuditEvent } from '../../src/audit/event.ts';

/** Deterministic fake secrets: `n` characters of `alphabet`, different per seed (SHA-256 in counter mode). */
function fake(seed: number, n: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'): string {
  let out = '';
  for (let block = 0; out.length < n; block++) {
    for (const byte of new Bun.CryptoHasher('sha256').update(`${seed}:${block}`).digest()) out += alphabet[byte % alphabet.length];
  }
  return out.slice(0, n);
}
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The client key the keys file stores only as `api_key_sha256`. */
export const DIGEST_KEY = fake(1, 43, B64URL);
const AKIA = `AKIA${fake(2, 16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}`;
const AWS_SECRET = fake(3, 40, B64);
const GHP = `ghp_${fake(4, 36)}`;
const JWT = `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ${fake(5, 30, B64URL)}.${fake(6, 43, B64URL)}`;
const PW = `Pw-${fake(7, 12)}`;

export interface SecretForm {
  name: string;
  /** A command line, audited as the shell tool's { command, arguments }. */
  argv?: string[];
  /** A value, audited in `field` (default: as `echo`'s argument). */
  value?: string;
  field?: 'correlation_id' | 'user' | 'error' | 'tool_name';
  /** What must not appear anywhere in the audit line. */
  secret: string | string[];
}

const v = (name: string, value: string, secret = value): SecretForm => ({ name, value, secret });
const a = (name: string, argv: string[], secret: string | string[]): SecretForm => ({ name, argv, secret });
const f = (name: string, field: SecretForm['field'], value: string, secret: string): SecretForm => ({ name, field, value, secret });

export const CORPUS: SecretForm[] = [
  // The server's own key, known only by digest.
  a('digest-only key as a plain argument', ['echo', DIGEST_KEY], DIGEST_KEY),
  a('digest-only key in a query string', ['curl', `https://api.example.com/v1?key=${DIGEST_KEY}`], DIGEST_KEY),
  a('digest-only key in a URL path', ['curl', `https://api.example.com/v1/${DIGEST_KEY}/status`], DIGEST_KEY),
  f('digest-only key as correlationId', 'correlation_id', DIGEST_KEY, DIGEST_KEY),
  f('digest-only key at the end of an error sentence', 'error', `upstream refused ${DIGEST_KEY}.`, DIGEST_KEY),
  // Every audited field.
  f('GitHub token as correlationId', 'correlation_id', GHP, GHP),
  f('OpenAI key as user', 'user', `sk-${fake(8, 48)}`, `sk-${fake(8, 48)}`),
  f('JWT in an error', 'error', `token rejected: ${JWT}`, JWT),
  f('Slack token as a tool name', 'tool_name', `xoxb-${fake(9, 12, '0123456789')}-${fake(10, 24)}`, `xoxb-${fake(9, 12, '0123456789')}-${fake(10, 24)}`),
  // Token shapes.
  v('OpenAI sk-', `sk-${fake(11, 48)}`),
  v('OpenAI sk-proj-', `sk-proj-${fake(12, 64, B64URL)}`),
  v('Anthropic sk-ant-', `sk-ant-api03-${fake(13, 93, B64URL)}AA`),
  v('GitLab glpat-', `glpat-${fake(14, 20, B64URL)}`),
  v('GitHub fine-grained github_pat_', `github_pat_11${fake(15, 20)}_${fake(16, 59)}`),
  v('GitHub ghp_', GHP),
  v('GitHub gho_', `gho_${fake(17, 36)}`),
  v('GitHub ghs_', `ghs_${fake(18, 36)}`),
  v('GitHub ghu_', `ghu_${fake(19, 36)}`),
  v('GitHub ghr_', `ghr_${fake(20, 36)}`),
  v('Google AIza', `AIza${fake(21, 35, B64URL)}`),
  v('Slack xoxp-', `xoxp-${fake(22, 11, '0123456789')}-${fake(23, 11, '0123456789')}-${fake(24, 32, '0123456789abcdef')}`),
  v('Slack webhook', `https://hooks.slack.com/services/T${fake(25, 8)}/B${fake(26, 8)}/${fake(27, 24)}`, fake(27, 24)),
  v('AWS access key id', AKIA),
  a('AWS secret beside its key id', ['echo', AKIA, AWS_SECRET], [AKIA, AWS_SECRET]),
  v('AWS key pair in one string', `${AKIA}:${AWS_SECRET}`, AWS_SECRET),
  a('aws configure set aws_secret_access_key', ['aws', 'configure', 'set', 'aws_secret_access_key', AWS_SECRET], AWS_SECRET),
  v('aws_secret_access_key = in a credentials file', `[default]\naws_secret_access_key = ${AWS_SECRET}`, AWS_SECRET),
  v('JWT', JWT),
  v('npm token', `npm_${fake(28, 36)}`),
  v('Stripe secret key', `sk_live_${fake(29, 24)}`),
  v('Hugging Face token', `hf_${fake(30, 34)}`),
  v('Vault token', `hvs.${fake(31, 24)}`),
  v('RSA private key block', `-----BEGIN RSA PRIVATE KEY-----\nMIIE${fake(32, 60, B64)}\n-----END RSA PRIVATE KEY-----`, fake(32, 60, B64)),
  v('OpenSSH private key block', `-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl${fake(33, 60, B64)}\n-----END OPENSSH PRIVATE KEY-----`, fake(33, 60, B64)),
  v('password in an https URL', `https://alice:${PW}@git.example.com/r.git`, PW),
  v('password in a postgres URL', `postgres://app:${PW}1@db.internal:5432/prod`, `${PW}1`),
  a('git clone with a GitLab token as password', ['git', 'clone', `https://oauth2:glpat-${fake(34, 20, B64URL)}@gitlab.com/g/r.git`], `glpat-${fake(34, 20, B64URL)}`),
  // Flags in argv.
  a('mysql -pSECRET', ['mysql', '-u', 'root', `-p${PW}2`, 'prod'], `${PW}2`),
  a('mysql -p SECRET', ['mysql', '-u', 'root', '-p', `${PW}3`, 'prod'], `${PW}3`),
  a('sudo mysql -pSECRET', ['sudo', '-u', 'dba', 'mysql', `-p${PW}4`], `${PW}4`),
  a('sh -c "mysql -pSECRET"', ['sh', '-c', `mysql -h db -u root -p${PW}5 prod < dump.sql`], `${PW}5`),
  a('--password VALUE as two arguments', ['psql', '--password', `${PW}6`], `${PW}6`),
  a('--password=VALUE', ['wget', `--password=${PW}7`, 'https://example.com/f'], `${PW}7`),
  a('--token VALUE', ['kubectl', '--token', `${PW}8`, 'get', 'pods'], `${PW}8`),
  a('--client-secret VALUE', ['az', 'login', '--service-principal', '--client-secret', `${PW}9`], `${PW}9`),
  a('curl -u user:pass', ['curl', '-u', `bob:${PW}10`, 'https://example.com'], `${PW}10`),
  a('curl -uuser:pass', ['curl', `-ubob:${PW}11`, 'https://example.com'], `${PW}11`),
  a('curl -H "Authorization: Bearer …"', ['curl', '-H', `Authorization: Bearer ${PW}12`, 'https://example.com'], `${PW}12`),
  a('curl -H "Authorization: Token …"', ['curl', '-H', `Authorization: Token ${PW}13`], `${PW}13`),
  a('curl -H "Authorization: Basic …"', ['curl', '-H', `Authorization: Basic ${btoa(`bob:${PW}`)}`], btoa(`bob:${PW}`)),
  a('curl --header "Cookie: …" with two cookies', ['curl', '--header', `Cookie: theme=dark; session=${PW}14`], `${PW}14`),
  a('curl -H "X-API-Key: …"', ['curl', '-H', `X-API-Key: ${PW}15`], `${PW}15`),
  a('PASSWORD= env assignment', ['env', `PASSWORD=${PW}16`, 'app'], `${PW}16`),
  a('DB_PASS= env assignment', ['env', `DB_PASS=${PW}17`, 'app'], `${PW}17`),
  a('MYSQL_PWD= env assignment', ['env', `MYSQL_PWD=${PW}18`, 'mysql'], `${PW}18`),
  a('sshpass -p SECRET', ['sshpass', '-p', `${PW}19`, 'ssh', 'host'], `${PW}19`),
  a('redis-cli -a SECRET', ['redis-cli', '-h', 'cache', '-a', `${PW}20`, 'ping'], `${PW}20`),
  a('docker login -p SECRET', ['docker', 'login', '-u', 'bob', '-p', `${PW}21`, 'registry.example.com'], `${PW}21`),
  a('openssl -passin pass:SECRET', ['openssl', 'rsa', '-in', 'k.pem', '-passin', `pass:${PW}22`], `${PW}22`),
  a('git config github.token VALUE', ['git', 'config', '--global', 'github.token', `${PW}23`], `${PW}23`),
  a('npm config set :_authToken VALUE', ['npm', 'config', 'set', '//registry.npmjs.org/:_authToken', `${PW}24`], `${PW}24`),
  v('JSON body with a password', `{"user":"bob","password":"${PW}25"}`, `${PW}25`),
  a('--password VALUE after a secret flag that took no value', ['tool', '--token', '--password', `${PW}26`], `${PW}26`),
  a('ldapsearch -wSECRET', ['ldapsearch', '-x', '-D', 'cn=admin', `-w${PW}27`, '-b', 'dc=example'], `${PW}27`),
  a('sh -c "ldapsearch -wSECRET"', ['sh', '-c', `ldapsearch -x -D cn=admin -w${PW}28 -b dc=example`], `${PW}28`),
  a('docker login -pSECRET', ['docker', 'login', '-u', 'bob', `-p${PW}29`, 'registry.example.com'], `${PW}29`),
  a('zip -PSECRET', ['zip', `-P${PW}30`, '-r', 'out.zip', 'src'], `${PW}30`),
  // After `login` the port flag takes a password, and a password of digits looks like a port.
  a('docker login -p DIGITS', ['docker', 'login', '-u', 'bob', '-p', '4815162342', 'registry.example.com'], '4815162342'),
  a('sh -c "docker login -pDIGITS"', ['sh', '-c', 'docker login -u bob -p4815162343 registry.example.com'], '4815162343'),
  a('docker login -u docker -p DIGITS (a user named like a program)', ['docker', 'login', '-u', 'docker', '-p', '4815162344', 'registry.example.com'], '4815162344'),
  a('oras pull -p SECRET (a registry client: -p is always a password)', ['oras', 'pull', '-u', 'bob', '-p', '4815162345', 'reg.example.com/x:1'], '4815162345'),
  a('podman pull --creds user:SECRET', ['podman', 'pull', '--creds', `bob:${PW}31`, 'img'], `${PW}31`),
  a('skopeo copy --src-creds=user:SECRET', ['skopeo', 'copy', `--src-creds=bob:${PW}32`, 'docker://a', 'docker://b'], `${PW}32`),
  a('sh -c with a quoted -p"SECRET"', ['sh', '-c', `mysql -u root -p"${PW}33" -e 'select 1'`], `${PW}33`),
  a("sh -c with --password 'SECRET WITH SPACES'", ['sh', '-c', `psql --password '${PW}34 and more' -h db`], `${PW}34`),
  a('curl -u user:DIGITS (a numeric password, not a uid:gid)', ['curl', '-u', 'admin:4815162346', 'https://example.com'], '4815162346'),
  a('skopeo --src-creds user:DIGITS', ['skopeo', 'copy', '--src-creds', 'me:4815162347', 'docker://a', 'docker://b'], '4815162347'),
  a("sh -c with curl -u 'user:SECRET' quoted", ['sh', '-c', `curl -u 'admin:${PW}36' https://example.com`], `${PW}36`),
  a('mysql -u curl -p SECRET (a value named like another program)', ['mysql', '-u', 'curl', '-p', `${PW}37`, 'db'], `${PW}37`),
  a('docker login REGISTRY/7z -p DIGITS (a path ending in a program name)', ['docker', 'login', 'registry.example.com/7z', '-p', '4815162348'], '4815162348'),
  a("sh -c with $'SECRET' (ANSI-C quoting)", ['sh', '-c', `docker login -u me -p $'${PW}38' registry.example.com`], `${PW}38`),
  a('sh -c with a value glued from quoted parts', ['sh', '-c', `psql --password 'ab'${PW}39 -h db`], `${PW}39`),
  a('sh -c with -p and the value on a continuation line', ['sh', '-c', `docker login -u bob -p \\\n${PW}35 registry.example.com`], `${PW}35`),
  a('sh -c with docker login over continuation lines (a CI step)', ['sh', '-c', `docker login \\\n  -u bob \\\n  -p 4815162349 \\\n  registry.example.com`], '4815162349'),
  a('sh -c with mysql -pSECRET on a continuation line', ['bash', '-c', `mysql -h db \\\r\n  -u root \\\r\n  -p${PW}40 app`], `${PW}40`),
  a('sh -c with echo SECRET piped to docker login --password-stdin', ['sh', '-c', `echo '${PW}41' | docker login -u bob --password-stdin registry.example.com`], `${PW}41`),
  a('bash -c with a here-string to --password-stdin', ['bash', '-c', `docker login -u bob --password-stdin <<< ${PW}42`], `${PW}42`),
  a('sh -c with echo SECRET piped to sudo -S', ['sh', '-c', `echo '${PW}43' | sudo -S apt-get install -y jq`], `${PW}43`),
  a('sh -c with sqlcmd -P SECRET', ['sh', '-c', `sqlcmd -S db -U sa -P ${PW}45 -Q "select 1"`], `${PW}45`),
  f('an error holding the JSON text of a script with mysql -pSECRET on its second line', 'error', `{"script":"cd /app\\nmysql -uroot -p${PW}46 app"}`, `${PW}46`),
  a('sh -c with echo over continuation lines into --password-stdin', ['sh', '-c', `echo "${PW}44" \\\n  | docker login \\\n  -u bob --password-stdin`], `${PW}44`),
  // Signed URLs: the signature alone is the credential until the URL expires.
  a('an S3 presigned URL (X-Amz-Signature)', ['curl', `https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${AKIA}%2F20261201%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261201T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=${fake(50, 64, '0123456789abcdef')}`], fake(50, 64, '0123456789abcdef')),
  a('a GCS signed URL (X-Goog-Signature)', ['curl', `https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Date=20261201T000000Z&X-Goog-Expires=900&X-Goog-Signature=${fake(51, 128, '0123456789abcdef')}`], fake(51, 128, '0123456789abcdef')),
  a('an Azure SAS URL (sig=)', ['curl', `https://acct.blob.core.windows.net/c/b?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-12-02T00:00:00Z&sig=${fake(52, 43)}%3D`], fake(52, 43)),
  a('a CloudFront signed URL (Signature=)', ['sh', '-c', `curl "https://d1.cloudfront.net/v.mp4?Expires=1796000000&Signature=${fake(53, 60, B64URL)}&Key-Pair-Id=K2JCJMDEHXQW5F"`], fake(53, 60, B64URL)),
  a('curl -b COOKIE=VALUE', ['curl', '-b', `sid=${PW}47`, 'https://example.com'], `${PW}47`),
  a('sh -c with curl -b "COOKIE=VALUE"', ['sh', '-c', `curl -s -b "sid=${PW}48" https://example.com`], `${PW}48`),
  v('session=VALUE in text', `session=${PW}49`, `${PW}49`),
  v('a JSON "session" inside a string', `{"user":"bob","session":"${PW}50"}`, `${PW}50`),
  a('BW_SESSION=VALUE and --session VALUE', ['env', `BW_SESSION=${PW}51`, 'bw', 'list', 'items', '--session', `${PW}52`], [`${PW}51`, `${PW}52`]),
  v('auth=VALUE in text', `auth=${PW}53`, `${PW}53`),
  v('AUTH=VALUE in text', `AUTH=${PW}54`, `${PW}54`),
  v('Basic CREDENTIALS outside an Authorization header', `proxy said: Basic ${btoa(`bob:${PW}55`)}`, btoa(`bob:${PW}55`)),
  a('openssl enc -K HEXKEY', ['openssl', 'enc', '-aes-256-cbc', '-K', fake(56, 64, '0123456789abcdef'), '-iv', '00'.repeat(16)], fake(56, 64, '0123456789abcdef')),
  a('ssh-keygen -N and -P', ['ssh-keygen', '-p', '-f', 'id_ed25519', '-P', `${PW}57`, '-N', `${PW}58`], [`${PW}57`, `${PW}58`]),
  a('sh -c with ssh-keygen -N SECRET', ['sh', '-c', `ssh-keygen -t ed25519 -N '${PW}59' -f key`], `${PW}59`),
  a('twine upload -u user -p SECRET', ['twine', 'upload', '-u', '__token__', '-p', `${PW}60`, 'dist/*'], `${PW}60`),
  a('oc login -u dev -p SECRET', ['oc', 'login', '-u', 'dev', '-p', `${PW}61`, 'https://api.example.com:6443'], `${PW}61`),
  a('sh -c with az login and cf login', ['sh', '-c', `az login -u me@example.com -p ${PW}62 && cf login -u me -p ${PW}63`], [`${PW}62`, `${PW}63`]),
  a('cqlsh -u user -p SECRET', ['cqlsh', '-u', 'me', '-p', `${PW}64`, 'db.example.com'], `${PW}64`),
  a('sqlplus user/SECRET@db', ['sqlplus', '-S', `scott/${PW}65@orcl`, '@report.sql'], `${PW}65`),
  a('sh -c with expdp and rman connect strings', ['sh', '-c', `expdp system/${PW}66 directory=dp && rman target sys/${PW}67@db`], [`${PW}66`, `${PW}67`]),
  a('sqlplus "sys/SECRET as sysdba" as one element', ['sqlplus', `sys/${PW}68 as sysdba`], `${PW}68`),
  a('expdp userid=user/SECRET after other parameters', ['expdp', 'directory=dp', 'dumpfile=x.dmp', `userid=system/${PW}69`], `${PW}69`),
  a('sh -c with expdp parameters before userid=, rman with a second login, sqlplus flags with values', [
    'sh',
    '-c',
    `expdp directory=dp dumpfile=x.dmp userid=system/${PW}70@db; rman target sys/${PW}71@db catalog rcat/${PW}72@rcat; sqlplus -S -M "HTML ON" -R 3 scott/${PW}73@orcl`,
  ], [`${PW}70`, `${PW}71`, `${PW}72`, `${PW}73`]),
  a('sh -c with a quoted sysdba login, escaped', ['sh', '-c', `expdp \\"sys/${PW}74 as sysdba\\" directory=dp`], `${PW}74`),
  a('az sql server create -p (its --admin-password)', ['az', 'sql', 'server', 'create', '-n', 'db1', '-u', 'admin', '-p', `${PW}75`], `${PW}75`),
  a('sh -c with cf l (login) -p', ['sh', '-c', `cf l -a https://api.example.com -u me -p ${PW}76`], `${PW}76`),
  a('sh -c with impdp over continuation lines, userid= far from the program', [
    'sh',
    '-c',
    `impdp \\\n  directory=${'d'.repeat(120)} \\\n  dumpfile=${'f'.repeat(120)}.dmp \\\n  logfile=import.log \\\n  userid=system/${PW}77@db`,
  ], `${PW}77`),
  a('proxy and quoted-user logins', ['sh', '-c', `sqlplus proxy[app]/${PW}78@db; sqlplus '"scott"/${PW}79@db'`], [`${PW}78`, `${PW}79`]),
  a('proxy login as argv', ['sqlplus', `proxy[app]/${PW}80@db`], `${PW}80`),
  // A comma ends no shell word: what followed the first one stayed in the log.
  a('a comma inside an unquoted value, in argv and in a command string', ['sh', '-c', `app --password=x,${PW}81 && curl -H 'X-Api-Key: k,${PW}82' http://svc/`], [`${PW}81`, `${PW}82`]),
  a('a comma inside an environment-style value', ['env', `DB_PASSWORD=x,${PW}83`, 'app'], `${PW}83`),
];

/** Plain values: commands, paths, ids, words, numbers — audited exactly as sent. */
export const PLAIN: { name: string; argv: string[] }[] = [
  { name: 'paths', argv: ['cat', '/home/dev/project/src/index.ts', './build/out.js', '../README.md'] },
  { name: 'a git commit id (40 hex)', argv: ['git', 'show', '3f786850e387550fdab836ed7e6dc881de23001b'] },
  { name: 'git log format', argv: ['git', 'log', '--format=%H %s', '-n', '20'] },
  { name: 'UUIDs', argv: ['echo', '123e4567-e89b-12d3-a456-426614174000', 'f47ac10b-58cc-4372-a567-0e02b2c3d479'] },
  { name: 'ordinary words', argv: ['echo', 'hello', 'world', 'keyboard', 'monkey', 'tokenizer', 'passage'] },
  { name: 'numbers as strings', argv: ['seq', '1', '8080', '65536'] },
  { name: 'an ISO timestamp', argv: ['date', '-d', '2026-11-23T10:30:45.123Z'] },
  { name: 'an email address', argv: ['git', 'config', 'user.email', 'dev@example.com'] },
  { name: 'a URL without credentials', argv: ['curl', 'https://example.com:8443/api/v1/items?page=2&sort=name'] },
  { name: 'mkdir -p', argv: ['mkdir', '-p', 'src/features/login'] },
  { name: 'ssh -p port', argv: ['ssh', '-p', '2222', 'dev@host'] },
  { name: 'find -path -prune -print', argv: ['find', '.', '-path', './node_modules', '-prune', '-o', '-print'] },
  { name: 'docker run -p port mapping', argv: ['docker', 'run', '-p', '8080:80', '-u', '1000:1000', 'nginx'] },
  { name: 'docker run -p port range', argv: ['docker', 'run', '-p', '8000-8010:8000-8010', '-p9000:9000/udp', 'nginx'] },
  { name: 'a quoted port mapping in a command string', argv: ['sh', '-c', 'docker run -p "8080:80" nginx'] },
  { name: 'echo piped and a here-string to other commands', argv: ['bash', '-c', 'echo hello | grep h && wc -c <<< "some text"'] },
  { name: 'a port mapping and mkdir -p around continuation lines', argv: ['sh', '-c', 'docker run \\\n  -p 8080:80 \\\n  nginx\nmkdir -p build/out'] },
  { name: 'mysql -P port and -u user', argv: ['mysql', '-u', 'root', '-P', '3306', '-h', 'db'] },
  { name: 'long hyphenated names', argv: ['npm', 'install', '--save-dev', 'this-is-a-long-hyphenated-package-name', 'sk-learn'] },
  { name: 'a base64-looking file name', argv: ['ls', 'dist/assets/index-BwQmR4k9.js'] },
  { name: 'tar flags', argv: ['tar', '-czf', 'out.tar.gz', 'dist'] },
  { name: 'git -c setting', argv: ['git', '-c', 'core.editor=vim', 'commit'] },
  { name: 'where a secret is kept, not the secret', argv: ['docker', 'login', '--password-stdin', '--username', 'bob', 'registry.example.com'] },
  { name: 'a secret file, a cookie jar, a token count', argv: ['curl', '--cookie-jar', 'jar.txt', '--netrc-file', '/home/dev/.netrc', 'https://example.com', '--max-tokens', '100'] },
  { name: 'git --author and tmux sessions', argv: ['sh', '-c', 'git commit --author "Dev <dev@example.com>" -m fix && tmux new-session -d -s work && git log --author=dev'] },
  { name: 'the word Basic before words', argv: ['echo', 'Basic authentication is off; Basic usage: app --help'] },
  { name: 'a URL whose query names a signature scheme', argv: ['curl', 'https://example.com/api?sigv=4&signed=true&page=2'] },
  { name: 'the settings after a password in an option list', argv: ['mount', '-o', 'user=me,password=,uid=1000,gid=1000', '/dev/sdb1', '/mnt'] },
  { name: 'ssh-keygen and openssl without secrets', argv: ['sh', '-c', 'ssh-keygen -t ed25519 -f key -C dev@host && openssl enc -d -aes-256-cbc -in a -out b -pbkdf2'] },
  { name: 'az with a port, sqlplus as sysdba, a path after an unrelated tool', argv: ['sh', '-c', 'az vm open-port -p 8080 && sqlplus / as sysdba && cat src/report.sql'] },
  { name: 'words that are also old Oracle tools', argv: ['sh', '-c', 'git checkout -b exp origin/main && imp/run.sh'] },
  { name: 'where to authenticate and how, not with what', argv: ['openstack', '--os-auth-url', 'https://keystone.example.com:5000/v3', '--os-auth-type', 'password', 'server', 'list'] },
];

/** The audit event for one form. */
export function eventFor(form: { argv?: string[]; value?: string; field?: SecretForm['field'] }): AuditEvent {
  const e: AuditEvent = {
    event_type: 'tool_call',
    correlation_id: 'corpus',
    client_id: 'alice',
    client_ip: '10.1.2.3',
    api_key_hash: 'ab'.repeat(32),
    user: 'developer-1',
    tool_name: 'shell_execute',
    arguments: form.argv ? { command: form.argv[0], arguments: form.argv.slice(1) } : { command: 'echo', arguments: [form.value] },
    result: { exitCode: 0, durationMs: 5 },
    error: null,
  };
  if (form.field !== undefined) {
    e[form.field] = form.value!;
    e.arguments = { command: 'true', arguments: [] };
  }
  return e;
}

interface AuditModules {
  AuditWriter: new (opts: { file: string; redactor: unknown; chain?: boolean }) => { write(e: AuditEvent): void; close(): void };
  Redactor: new (secrets?: readonly string[], opts?: { keyStore?: KeyStore }) => unknown;
}

/**
 * Writes `events` through the audit writer of the checkout at `root` (with a
 * key store holding DIGEST_KEY by digest only) and returns the lines written.
 */
export async function auditThrough(root: string, events: AuditEvent[]): Promise<string[]> {
  // The audit modules moved to src/audit/; an older checkout has them under src/security/.
  const moved = existsSync(join(root, 'src/audit/writer.ts'));
  const audit = (await import(join(root, moved ? 'src/audit/writer.ts' : 'src/security/audit.ts'))) as Pick<AuditModules, 'AuditWriter'>;
  const redact = (await import(join(root, moved ? 'src/audit/redact.ts' : 'src/security/redact.ts'))) as Pick<AuditModules, 'Redactor'>;
  const dir = mkdtempSync(join(tmpdir(), 'hide-corpus-'));
  try {
    const keysFile = join(dir, 'keys.json');
    writeFileSync(keysFile, JSON.stringify({ clients: [{ client_id: 'alice', api_key_sha256: sha256Hex(DIGEST_KEY) }] }));
    const keyStore = new KeyStore({ file: keysFile });
    const file = join(dir, 'audit.jsonl');
    const w = new audit.AuditWriter({ file, redactor: new redact.Redactor(keyStore.knownSecrets(), { keyStore }), chain: true });
    for (const e of events) w.write(e);
    w.close();
    return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Names of the corpus forms whose secret survives into the audit line. */
export async function survivors(root: string): Promise<string[]> {
  const lines = await auditThrough(root, CORPUS.map(eventFor));
  return CORPUS.filter((form, i) => [form.secret].flat().some((s) => lines[i]!.includes(s))).map((form) => form.name);
}

if (import.meta.main) {
  const root = process.argv[2] ?? join(import.meta.dir, '..', '..');
  const left = await survivors(root);
  process.stdout.write(`${CORPUS.length - left.length}/${CORPUS.length} secret forms redacted (${root})\n`);
  for (const name of left) process.stdout.write(`  survives: ${name}\n`);
}
