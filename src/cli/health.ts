/**
 * `hide health`: probes /health and exits 0 when healthy — the container
 * HEALTHCHECK, since a distroless image has no shell or curl.
 */
import { parseFlags } from './common.ts';

export const HEALTH_USAGE = `Usage: hide health [--url URL]

Probes GET /health (default http://127.0.0.1:\${HIDE_PORT:-5000}/health); exit 0 when healthy, 1 otherwise.`;

export async function runHealth(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { url: { type: 'string' } }, HEALTH_USAGE);
  if (flags.help) {
    process.stdout.write(`${HEALTH_USAGE}\n`);
    return 0;
  }
  const url = (flags.url as string | undefined) ?? `http://127.0.0.1:${process.env.HIDE_PORT ?? '5000'}/health`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
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
