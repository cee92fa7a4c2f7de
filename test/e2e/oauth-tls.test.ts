/**
 * An https authorization server, reached as the server reaches a real one
 * (TLS verified against a CA the test makes and hands over through
 * NODE_EXTRA_CA_CERTS): metadata that sends key fetches over plain HTTP
 * across a network is refused; the same metadata over https is followed.
 */
import { afterAll, expect, test } from 'bun:test';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { keysOutcome, startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { tempDir } from '../helpers/server.ts';

const dir = tempDir();
const started: ServerProcess[] = [];
afterAll(async () => {
  for (const s of started) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

const made = Bun.spawnSync(
  ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'],
  { cwd: dir, stderr: 'pipe' },
);

/** An https issuer at https://localhost:PORT whose metadata names `jwksUri(port)`; its own /jwks holds one (placeholder) signing key. */
function tlsIssuer(jwksUri: (port: number) => string, more: Record<string, string> = {}) {
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    tls: { cert: Bun.file(join(dir, 'cert.pem')), key: Bun.file(join(dir, 'key.pem')) },
    fetch(req: Request): Response {
      const { pathname } = new URL(req.url);
      if (pathname === '/.well-known/oauth-authorization-server') return Response.json({ issuer: `https://localhost:${server.port}`, jwks_uri: jwksUri(server.port!), ...more });
      if (pathname === '/jwks') return Response.json({ keys: [{ kty: 'RSA', kid: 'k1', use: 'sig', n: 'AQAB', e: 'AQAB' }] });
      return new Response('not found', { status: 404 });
    },
  });
  return server;
}

async function readiness(issuer: string): Promise<string> {
  const s = await startServerProcess({
    cwd: dir,
    env: {
      NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'),
      HIDE_AUTH_MODE: 'oauth',
      HIDE_OAUTH_ISSUERS: issuer,
      HIDE_OAUTH_RESOURCE: 'http://127.0.0.1:1/mcp',
      HIDE_SANDBOX: 'off',
      HIDE_AUDIT_LOG_ENABLED: 'false',
    },
  });
  started.push(s);
  return keysOutcome(s, 15_000);
}

test.skipIf(made.exitCode !== 0)("an https issuer's metadata naming a plain-HTTP jwks_uri off this machine is refused; an https one is followed", async () => {
  const plain = tlsIssuer(() => 'http://keys.example.com/jwks');
  const secure = tlsIssuer((port) => `https://localhost:${port}/jwks`);
  try {
    const refused = await readiness(`https://localhost:${plain.port}`);
    expect(refused).toContain('names a plain-HTTP jwks_uri (http://keys.example.com/jwks) for an https issuer');
    const followed = await readiness(`https://localhost:${secure.port}`);
    expect(JSON.parse(followed)).toEqual({ status: 'ready' });
  } finally {
    plain.stop(true);
    secure.stop(true);
  }
}, 40_000);

test.skipIf(made.exitCode !== 0)('an introspection endpoint the metadata names but this server never asks does not refuse the keys', async () => {
  // The endpoint asked is HIDE_OAUTH_INTROSPECTION_URL, warned about when plain HTTP; the metadata's own is only
  // compared with it. Refusing the whole document for it left every token of a JWT-only set-up unable to be checked.
  const issuer = tlsIssuer((port) => `https://localhost:${port}/jwks`, { introspection_endpoint: 'http://sso.internal.example/introspect' });
  try {
    expect(JSON.parse(await readiness(`https://localhost:${issuer.port}`))).toEqual({ status: 'ready' });
  } finally {
    issuer.stop(true);
  }
}, 40_000);
