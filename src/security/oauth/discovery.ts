/**
 * Finds an authorization server's metadata from its issuer URL: RFC 8414
 * (`/.well-known/oauth-authorization-server` inserted before the issuer's
 * path), then OpenID Connect discovery (`/.well-known/openid-configuration`
 * appended). A document counts only when its `issuer` is exactly the one
 * configured (RFC 8414 section 3.3), so one server cannot speak for another.
 */
import * as v from 'valibot';
import { isLoopbackName } from '../host.ts';
import { boundedFetch, isHttpUrl } from './bounded-fetch.ts';

// Only http(s): the document is the issuer's to write, and a `file:` or `data:` key set URL is not the issuer's keys.
const HttpUrl = v.pipe(v.string(), v.url(), v.check(isHttpUrl, 'expected an http(s) URL'));

const MetadataSchema = v.object({
  issuer: v.string(),
  jwks_uri: HttpUrl,
});

export interface ServerMetadata {
  issuer: string;
  jwksUri: string;
}

/** The URLs tried, in order. */
export function discoveryUrls(issuer: string): string[] {
  const u = new URL(issuer);
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
  return [`${u.origin}/.well-known/oauth-authorization-server${path}`, `${u.origin}${path}/.well-known/openid-configuration`];
}

/** Fetches the metadata; throws an Error saying what each URL answered. */
export async function discover(issuer: string, timeoutMs: number): Promise<ServerMetadata> {
  const problems: string[] = [];
  for (const url of discoveryUrls(issuer)) {
    try {
      const res = await boundedFetch(url, { headers: { accept: 'application/json' } }, timeoutMs);
      if (res.status !== 200) {
        problems.push(`${url}: HTTP ${res.status}`);
        continue;
      }
      const parsed = v.safeParse(MetadataSchema, await res.json());
      if (!parsed.success) {
        problems.push(`${url}: not authorization server metadata with an http(s) jwks_uri`);
        continue;
      }
      if (parsed.output.issuer !== issuer) {
        problems.push(`${url}: names issuer ${parsed.output.issuer.slice(0, 200)}, not ${issuer}`);
        continue;
      }
      const downgrade = downgradeProblem(issuer, parsed.output.jwks_uri);
      if (downgrade !== null) {
        problems.push(`${url}: ${downgrade}`);
        continue;
      }
      return { issuer, jwksUri: parsed.output.jwks_uri };
    } catch (err) {
      problems.push(`${url}: ${(err as Error).name === 'TimeoutError' ? 'timed out' : (err as Error).message}`);
    }
  }
  throw new Error(`discovery failed (${problems.join('; ')})`);
}

/** Reached over plain HTTP across a network: readable and changeable on the way. */
function cleartext(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'http:' && !isLoopbackName(u.hostname);
}

/**
 * An https issuer whose metadata sends key fetches over plain HTTP would
 * lose on the second request what TLS protected on the first: whoever is on
 * the path could hand out signing keys of their own. The operator chose
 * https; such metadata is refused rather than followed. The metadata's
 * introspection endpoint is not judged: this server never asks it (it asks
 * HIDE_OAUTH_INTROSPECTION_URL, warned about at start when plain HTTP), and
 * refusing the document for it would leave every token without keys.
 */
export function downgradeProblem(issuer: string, jwksUri: string): string | null {
  if (new URL(issuer).protocol !== 'https:' || !cleartext(jwksUri)) return null;
  return `names a plain-HTTP jwks_uri (${jwksUri.slice(0, 200)}) for an https issuer: keys fetched there could be swapped on the way`;
}

/**
 * One line per authorization server URL reached over plain HTTP off this
 * machine. Whoever is on the path could then hand out signing keys of their
 * own (and forge any token) through discovery, or read the introspection
 * client secret and every opaque token. Loopback is fine: nothing crosses a
 * network.
 */
export function cleartextWarnings(issuers: readonly string[], introspectionUrl: string | undefined): string[] {
  const lines = issuers.filter(cleartext).map((i) => `issuer ${i} is plain HTTP: its metadata and signing keys can be swapped on the way, and with them any token forged; use https`);
  if (introspectionUrl !== undefined && cleartext(introspectionUrl)) {
    lines.push(`HIDE_OAUTH_INTROSPECTION_URL ${introspectionUrl} is plain HTTP: the client secret and every opaque token cross the network readable; use https`);
  }
  return lines;
}
