/**
 * A loopback port that was free a moment ago (bound to port 0, read, let go), for what must be told its port before
 * it listens: a server whose own URL is configured, a redis-server (its port 0 means no TCP). Anything else of ours
 * listens on port 0 and says where: another process may take this port in between.
 */
export function freePort(): number {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}
