import { describe, expect, test } from 'bun:test';
import { chmodSync, chownSync, lchownSync, mkdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runKeys } from '../../src/cli/keys.ts';
import { generateApiKey, KeyStore, keysFileWritableByOthers, plaintextKeysExposure, type ReloadResult, sha256Hex } from '../../src/security/keys.ts';
import { type Accounts, isPrivateGroup } from '../../src/util/path-writers.ts';
import { spawnServer } from '../ops/helpers.ts';
import { KeysFileWatcher } from '../../src/security/keys-watch.ts';
import { tempDir, waitFor } from './helpers.ts';

const KEY_A = 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0Uv';
const KEY_B = 'zyxwvutsrqponmlkjihgfedcba-ZYXWVUTSRQPONMLK';
const KEY_OFF = 'disabled-client-key-0123456789abcdefghijklm';

function writeKeys(file: string, clients: unknown[]): void {
  writeFileSync(file, JSON.stringify({ clients }));
}

function standardFile(dir: string): string {
  const file = join(dir, 'keys.json');
  writeKeys(file, [
    { client_id: 'plain', description: 'plaintext entry', enabled: true, api_key: KEY_A },
    { client_id: 'hashed', description: 'hash entry', enabled: true, api_key_sha256: sha256Hex(KEY_B).toUpperCase(), tools: ['check_file_exists'], readOnly: true },
    { client_id: 'off', description: 'disabled', enabled: false, api_key: KEY_OFF },
  ]);
  return file;
}

describe('KeyStore.authenticate', () => {
  test('single key is client "default"', () => {
    const store = new KeyStore({ apiKey: KEY_A });
    const r = store.authenticate(KEY_A);
    expect(r).toEqual({
      ok: true,
      client: { clientId: 'default', description: 'single configured key', tools: null, readOnly: false },
      keyHash: sha256Hex(KEY_A),
    });
  });

  test('plaintext and sha256 entries, tools and readOnly', () => {
    using dir = tempDir();
    const store = new KeyStore({ file: standardFile(dir.path) });
    const a = store.authenticate(KEY_A);
    expect(a.ok && a.client.clientId).toBe('plain');
    const b = store.authenticate(KEY_B);
    expect(b).toEqual({
      ok: true,
      client: { clientId: 'hashed', description: 'hash entry', tools: new Set(['check_file_exists']), readOnly: true },
      keyHash: sha256Hex(KEY_B),
    });
  });

  test('disabled client is refused as disabled, with the key hash', () => {
    using dir = tempDir();
    const store = new KeyStore({ file: standardFile(dir.path) });
    expect(store.authenticate(KEY_OFF)).toEqual({ ok: false, reason: 'disabled', keyHash: sha256Hex(KEY_OFF) });
  });

  test('missing, malformed and near-miss keys', () => {
    const store = new KeyStore({ apiKey: KEY_A });
    expect(store.authenticate('')).toEqual({ ok: false, reason: 'missing', keyHash: null });
    const malformed = [` ${KEY_A}`, `${KEY_A} `, `${KEY_A}\n`, `${KEY_A}\t`, `${KEY_A}\u0000`, `Bearer ${KEY_A}`, 'x'.repeat(1025), `${KEY_A}\u00a0`, `${KEY_A}\u2028`];
    for (const k of malformed) expect(store.authenticate(k)).toEqual({ ok: false, reason: 'invalid', keyHash: null });
    const nearMiss = [KEY_A.slice(0, -1), `${KEY_A}x`, KEY_A.toLowerCase(), KEY_A.toUpperCase(), `x${KEY_A}`, 'a'.repeat(1024)];
    // No digest of a value that is no key: the audit line of the failure would keep it, and a short one is guessed back.
    for (const k of nearMiss) expect(store.authenticate(k)).toEqual({ ok: false, reason: 'invalid', keyHash: null });
  });

  test('single key and file together', () => {
    using dir = tempDir();
    const store = new KeyStore({ apiKey: 'the-single-key-value', file: standardFile(dir.path) });
    expect(store.authenticate('the-single-key-value').ok).toBe(true);
    expect(store.authenticate(KEY_A).ok).toBe(true);
    expect(store.knownSecrets().sort()).toEqual(['the-single-key-value', KEY_A, KEY_OFF].sort());
  });
});

describe('KeyStore file validation', () => {
  const bad: [string, unknown][] = [
    ['duplicate client id', [{ client_id: 'x', api_key: KEY_A }, { client_id: 'x', api_key: KEY_B }]],
    ['duplicate key (plaintext vs hash)', [{ client_id: 'x', api_key: KEY_A }, { client_id: 'y', api_key_sha256: sha256Hex(KEY_A) }]],
    ['both key fields', [{ client_id: 'x', api_key: KEY_A, api_key_sha256: sha256Hex(KEY_B) }]],
    ['no key field', [{ client_id: 'x' }]],
    ['short hex', [{ client_id: 'x', api_key_sha256: 'abc' }]],
    ['key with whitespace', [{ client_id: 'x', api_key: 'has space' }]],
    ['empty client id', [{ client_id: '', api_key: KEY_A }]],
    // Shown as another client, or reordering the line it is shown on.
    ['a client id with a zero-width space', [{ client_id: 'alice\u200b', api_key: KEY_A }]],
    ['a client id with a right-to-left override', [{ client_id: 'adm\u202enimda', api_key: KEY_A }]],
    ['a client id with a line separator', [{ client_id: 'a\u2028b', api_key: KEY_A }]],
    // Beside OAuth tokens, the same client as the token user `sub` of that issuer.
    ['a client id of the form issuer#sub', [{ client_id: 'https://sso.example#alice', api_key: KEY_A }]],
    ['enabled not a boolean', [{ client_id: 'x', api_key: KEY_A, enabled: 'yes' }]],
    // A header carries it as Latin-1 bytes: it could never arrive as written.
    ['non-ASCII key', [{ client_id: 'x', api_key: 'clé-secrète-1234567' }]],
    // Ignored, these would leave the client with every tool, or enabled.
    ['a misspelt readOnly', [{ client_id: 'x', api_key: KEY_A, readonly: true }]],
    ['a misspelt enabled', [{ client_id: 'x', api_key: KEY_A, enabeld: false }]],
  ];
  for (const [name, clients] of bad) {
    test(`rejects ${name}`, () => {
      using dir = tempDir();
      const file = join(dir.path, 'keys.json');
      writeKeys(file, clients as unknown[]);
      expect(() => new KeyStore({ file })).toThrow(/keys file is invalid|duplicate|already uses/);
    });
  }

  test('a misspelt field is named with the field meant; other extra fields belong to the file owner', () => {
    using dir = tempDir();
    const file = join(dir.path, 'keys.json');
    writeKeys(file, [{ client_id: 'x', api_key: KEY_A, readonly: true, Tool: ['read_file'], owner: 'ops', created: '2026-01-01' }]);
    expect(() => new KeyStore({ file })).toThrow(
      'keys file is invalid: clients.0.readonly: unknown field (did you mean "readOnly"?); clients.0.Tool: unknown field (did you mean "tools"?)',
    );
    writeKeys(file, [{ client_id: 'x', api_key: KEY_A, owner: 'ops', created: '2026-01-01' }]);
    expect(new KeyStore({ file }).listClients().map((c) => c.clientId)).toEqual(['x']);
  });

  test('rejects non-JSON, wrong top level and a missing file', () => {
    using dir = tempDir();
    const file = join(dir.path, 'keys.json');
    writeFileSync(file, '{"clients": [');
    expect(() => new KeyStore({ file })).toThrow(/not valid JSON/);
    writeFileSync(file, '[]');
    expect(() => new KeyStore({ file })).toThrow(/keys file is invalid/);
    expect(() => new KeyStore({ file: join(dir.path, 'nope.json') })).toThrow(/ENOENT/);
  });

  test('single key clashing with a file client', () => {
    using dir = tempDir();
    expect(() => new KeyStore({ apiKey: KEY_A, file: standardFile(dir.path) })).toThrow(/already uses/);
    expect(() => new KeyStore({ apiKey: 'bad key' })).toThrow(/single API key/);
    expect(() => new KeyStore({ apiKey: 'clé-secrète-1234567' })).toThrow('the single API key must be 1-1024 printable ASCII characters, no spaces');
  });

  test('listClients shows fingerprints, never keys; hasAnyKey', () => {
    using dir = tempDir();
    const store = new KeyStore({ file: standardFile(dir.path) });
    const list = store.listClients();
    expect(list).toEqual([
      { clientId: 'plain', description: 'plaintext entry', enabled: true, fingerprint: sha256Hex(KEY_A).slice(0, 12) },
      { clientId: 'hashed', description: 'hash entry', enabled: true, fingerprint: sha256Hex(KEY_B).slice(0, 12) },
      { clientId: 'off', description: 'disabled', enabled: false, fingerprint: sha256Hex(KEY_OFF).slice(0, 12) },
    ]);
    expect(JSON.stringify(list)).not.toContain(KEY_A);
    expect(store.hasAnyKey()).toBe(true);
    expect(new KeyStore().hasAnyKey()).toBe(false);
    using dir2 = tempDir();
    const onlyOff = join(dir2.path, 'k.json');
    writeKeys(onlyOff, [{ client_id: 'off', enabled: false, api_key: KEY_OFF }]);
    expect(new KeyStore({ file: onlyOff }).hasAnyKey()).toBe(false);
  });
});

describe('keys file permissions', () => {
  // A local user who could rewrite a keys file of mode 0666 added a client of their own and ran commands as root
  // 1.5 s later, with no warning anywhere: the file is reloaded on every change.
  test('a keys file another user could rewrite is named: its mode, its owner, a directory on its path, one holding a link on the way', () => {
    using dir = tempDir();
    const safe = join(dir.path, 'safe');
    mkdirSync(safe);
    const file = join(safe, 'keys.json');
    writeKeys(file, [{ client_id: 'b', api_key_sha256: sha256Hex(KEY_B) }]);
    chmodSync(file, 0o644);
    expect(keysFileWritableByOthers(file)).toBeNull();
    chmodSync(file, 0o646);
    expect(keysFileWritableByOthers(file)).toContain(`keys file ${file}: it is writable by others (mode 0646), so another user could add a client`);
    chmodSync(file, 0o600);
    // A directory on the real path, and one that holds only a link on the way: whoever writes either repoints the path.
    const open = join(dir.path, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const link = join(open, 'keys.json');
    symlinkSync(file, link);
    expect(keysFileWritableByOthers(link)).toContain(`keys file ${link}: the directory ${open} is writable by group and others (mode 0777)`);
    // The sticky bit keeps others from renaming over, or removing, what they do not own (/tmp).
    chmodSync(open, 0o1777);
    expect(keysFileWritableByOthers(link)).toBeNull();
    if (process.getuid?.() !== 0) return;
    // A group other than the owner's own, and another owner.
    chownSync(file, 0, 65534);
    chmodSync(file, 0o620);
    expect(keysFileWritableByOthers(file)).toContain('it is writable by its group (mode 0620)');
    chmodSync(file, 0o600);
    // Not a name another user owns there: the sticky bit lets its owner rename it.
    lchownSync(link, 65534, 65534);
    expect(keysFileWritableByOthers(link)).toContain(`${link}, in the sticky directory ${open}, is owned by uid 65534`);
    lchownSync(link, 0, 0);
    chownSync(open, 65534, 65534);
    expect(keysFileWritableByOthers(link)).toContain(`the directory ${open} is owned by uid 65534`);
  });

  // An ACL entry `u:65521:rw` on a root:root 0600 file (or its directory) let that user add a client unwarned; and
  // root's group 0 may have other members, so it is no private group.
  test('write granted by an ACL entry, or through root\'s group, is named', () => {
    using dir = tempDir();
    const file = join(dir.path, 'keys.json');
    writeKeys(file, [{ client_id: 'b', api_key_sha256: sha256Hex(KEY_B) }]);
    chmodSync(file, 0o600);
    const entry = (tag: number, perm: number, id: number) => {
      const b = Buffer.alloc(8);
      b.writeUInt16LE(tag, 0);
      b.writeUInt16LE(perm, 2);
      b.writeUInt32LE(id, 4);
      return b;
    };
    const acl = Buffer.concat([Buffer.from([2, 0, 0, 0]), entry(0x01, 6, 0xffffffff), entry(0x02, 6, 65521), entry(0x04, 0, 0xffffffff), entry(0x10, 6, 0xffffffff), entry(0x20, 0, 0xffffffff)]);
    const set = Bun.spawnSync(['python3', '-c', `import os; os.setxattr(${JSON.stringify(file)}, 'system.posix_acl_access', bytes.fromhex('${acl.toString('hex')}'))`]);
    if (set.exitCode === 0) {
      expect(keysFileWritableByOthers(file)).toContain('it has an ACL that lets uid 65521 write');
      // The user the ACL lets in can add attributes of their own: past the 64 a file tool carries, the ACL was not read.
      const many = Bun.spawnSync(['python3', '-c', `import os\nfor i in range(70): os.setxattr(${JSON.stringify(file)}, f'user.pad{i}', b'x')`]);
      if (many.exitCode === 0) expect(keysFileWritableByOthers(file)).toContain('it has an ACL that lets uid 65521 write');
    }
    if (process.getuid?.() !== 0) return;
    const plain = join(dir.path, 'plain.json');
    writeKeys(plain, [{ client_id: 'b', api_key_sha256: sha256Hex(KEY_B) }]);
    chmodSync(plain, 0o660);
    expect(keysFileWritableByOthers(plain)).toContain('it is writable by its group (mode 0660)');
  });

  // A user's own group (as user-private-group systems make one, where the umask is 002) is the user: a first run in a
  // directory of mode 0775 warned about itself. The number alone is not enough: a gid equal to the uid that the group
  // table does not name as the user's (`--user 1000:1000`, a Kubernetes fsGroup, `users` at 100) may have members,
  // and one of them could add a client.
  test('group write through the owner\'s private group is not another user; through a group that only shares its number, it is', () => {
    const own = { passwd: 'root:x:0:0::/root:/bin/sh\nu1:x:65521:65521::/home/u1:/bin/sh\n', group: 'root:x:0:\nu1:x:65521:\n' };
    expect(isPrivateGroup(65521, 65521, own)).toBe(true);
    expect(isPrivateGroup(65521, 65521, { ...own, group: 'root:x:0:\nu1:x:65521:u1\n' })).toBe(true);
    const shared: Array<[string, Accounts]> = [
      ['not in the tables', { passwd: '', group: '' }],
      ['a group the table does not have', { ...own, group: 'root:x:0:\n' }],
      ['another member', { ...own, group: 'u1:x:65521:u1,u2\n' }],
      ['another name', { ...own, group: 'staff:x:65521:\n' }],
      ['a second name for it', { ...own, group: 'u1:x:65521:\nteam:x:65521:u2\n' }],
      ["another user's primary group", { ...own, passwd: `${own.passwd}u2:x:65522:65521::/home/u2:/bin/sh\n` }],
    ];
    for (const [why, accounts] of shared) expect([why, isPrivateGroup(65521, 65521, accounts)]).toEqual([why, false]);
    expect(isPrivateGroup(0, 0, own)).toBe(false);
    expect(isPrivateGroup(65521, 65522, own)).toBe(false);

    if (process.getuid?.() !== 0) return;
    using dir = tempDir();
    const file = join(dir.path, 'keys.json');
    writeKeys(file, [{ client_id: 'b', api_key_sha256: sha256Hex(KEY_B) }]);
    chmodSync(dir.path, 0o775);
    chmodSync(file, 0o664);
    // As a server whose user is 65521, owning both, with the group of its own.
    chownSync(file, 65521, 65521);
    chownSync(dir.path, 65521, 65521);
    expect(keysFileWritableByOthers(file, 65521, own)).toBeNull();
    // The same numbers where the tables name no private group: its members could write.
    expect(keysFileWritableByOthers(file, 65521, { passwd: '', group: '' })).toContain('it is writable by its group (mode 0664)');
    // Which is another user's group to any other server user.
    expect(keysFileWritableByOthers(file, 65522, own)).toContain('is owned by uid 65521');
  });

  test('plaintext keys other users can read are named with the mode; digests only, or mode 0600, are fine', () => {
    using dir = tempDir();
    const file = join(dir.path, 'keys.json');
    writeKeys(file, [
      { client_id: 'a', api_key: KEY_A },
      { client_id: 'b', api_key_sha256: sha256Hex(KEY_B) },
    ]);
    const store = new KeyStore({ apiKey: generateApiKey(), file });
    expect(store.plaintextInFile()).toBe(1);
    chmodSync(file, 0o640);
    expect(plaintextKeysExposure(file, store.plaintextInFile())).toBe(
      `keys file ${file} holds 1 plaintext key(s) (api_key) and is readable by other users (mode 0640): chmod 600 it, or keep only digests (api_key_sha256, as \`hide keys generate\` writes)`,
    );
    chmodSync(file, 0o600);
    expect(plaintextKeysExposure(file, 1)).toBeNull();
    const digests = join(dir.path, 'digests.json');
    writeKeys(digests, [{ client_id: 'b', api_key_sha256: sha256Hex(KEY_B) }]);
    chmodSync(digests, 0o644);
    // The single configured key is plaintext too, but not in the file.
    expect(plaintextKeysExposure(digests, new KeyStore({ apiKey: KEY_A, file: digests }).plaintextInFile())).toBeNull();
  });

  test('serve warns at start about a world-readable keys file with plaintext keys', async () => {
    using dir = tempDir();
    const file = join(dir.path, 'keys.json');
    writeKeys(file, [{ client_id: 'a', api_key: KEY_A }]);
    chmodSync(file, 0o644);
    await using s = await spawnServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: file, HIDE_SANDBOX: 'off' });
    expect(s.log()).toContain(`keys file ${file} holds 1 plaintext key(s) (api_key) and is readable by other users (mode 0644)`);
  });
});

describe('tool names a client lists', () => {
  test('names that are no tool are reported per client; "*" and known names are not', () => {
    using dir = tempDir();
    const file = join(dir.path, 'keys.json');
    writeKeys(file, [
      { client_id: 'a', api_key_sha256: sha256Hex(KEY_A), tools: ['read_file', 'shell_*', 'readfile'] },
      { client_id: 'b', api_key_sha256: sha256Hex(KEY_B), tools: ['*'] },
    ]);
    expect(new KeyStore({ file }).unknownTools(new Set(['read_file', 'shell_execute']))).toEqual([
      'keys file client "a" lists tool "shell_*", which does not exist: it grants nothing',
      'keys file client "a" lists tool "readfile", which does not exist: it grants nothing',
    ]);
  });

  test('serve warns at start and after a reload', async () => {
    using dir = tempDir();
    const file = join(dir.path, 'keys.json');
    writeKeys(file, [{ client_id: 'a', api_key_sha256: sha256Hex(KEY_A), tools: ['read_file', 'shell_*'] }]);
    await using s = await spawnServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: file, HIDE_SANDBOX: 'off' });
    expect(s.log()).toContain('keys file client \\"a\\" lists tool \\"shell_*\\", which does not exist: it grants nothing');
    writeKeys(file, [{ client_id: 'a', api_key_sha256: sha256Hex(KEY_A), tools: ['write_fil'] }]);
    await waitFor(() => s.log().includes('lists tool \\"write_fil\\"'), 5000, 'the warning after the reload');
  });
});

describe('reload to no enabled key', () => {
  test('is taken, and serve says that every request is now refused', async () => {
    using dir = tempDir();
    const file = join(dir.path, 'keys.json');
    writeKeys(file, [{ client_id: 'a', api_key_sha256: sha256Hex(KEY_A) }]);
    await using s = await spawnServer({ HIDE_AUTH_ENABLED: 'true', HIDE_API_KEYS_FILE: file, HIDE_SANDBOX: 'off' });
    writeKeys(file, [{ client_id: 'a', api_key_sha256: sha256Hex(KEY_A), enabled: false }]);
    await waitFor(() => s.log().includes('the keys file now enables no key: every MCP request is refused until one is enabled'), 5000, 'the warning');
  });
});

describe('KeyStore reload', () => {
  test('a broken file keeps the last good keys and reports the error', () => {
    using dir = tempDir();
    const file = standardFile(dir.path);
    const results: ReloadResult[] = [];
    const store = new KeyStore({ file, onReload: (r) => results.push(r) });
    writeFileSync(file, '{ not json');
    expect(store.reload()).toMatchObject({ ok: false, clients: 3 });
    expect(store.authenticate(KEY_A).ok).toBe(true);
    writeKeys(file, [{ client_id: 'dup', api_key: KEY_A }, { client_id: 'dup', api_key: KEY_B }]);
    expect(store.reload().ok).toBe(false);
    renameSync(file, join(dir.path, 'gone.json'));
    expect(store.reload().error).toContain('ENOENT');
    expect(store.authenticate(KEY_B).ok).toBe(true);
    writeKeys(file, [{ client_id: 'only-b', api_key: KEY_B }]);
    expect(store.reload()).toEqual({ ok: true, clients: 1 });
    expect(store.authenticate(KEY_A)).toMatchObject({ ok: false, reason: 'invalid' });
    expect(results.map((r) => r.ok)).toEqual([false, false, false, true]);
  });

  test('a listener that throws does not break reload', () => {
    using dir = tempDir();
    const store = new KeyStore({ file: standardFile(dir.path), onReload: () => { throw new Error('boom'); } });
    expect(store.reload().ok).toBe(true);
  });

  test('watch picks up a client added by `keys generate` and an in-place edit within 2 s', async () => {
    using dir = tempDir();
    const file = standardFile(dir.path);
    const results: ReloadResult[] = [];
    const store = new KeyStore({ file, onReload: (r) => results.push(r) });
    store.watch();
    try {
      let out = '';
      const code = await runKeys(['generate', '--client-id', 'newbie', '--file', file], { out: (s) => (out += s), err: () => {} });
      expect(code).toBe(0);
      const key = out.trim();
      await waitFor(() => store.authenticate(key).ok, 2000, 'the generated key to authenticate');

      // In-place rewrite (same inode), then a broken write that must be ignored.
      const doc = JSON.parse(readFileSync(file, 'utf8'));
      doc.clients.push({ client_id: 'inplace', api_key: 'in-place-added-key-000000000000' });
      writeFileSync(file, JSON.stringify(doc));
      await waitFor(() => store.authenticate('in-place-added-key-000000000000').ok, 2000, 'the in-place edit');
      writeFileSync(file, '{"clients": [ broken');
      await waitFor(() => results.some((r) => !r.ok), 2000, 'the broken file to be reported');
      expect(store.authenticate(key).ok).toBe(true);
    } finally {
      store.close();
    }
  });
});

describe('helpers', () => {
  test('generateApiKey: 43 base64url chars, 256 bits, distinct', () => {
    const keys = new Set(Array.from({ length: 100 }, generateApiKey));
    expect(keys.size).toBe(100);
    for (const k of keys) {
      expect(k).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(k, 'base64url').length).toBe(32);
    }
  });

  test('sha256Hex', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('hide keys', () => {
  function capture() {
    const io = { outText: '', errText: '', out: (s: string) => void (io.outText += s), err: (s: string) => void (io.errText += s) };
    return io;
  }

  test('generate creates a 0600 file with only the hash; list shows it; the key works', async () => {
    using dir = tempDir();
    const file = join(dir.path, 'sub.json');
    const io = capture();
    expect(await runKeys(['generate', '--client-id', 'ci-bot', '--description', 'CI robot', '--file', file], io)).toBe(0);
    const key = io.outText.trim();
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(key);
    expect(JSON.parse(text)).toEqual({
      clients: [{ client_id: 'ci-bot', description: 'CI robot', enabled: true, api_key_sha256: sha256Hex(key) }],
    });
    expect(new KeyStore({ file }).authenticate(key)).toMatchObject({ ok: true, client: { clientId: 'ci-bot' } });

    const io2 = capture();
    expect(await runKeys(['generate', '--client-id', 'second', '--file', file], io2)).toBe(0);
    const listIo = capture();
    expect(await runKeys(['list', '--file', file], listIo)).toBe(0);
    const lines = listIo.outText.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^CLIENT ID\s+ENABLED\s+FINGERPRINT\s+DESCRIPTION$/);
    expect(lines[1]).toMatch(new RegExp(`^ci-bot\\s+yes\\s+${sha256Hex(key).slice(0, 12)}\\s+CI robot$`));
    expect(listIo.outText).not.toContain(key);
  });

  test('generate keeps existing entries and fields, refuses a duplicate id', async () => {
    using dir = tempDir();
    const file = standardFile(dir.path);
    const io = capture();
    expect(await runKeys(['generate', '--client-id', 'plain', '--file', file], io)).toBe(2);
    expect(io.errText).toContain('already exists');
    expect(io.outText).toBe('');
    expect(await runKeys(['generate', '--client-id', 'fresh', '--file', file], capture())).toBe(0);
    const store = new KeyStore({ file });
    expect(store.listClients().map((c) => c.clientId)).toEqual(['plain', 'hashed', 'off', 'fresh']);
    expect(store.authenticate(KEY_A).ok).toBe(true);
  });

  test('list shows control characters of a description escaped, one line per client', async () => {
    using dir = tempDir();
    const file = join(dir.path, 'keys.json');
    writeKeys(file, [{ client_id: 'a', api_key_sha256: sha256Hex(KEY_A), description: 'line1\nline2 \u001b[31mred \u202eright' }]);
    const io = capture();
    expect(await runKeys(['list', '--file', file], io)).toBe(0);
    expect(io.outText.split('\n')[1]).toBe(`a          yes      ${sha256Hex(KEY_A).slice(0, 12)}  line1\\u000aline2 \\u001b[31mred \\u202eright`);
    expect(io.outText.split('\n')).toHaveLength(3);
  });

  test('usage errors exit 2; --help exits 0', async () => {
    using dir = tempDir();
    const file = join(dir.path, 'k.json');
    const cases: string[][] = [
      [],
      ['frobnicate'],
      ['generate', '--file', file],
      ['generate', '--client-id', 'has space', '--file', file],
      ['generate', '--client-id', 'x', '--bogus', '--file', file],
      ['list', '--file', join(dir.path, 'missing.json')],
      ['list', 'extra', '--file', file],
    ];
    for (const argv of cases) {
      const io = capture();
      expect({ argv, code: await runKeys(argv, io) }).toEqual({ argv, code: 2 });
      expect(io.errText).toStartWith('hide keys: ');
    }
    const io = capture();
    expect(await runKeys(['--help'], io)).toBe(0);
    expect(io.outText).toContain('hide keys generate --client-id ID');
  });

  test('generate into a broken file refuses and leaves it untouched', async () => {
    using dir = tempDir();
    const file = join(dir.path, 'k.json');
    writeFileSync(file, '{"clients": 5}');
    const io = capture();
    expect(await runKeys(['generate', '--client-id', 'x', '--file', file], io)).toBe(2);
    expect(readFileSync(file, 'utf8')).toBe('{"clients": 5}');
  });

  test('default file comes from HIDE_API_KEYS_FILE', async () => {
    using dir = tempDir();
    const file = join(dir.path, 'env.json');
    const saved = process.env.HIDE_API_KEYS_FILE;
    process.env.HIDE_API_KEYS_FILE = file;
    try {
      expect(await runKeys(['generate', '--client-id', 'from-env'], capture())).toBe(0);
      expect(new KeyStore({ file }).listClients()[0]?.clientId).toBe('from-env');
    } finally {
      if (saved === undefined) delete process.env.HIDE_API_KEYS_FILE;
      else process.env.HIDE_API_KEYS_FILE = saved;
    }
  });
});

describe('KeysFileWatcher', () => {
  test('the stat poll alone notices a same-size rewrite within 2 s', async () => {
    using dir = tempDir();
    const file = join(dir.path, 'k.json');
    writeFileSync(file, '{"v":1}');
    let changes = 0;
    const w = new KeysFileWatcher(file, () => changes++, { fsWatch: false });
    try {
      // A replacement by rename gives a new inode even when size and mtime look alike.
      writeFileSync(join(dir.path, 'tmp'), '{"v":2}');
      renameSync(join(dir.path, 'tmp'), file);
      await waitFor(() => changes === 1, 2000, 'the poll to notice the change');
    } finally {
      w.close();
    }
  });
});

describe('a short key kept only as a digest', () => {
  // Its length shows only when it is presented: a plaintext key's is said at start, a digest's went unsaid, and under
  // 16 characters the audit log did not mask it by value either.
  test('is said once, when it first signs in, naming its client and length, never the key', () => {
    using dir = tempDir();
    const file = join(dir.path, 'keys.json');
    const [short, shorter] = ['Sh0rtKey-15chr', 'Twenty-two-chars-key-x'];
    writeKeys(file, [
      { client_id: 'shorty', api_key_sha256: sha256Hex(short) },
      { client_id: 'longer', api_key_sha256: sha256Hex(shorter) },
      { client_id: 'good', api_key_sha256: sha256Hex(KEY_A) },
    ]);
    const said: string[] = [];
    const store = new KeyStore({ file, onShortKey: (line) => said.push(line) });
    expect(store.shortKeys()).toEqual([]);
    for (const key of [short, short, shorter, KEY_A, shorter]) expect(store.authenticate(key).ok).toBe(true);
    expect(said).toEqual([
      'the key of client "shorty" has 14 characters: a short key can be guessed by trying; use 32 or more random characters (`hide keys generate` makes 43); one this short is not masked by value in the audit log',
      'the key of client "longer" has 22 characters: a short key can be guessed by trying; use 32 or more random characters (`hide keys generate` makes 43)',
    ]);
  });
});
