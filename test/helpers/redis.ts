/** A real redis-server on a loopback port, without persistence, for the limit-store tests. */
import { RedisClient } from 'bun';
import { waitFor } from './wait.ts';

export const hasRedis = Bun.which('redis-server') !== null;

export interface RunningRedis {
  url: string;
  stop(): Promise<void>;
}

/** Starts redis-server on `port` (with `requirepass` when a password is given) and waits until it answers PING. */
export async function startRedis(port: number, password?: string): Promise<RunningRedis> {
  const proc = Bun.spawn(
    ['redis-server', '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--loglevel', 'warning', ...(password ? ['--requirepass', password] : [])],
    { stdout: 'ignore', stderr: 'ignore' },
  );
  const url = password ? `redis://:${password}@127.0.0.1:${port}` : `redis://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      const c = new RedisClient(url, { autoReconnect: false, connectionTimeout: 200 });
      try {
        await c.connect();
        return (await c.send('PING', [])) === 'PONG';
      } catch {
        return false;
      } finally {
        c.close();
      }
    },
    5000,
    'redis-server up',
  );
  return {
    url,
    async stop() {
      proc.kill('SIGKILL');
      await proc.exited;
    },
  };
}
