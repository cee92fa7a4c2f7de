/** A real redis-server on a loopback port, without persistence, for the limit-store tests. */
import { RedisClient } from 'bun';
import { freePort } from './free-port.ts';
import { join } from 'node:path';
import { tempDir } from './temp.ts';
import { waitFor } from './wait.ts';

export const hasRedis = Bun.which('redis-server') !== null;

export interface RunningRedis {
  url: string;
  port: number;
  /** The redis-server process (to stop and continue it, as a stalled host would). */
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts redis-server (with `requirepass` when a password is given) and waits until it answers as itself (the
 * process id in its INFO): on `port` when given (a restart on the port a test already uses), else on a free port,
 * another when that one was taken meanwhile. redis-server has no port 0 (it means no TCP at all), so the port is
 * picked here; a Redis of another test file answering there instead would be flushed by the tests.
 */
export async function startRedis(port?: number, password?: string, opts: { cluster?: boolean } = {}): Promise<RunningRedis> {
  for (let attempt = 1; ; attempt++) {
    const at = port ?? freePort();
    const started = await startOn(at, password, opts.cluster ?? false);
    if (started) return started;
    if (port !== undefined || attempt === 3) throw new Error(`redis-server could not listen on 127.0.0.1:${at} (in use?)`);
  }
}

/** redis-server on `port`, once it answers as itself; null when it exits first (the port taken). */
async function startOn(port: number, password: string | undefined, cluster: boolean): Promise<RunningRedis | null> {
  // A one-node cluster (it holds every slot) still refuses a script whose keys hash to two slots.
  const clusterArgs = cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', join(tempDir('hide-redis-cluster-'), 'nodes.conf')] : [];
  const proc = Bun.spawn(
    ['redis-server', '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--loglevel', 'warning', ...(password ? ['--requirepass', password] : []), ...clusterArgs],
    { stdout: 'ignore', stderr: 'ignore' },
  );
  const url = password ? `redis://:${password}@127.0.0.1:${port}` : `redis://127.0.0.1:${port}`;
  const up = await waitFor(
    async () => {
      if (proc.exitCode !== null) return 'exited';
      const c = new RedisClient(url, { autoReconnect: false, connectionTimeout: 200 });
      try {
        await c.connect();
        const info = String(await c.send('INFO', ['server']));
        return new RegExp(`^process_id:${proc.pid}\\r?$`, 'm').test(info) ? 'ours' : false;
      } catch {
        return false;
      } finally {
        c.close();
      }
    },
    5000,
    'redis-server up',
  ).catch((err: Error) => {
    proc.kill('SIGKILL');
    throw err;
  });
  if (up === 'exited') return null;
  if (cluster) await ownEverySlot(url);
  return {
    url,
    port,
    pid: proc.pid,
    async stop() {
      proc.kill('SIGKILL');
      await proc.exited;
    },
  };
}

async function ownEverySlot(url: string): Promise<void> {
  const c = new RedisClient(url);
  try {
    await c.send('CLUSTER', ['ADDSLOTSRANGE', '0', '16383']);
    await waitFor(async () => /^cluster_state:ok\r?$/m.test(String(await c.send('CLUSTER', ['INFO']))), 5000, 'the one-node cluster up');
  } finally {
    c.close();
  }
}
