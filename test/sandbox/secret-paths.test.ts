/**
 * sandboxGrantFor / secretExposures on real directories and symlinks, the
 * default rules' view of /etc, and — where the kernel has Landlock — a check
 * that the answers agree with what a restricted process can really open.
 */
import { describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LandlockRules } from '../../src/sandbox/landlock.ts';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { DEFAULT_READ_ONLY, sandboxRules } from '../../src/sandbox/rules.ts';
import { sandboxGrantFor, secretExposures } from '../../src/sandbox/secret-paths.ts';
import { tempDir } from '../helpers/temp.ts';


/** root/ws (read-write), root/ro (read-only), root/outside (not granted), each with files. */
function layout() {
  const root = tempDir('hide-secret-paths-');
  const ws = join(root, 'ws');
  const ro = join(root, 'ro');
  const outside = join(root, 'outside');
  for (const d of [ws, ro, outside]) mkdirSync(d);
  const secret = join(outside, 'keys.json');
  writeFileSync(secret, '{}');
  const rules: LandlockRules = { readWrite: [ws], readOnly: [ro], network: {} };
  return { root, ws, ro, outside, secret, rules, [Symbol.dispose]: () => rmSync(root, { recursive: true, force: true }) };
}

describe('sandboxGrantFor', () => {
  test.concurrent('a file reached through a link in a read-write tree is granted, though its name and where it leads lie outside', () => {
    using l = layout();
    // outside/keys.json is reached as root/entry/keys.json, root/entry → ws/lnk, ws/lnk → outside: a command can repoint ws/lnk.
    symlinkSync(join(l.ws, 'lnk'), join(l.root, 'entry'));
    symlinkSync(l.outside, join(l.ws, 'lnk'));
    expect(sandboxGrantFor(join(l.root, 'entry', 'keys.json'), l.rules)).toEqual({ rule: l.ws, access: 'read-write' });
    // A link whose target enters the read-write tree and climbs out again: the directory climbed out of can be swapped.
    mkdirSync(join(l.ws, 'sub'));
    symlinkSync(`${l.ws}/sub/../../outside`, join(l.root, 'climb'));
    expect(sandboxGrantFor(join(l.root, 'climb', 'keys.json'), l.rules)).toEqual({ rule: l.ws, access: 'read-write' });
    // A link in a read-only tree on the way grants nothing: it cannot be repointed.
    symlinkSync(l.outside, join(l.ro, 'lnk'));
    expect(sandboxGrantFor(join(l.ro, 'lnk', 'keys.json'), l.rules)).toBeNull();
  });

  test.concurrent('files beneath a rule are granted with its access; files outside are not', () => {
    using l = layout();
    writeFileSync(join(l.ws, 'a'), '');
    mkdirSync(join(l.ro, 'deep', 'er'), { recursive: true });
    writeFileSync(join(l.ro, 'deep', 'er', 'b'), '');
    expect(sandboxGrantFor(join(l.ws, 'a'), l.rules)).toEqual({ rule: l.ws, access: 'read-write' });
    expect(sandboxGrantFor(join(l.ro, 'deep', 'er', 'b'), l.rules)).toEqual({ rule: l.ro, access: 'read-only' });
    expect(sandboxGrantFor(l.ws, l.rules)).toEqual({ rule: l.ws, access: 'read-write' });
    expect(sandboxGrantFor(l.secret, l.rules)).toBeNull();
    expect(sandboxGrantFor(l.root, l.rules)).toBeNull();
  });

  test.concurrent('a rule covers whole path segments only: ws does not cover ws-evil or wsx', () => {
    using l = layout();
    for (const name of ['ws-evil', 'wsx']) {
      mkdirSync(join(l.root, name));
      writeFileSync(join(l.root, name, 'keys.json'), '');
      expect(sandboxGrantFor(join(l.root, name, 'keys.json'), l.rules)).toBeNull();
    }
    // Unnormalised spellings are compared after normalising.
    expect(sandboxGrantFor(`${l.ws}/../outside/keys.json`, l.rules)).toBeNull();
    expect(sandboxGrantFor(`${l.outside}/../ws/./x`, l.rules)).toEqual({ rule: l.ws, access: 'read-write' });
  });

  test.concurrent('a read-only rule counts where it led when the server started, as launchers grant it; one missing then grants nothing', () => {
    using l = layout();
    // Swapped while the server started: the launchers were told it led to /, though it is a directory again now.
    expect(sandboxGrantFor(l.secret, { ...l.rules, readOnlyAt: { [l.ro]: '/' } })).toEqual({ rule: l.ro, access: 'read-only' });
    expect(sandboxGrantFor(join(l.ro, 'x'), { ...l.rules, readOnlyAt: {} })).toBeNull();
  });

  test.concurrent("'/' as a rule grants everything", () => {
    using l = layout();
    expect(sandboxGrantFor(l.secret, { readWrite: [], readOnly: ['/'], network: {} })).toEqual({ rule: '/', access: 'read-only' });
    expect(sandboxGrantFor('/etc/shadow', { readWrite: ['/'], readOnly: [], network: {} })).toEqual({ rule: '/', access: 'read-write' });
  });

  test.concurrent('read-write wins over read-only when both cover a file, as Landlock adds the rights up', () => {
    using l = layout();
    const rules: LandlockRules = { readWrite: [l.outside], readOnly: [l.root], network: {} };
    expect(sandboxGrantFor(l.secret, rules)).toEqual({ rule: l.outside, access: 'read-write' });
  });

  test.concurrent('a symlink inside a granted tree pointing at a secret outside does not grant the secret', () => {
    using l = layout();
    symlinkSync(l.secret, join(l.ro, 'keys-link'));
    symlinkSync(l.outside, join(l.ro, 'dir-link'));
    expect(sandboxGrantFor(l.secret, l.rules)).toBeNull();
    // Opening the link reaches the secret's real location, which no rule covers.
    expect(sandboxGrantFor(join(l.ro, 'keys-link'), l.rules)).toBeNull();
    expect(sandboxGrantFor(join(l.ro, 'dir-link', 'keys.json'), l.rules)).toBeNull();
  });

  test.concurrent('a secret named through a directory commands can write is exposed, whatever the link points at', () => {
    using l = layout();
    symlinkSync(l.secret, join(l.ws, 'keys-link'));
    symlinkSync(l.outside, join(l.ws, 'dir-link'));
    // The server opens that name; a command can replace the link with a file of its own.
    expect(sandboxGrantFor(join(l.ws, 'keys-link'), l.rules)).toEqual({ rule: l.ws, access: 'read-write' });
    expect(sandboxGrantFor(join(l.ws, 'dir-link', 'keys.json'), l.rules)).toEqual({ rule: l.ws, access: 'read-write' });
    expect(sandboxGrantFor(l.secret, l.rules)).toBeNull();
  });

  test.concurrent('a secret reached through a symlinked rule path is granted, as the kernel follows the rule', () => {
    using l = layout();
    const ruleLink = join(l.root, 'rule-link');
    symlinkSync(l.outside, ruleLink);
    const fileLink = join(l.root, 'file-rule');
    symlinkSync(l.secret, fileLink);
    expect(sandboxGrantFor(l.secret, { readWrite: [], readOnly: [ruleLink], network: {} })).toEqual({ rule: ruleLink, access: 'read-only' });
    expect(sandboxGrantFor(l.secret, { readWrite: [fileLink], readOnly: [], network: {} })).toEqual({ rule: fileLink, access: 'read-write' });
    // The secret named through a symlinked directory resolves to the same place.
    const via = join(l.root, 'via');
    symlinkSync(l.ws, via);
    writeFileSync(join(l.ws, 'k'), '');
    expect(sandboxGrantFor(join(via, 'k'), l.rules)).toEqual({ rule: l.ws, access: 'read-write' });
  });

  test.concurrent('a file not yet created is judged where it would be created', () => {
    using l = layout();
    expect(sandboxGrantFor(join(l.ws, 'logs', 'audit.jsonl'), l.rules)).toEqual({ rule: l.ws, access: 'read-write' });
    expect(sandboxGrantFor(join(l.outside, 'logs', 'audit.jsonl'), l.rules)).toBeNull();
    // A dangling symlink: the server's O_CREAT would create the file at its target.
    symlinkSync(join(l.ro, 'later.jsonl'), join(l.outside, 'audit.jsonl'));
    expect(sandboxGrantFor(join(l.outside, 'audit.jsonl'), l.rules)).toEqual({ rule: l.ro, access: 'read-only' });
    // A symlink loop neither hangs nor throws.
    symlinkSync(join(l.outside, 'loop-b'), join(l.outside, 'loop-a'));
    symlinkSync(join(l.outside, 'loop-a'), join(l.outside, 'loop-b'));
    expect(sandboxGrantFor(join(l.outside, 'loop-a'), l.rules)).toBeNull();
  });

  test.concurrent('a rule that does not exist yet still counts where it will be', () => {
    using l = layout();
    const later = join(l.outside, 'later');
    expect(sandboxGrantFor(join(later, 'x'), { readWrite: [later], readOnly: [], network: {} })).toEqual({ rule: later, access: 'read-write' });
  });
});

describe('secretExposures', () => {
  test.concurrent('reports each reachable file once, including rotations and files not yet written', () => {
    using l = layout();
    const audit = join(l.ws, 'audit.jsonl');
    writeFileSync(audit, '');
    writeFileSync(`${audit}.1`, '');
    const env = join(l.ro, '.env');
    writeFileSync(env, '');
    const files = [l.secret, audit, `${audit}.1`, `${audit}.2`, env, join(l.outside, 'config.json'), l.secret, audit];
    expect(secretExposures(files, l.rules)).toEqual([
      { file: audit, rule: l.ws, access: 'read-write' },
      { file: `${audit}.1`, rule: l.ws, access: 'read-write' },
      { file: `${audit}.2`, rule: l.ws, access: 'read-write' },
      { file: env, rule: l.ro, access: 'read-only' },
    ]);
  });

  test.concurrent('nothing to report when every file sits outside the rules', () => {
    using l = layout();
    const audit = join(l.outside, 'log', 'audit.jsonl');
    expect(secretExposures([l.secret, audit, `${audit}.1`], l.rules)).toEqual([]);
  });
});

describe('the default rules and /etc', () => {
  const rules = sandboxRules({ workspace: '/nonexistent-hide-ws', network: 'off' });

  test('never grant /etc itself, nor its secrets', () => {
    expect(DEFAULT_READ_ONLY).not.toContain('/etc');
    for (const path of ['/etc', '/etc/shadow', '/etc/gshadow', '/etc/sudoers', '/etc/sudoers.d/x', '/etc/ssh/ssh_host_ed25519_key', '/etc/npmrc', '/etc/ssl/private/server.key', '/etc/pki/tls/private/server.key', '/etc/hide/keys.json', '/etc/hide/hide.env']) {
      expect({ path, grant: sandboxGrantFor(path, rules) }).toEqual({ path, grant: null });
    }
  });

  test('grant what ordinary tools read', () => {
    expect(sandboxGrantFor('/etc/ssl/certs', rules)).toMatchObject({ access: 'read-only' });
    expect(sandboxGrantFor('/etc/ssl/certs/ca-certificates.crt', rules)).toMatchObject({ access: 'read-only' });
    expect(sandboxGrantFor('/etc/passwd', rules)).toEqual({ rule: '/etc/passwd', access: 'read-only' });
    expect(sandboxGrantFor('/usr/bin/env', rules)).toMatchObject({ access: 'read-only' });
    // /etc/sslx is not /etc/ssl/certs.
    expect(sandboxGrantFor('/etc/ssl/certsx', rules)).toBeNull();
  });
});

/**
 * Runs in a child: restrict itself with the default rules for `ws`, then try
 * to open each path given on the command line and print which opened.
 */
const PROBE = `
import { openSync, closeSync } from 'node:fs';
import { restrictSelf } from ${JSON.stringify(join(import.meta.dir, '../../src/sandbox/landlock.ts'))};
import { sandboxRules } from ${JSON.stringify(join(import.meta.dir, '../../src/sandbox/rules.ts'))};
const [ws, ...paths] = process.argv.slice(2);
restrictSelf(sandboxRules({ workspace: ws, network: 'off' }));
const out = {};
for (const p of paths) {
  try { closeSync(openSync(p, 'r')); out[p] = 'open'; } catch (e) { out[p] = e.code; }
}
console.log(JSON.stringify(out));
`;

describe.skipIf(process.platform !== 'linux' || landlockAbi() === 0)('agreement with the kernel', () => {
  test('a process under the default rules opens what is granted and is refused the rest', async () => {
    using l = layout();
    writeFileSync(join(l.ws, 'mine'), '');
    symlinkSync(l.secret, join(l.ws, 'secret-link'));
    const script = join(l.root, 'probe.ts');
    writeFileSync(script, PROBE);
    const expected: Record<string, string> = {
      '/etc/passwd': 'open',
      '/etc/ssl/certs': 'open',
      '/etc/shadow': 'EACCES',
      '/etc/hostname': 'EACCES',
      [l.secret]: 'EACCES',
      [join(l.ws, 'mine')]: 'open',
      // Landlock checks the real location: the link does not open the secret.
      [join(l.ws, 'secret-link')]: 'EACCES',
    };
    const paths = Object.keys(expected).filter((p) => existsSync(p));
    await using proc = Bun.spawn([process.execPath, script, l.ws, ...paths], { stdout: 'pipe', stderr: 'pipe' });
    const [stdout, stderr, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(stdout)).toEqual(Object.fromEntries(paths.map((p) => [p, expected[p]])));
    // sandboxGrantFor says the same of the system paths and of the secret itself.
    const rules = sandboxRules({ workspace: l.ws, network: 'off' });
    for (const p of ['/etc/passwd', '/etc/ssl/certs', '/etc/shadow', '/etc/hostname', l.secret].filter((x) => existsSync(x))) {
      expect({ p, granted: sandboxGrantFor(p, rules) !== null }).toEqual({ p, granted: expected[p] === 'open' });
    }
  });
});
