/**
 * `hide health`: probes /health and exits 0 when healthy — the container
 * HEALTHCHECK, since a distroless image has no shell or curl. The port comes
 * from the same settings `serve` reads (flags aside), so a port set in `.env`,
 * a config file or under an alias is the one probed. It loads only the
 * settings loader: a probe runs every few seconds.
 */
import { loadSettings } from '../config/load.ts';
import { parseFlags, UsageError } from './common.ts';

export const HEALTH_USAGE = `Usage: hide health [--url URL] [--config FILE]

Probes GET /health; exit 0 when healthy, 1 otherwise (2: a bad --url or
setting). The default URL is http://HOST:PORT/health with the address and port
serve would use (HIDE_HOST and HIDE_PORT from the environment, .env or the
config file given by --config or HIDE_CONFIG; a wildcard host is probed on
127.0.0.1, and HIDE_PORT=0 needs --url). It connects directly, never through
HTTP_PROXY.`;

/** Where a server listening on `host` answers locally: a wildcard address on loopback, a named one on itself. */
function probeHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '[::]') return '127.0.0.1';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export async function runHealth(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { url: { type: 'string' }, config: { type: 'string' } }, HEALTH_USAGE);
  if (flags.help) {
    process.stdout.write(`${HEALTH_USAGE}\n`);
    return 0;
  }
  let url = flags.url as string | undefined;
  if (url === undefined) {
    const { values } = loadSettings(['host', 'port'], { configFile: flags.config as string | undefined });
    if (values.port === 0) throw new UsageError('HIDE_PORT is 0 (the server picks a free port at start): give --url');
    url = `http://${probeHost(values.host)}:${values.port}/health`;
  } else if (!URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol)) {
    throw new UsageError(`--url: expected an http(s) URL; got '${url}'`);
  }
  // Straight to the server, never through HTTP_PROXY: a proxy would answer for a server that is down (or refuse one
  // that is up). Bun's fetch has no per-request opt-out, and this process makes no other request.
  process.env.NO_PROXY = process.env.no_proxy = '*';
  try {
    // hide's /health never redirects: whatever answers with one is not the server
    // probed, and following it could report another host's health as ours.
    const res = await fetch(url, { signal: AbortSignal.timeout(3000), redirect: 'manual' });
    const body = (await res.json().catch(() => null)) as { status?: string } | null;
    if (res.ok && body?.status === 'healthy') {
      process.stdout.write('healthy\n');
      return 0;
    }
    process.stderr.write(`unhealthy: HTTP ${res.status}\n`);
  } catch (err) {
    process.stderr.write(`unhealthy: ${(err as Error).message}\n`);
  }
  return 1;
}
