/**
 * What checking an OAuth access token costs over checking an API key: two
 * hide servers, one on API keys and one in OAuth mode with the issuer's keys
 * already cached, answering the same tools/list; the difference in server
 * CPU per request is the token check (signature, claims, scope mapping).
 * The issuer is a static discovery document and key set served from the
 * bench process: only the first request fetches them.
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { judge, type Scenario } from '../lib/context.ts';
import { MCP_HEADERS, rpcBody, setupHide, startHide } from '../lib/hide.ts';
import { freePort } from '../lib/proc.ts';
import { fmt, signed } from '../lib/stats.ts';
import { wrk, writePostScript } from '../lib/wrk.ts';
import { alternate, maxRps, metered } from './http.ts';

const TOOLS_LIST = rpcBody('tools/list', undefined, 1);

/** A discovery document and key set on loopback; returns the issuer and a signer. */
async function staticIssuer() {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' };
  let issuer = '';
  const server: { port?: number; stop(force?: boolean): unknown } = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: (req: Request): Response => {
      const path = new URL(req.url).pathname;
      if (path === '/.well-known/oauth-authorization-server') return Response.json({ issuer, jwks_uri: `${issuer}/jwks` });
      if (path === '/jwks') return Response.json({ keys: [jwk] });
      return new Response('not found', { status: 404 });
    },
  });
  issuer = `http://127.0.0.1:${server.port}`;
  const sign = (audience: string) =>
    new SignJWT({ sub: 'bench', client_id: 'bench', scope: 'hide:read hide:write hide:exec' })
      .setProtectedHeader({ alg: 'RS256', kid: 'bench', typ: 'at+jwt' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime('2h')
      .sign(privateKey);
  return { issuer, sign, stop: () => void server.stop(true) };
}

export const oauthCheck: Scenario = {
  name: 'auth-oauth',
  title: 'tools/list server CPU per request: OAuth token (keys cached) minus API key',
  target: '≤ +50 µs',
  async run(ctx, row) {
    const idp = await staticIssuer();
    ctx.defer(() => idp.stop());
    const { setup, server: keyed } = await ctx.hide();
    const port = freePort();
    const resource = `http://127.0.0.1:${port}/mcp`;
    const oauthSetup = setupHide({ name: 'oauth' });
    Object.assign(oauthSetup.env, { HIDE_AUTH_MODE: 'oauth', HIDE_OAUTH_RESOURCE: resource, HIDE_OAUTH_ISSUERS: idp.issuer });
    const oauth = await startHide(oauthSetup, 15_000, port);
    ctx.defer(() => oauth.stop());
    const token = await idp.sign(resource);
    const check = await fetch(oauth.mcpUrl, { method: 'POST', headers: { ...MCP_HEADERS, Authorization: `Bearer ${token}` }, body: TOOLS_LIST });
    if (check.status !== 200) throw new Error(`OAuth server refused the bench token: ${check.status} ${await check.text()}`);
    const keyScript = writePostScript(ctx.work, 'auth-key', TOOLS_LIST, { ...MCP_HEADERS, 'X-API-Key': setup.apiKey });
    const tokenScript = writePostScript(ctx.work, 'auth-token', TOOLS_LIST, { ...MCP_HEADERS, Authorization: `Bearer ${token}` });
    await wrk({ url: keyed.mcpUrl, script: keyScript, connections: 16, seconds: 1 });
    await wrk({ url: oauth.mcpUrl, script: tokenScript, connections: 16, seconds: 1 });
    const k = metered(keyed.pid, () => wrk({ url: keyed.mcpUrl, script: keyScript, connections: 16, seconds: ctx.secs(3) }));
    const t = metered(oauth.pid, () => wrk({ url: oauth.mcpUrl, script: tokenScript, connections: 16, seconds: ctx.secs(3) }));
    const [kRuns, tRuns] = await alternate(ctx.smoke ? 1 : 4, k.run, t.run);
    const [kUs, tUs] = [k.usPerRequest(), t.usPerRequest()];
    const delta = tUs - kUs;
    Object.assign(row, {
      baseline: `${fmt(kUs, 'µs')} (API key)`,
      ours: `${fmt(tUs, 'µs')} (token)`,
      ratio: signed(delta, 'µs'),
      status: judge(delta <= 50),
    });
    row.notes.push(
      `server CPU per tools/list over ${kRuns.length} alternating wrk runs each (c=16); RS256 token of ${token.length} characters; ` +
        `req/s: API key ${fmt(maxRps(kRuns), 'req/s')}, token ${fmt(maxRps(tRuns), 'req/s')}`,
    );
    await oauth.stop();
  },
};
