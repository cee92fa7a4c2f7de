/**
 * A real OpenID provider (oidc-provider) on an ephemeral loopback port, for
 * the OAuth tests: resource indicators on, tokens by client credentials, as
 * JWTs signed with keys this helper made — so a test can also forge tokens
 * with the very key, rotate keys, and take the key set endpoint down.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';

export const SCOPES = 'hide:read hide:write hide:exec';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  privateJwk: JWK;
}

export interface TestClient {
  id: string;
  secret: string;
  scope: string;
}

export const CLIENTS: TestClient[] = [
  { id: 'exec-bot', secret: 'exec-bot-secret-0123456789', scope: SCOPES },
  { id: 'reader', secret: 'reader-secret-0123456789', scope: 'hide:read' },
  { id: 'sdk-client', secret: 'sdk-client-secret-0123456789', scope: SCOPES },
  // hide itself, when it introspects opaque tokens.
  { id: 'hide', secret: 'hide-introspection-secret-0123456789', scope: '' },
];

let kidCounter = 0;
export async function newSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `key-${++kidCounter}-${crypto.randomUUID().slice(0, 8)}`;
  return { kid, privateKey, publicKey, privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' } };
}

export class TestIdp {
  /** Requests that reached the key set endpoint (answered or not). */
  jwksHits = 0;
  /** When true the key set endpoint answers 503. */
  jwksDown = false;
  /** When true the introspection endpoint answers 503. */
  introspectionDown = false;
  /** When set, the introspection endpoint (the one its metadata names) answers this instead of the provider's verdict. */
  introspectionAnswer: (() => Record<string, unknown>) | null = null;
  issuer = '';
  keys: SigningKey[] = [];
  private handler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  private readonly server = createServer((req, res) => {
    if (req.url?.startsWith('/jwks')) {
      this.jwksHits++;
      if (this.jwksDown) {
        res.writeHead(503).end();
        return;
      }
    }
    if (req.url?.startsWith('/token/introspection') && this.introspectionDown) {
      res.writeHead(503).end();
      return;
    }
    if (req.url?.startsWith('/token/introspection') && this.introspectionAnswer) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.introspectionAnswer()));
      return;
    }
    this.handler!(req, res);
  });

  /** Issue opaque tokens (checked by introspection) instead of JWTs. */
  opaque = false;

  static async start(resource: string, opts: { opaque?: boolean } = {}): Promise<TestIdp> {
    const idp = new TestIdp();
    idp.opaque = opts.opaque ?? false;
    await new Promise<void>((r) => idp.server.listen(0, '127.0.0.1', () => r()));
    idp.issuer = `http://127.0.0.1:${(idp.server.address() as AddressInfo).port}`;
    idp.resource = resource;
    idp.keys = [await newSigningKey()];
    idp.boot();
    return idp;
  }

  resource = '';

  /** (Re)builds the provider over the current keys; the first key signs. */
  private boot(): void {
    const provider = new Provider(this.issuer, {
      jwks: { keys: this.keys.map((k) => k.privateJwk) as never },
      clients: CLIENTS.map((c) => ({
        client_id: c.id,
        client_secret: c.secret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        ...(c.scope ? { scope: c.scope } : {}),
      })),
      scopes: SCOPES.split(' '),
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        introspection: { enabled: true, allowedPolicy: () => true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => this.resource,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx: unknown, indicator: string) => ({
            scope: SCOPES,
            audience: indicator,
            accessTokenFormat: this.opaque ? 'opaque' : 'jwt',
            accessTokenTTL: 600,
            jwt: { sign: { alg: 'RS256' } },
          }),
        },
      },
      ttl: { ClientCredentials: 600 },
    });
    this.handler = provider.callback();
  }

  /** A new signing key first, the old ones still published. */
  async rotate(): Promise<SigningKey> {
    const key = await newSigningKey();
    this.keys = [key, ...this.keys];
    this.boot();
    return key;
  }

  /** Publishes only the current signing key. */
  dropOldKeys(): void {
    this.keys = [this.keys[0]!];
    this.boot();
  }

  /** The settings under which hide asks this provider's introspection endpoint (the one its metadata names), as its client `hide`. */
  introspectionEnv(): Record<string, string> {
    const c = CLIENTS.find((x) => x.id === 'hide')!;
    return { HIDE_OAUTH_INTROSPECTION_URL: `${this.issuer}/token/introspection`, HIDE_OAUTH_INTROSPECTION_CLIENT_ID: c.id, HIDE_OAUTH_INTROSPECTION_CLIENT_SECRET: c.secret };
  }

  /** An access token by client credentials. */
  async token(clientId: string, opts: { scope?: string; resource?: string } = {}): Promise<string> {
    const c = CLIENTS.find((x) => x.id === clientId)!;
    const res = await fetch(`${this.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${btoa(`${c.id}:${c.secret}`)}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: opts.scope ?? c.scope, resource: opts.resource ?? this.resource }),
    });
    const body = (await res.json()) as { access_token?: string };
    if (res.status !== 200 || !body.access_token) throw new Error(`token request failed: ${res.status} ${JSON.stringify(body)}`);
    return body.access_token;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export { freePort } from './free-port.ts';
