/**
 * A server for attacks from inside the sandbox, shared by the isolation and
 * attack-sandbox suites: HIDE_SANDBOX=required, two keyed clients (alice
 * attacks, bob is the victim), run as root from source or as an unprivileged
 * uid from a copy of the compiled binary (through setpriv), the way the
 * container runs it. Layout: DIR (0755) / ws, the workspace / secrets (0700:
 * the keys file, the audit log, the server's HOME).
 */
import { chmodSync, chownSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { ensureBinary } from './binary.ts';
import { startServerProcess, type ServerProcess } from './process.ts';
import { tempDir } from './temp.ts';

/** Both suites need Landlock signal scoping, root (to run the other variant through setpriv) and python3 for the attack scripts. */
export const TWO_CLIENT_ATTACKS_SUPPORTED =
  process.platform === 'linux' && landlockAbi() >= 6 && process.getuid?.() === 0 && Bun.which('setpriv') !== null && Bun.which('python3', { PATH: '/usr/bin:/bin' }) !== null;
/** The container's unprivileged uid. */
export const UNPRIVILEGED = 65532;
/**
 * Uids of their own for the unprivileged tests that fill the uid's process count (RLIMIT_NPROC counts every
 * process and thread of the uid on the host), one per test file, since files run side by side: under UNPRIVILEGED
 * the other files' servers and commands would take part of the count a fill means to reach. 65528 is the
 * full-count start test's (test/sandbox/full-process-count.test.ts).
 */
export const COUNT_FILLERS = { supervisor: 65530, leftovers: 65529 } as const;
export const ALICE = 'alice-key-0123456789abcdefghijklmnopqrstu';
export const BOB = 'bob-key-0123456789abcdefghijklmnopqrstuvw';

export interface TwoClientServer {
  dir: string;
  ws: string;
  server: ServerProcess;
  /** Stops the server and removes DIR (with the binary's copy, ~110 MB, when unprivileged). */
  stop(): Promise<void>;
}

export interface TwoClientOptions {
  prefix: string;
  /** Run as this uid (through setpriv); root when undefined. */
  uid: number | undefined;
  /** Fills DIR and the workspace before the server starts; returns the paths to hand to `uid`. */
  prepare(dir: string, ws: string): string[];
  /** PATH for the server and its commands, given the workspace; /usr/bin:/bin when absent. */
  path?: (ws: string) => string;
  /** Settings besides the common ones (or made from DIR and the workspace, after `prepare`). */
  env?: Record<string, string> | ((dir: string, ws: string) => Record<string, string>);
  /** A program that runs the unprivileged server's binary, its argv before the binary's path (`prlimit --nproc=N --`). */
  wrap?: string[];
  /** Clients besides alice and bob, as [client id, key]. */
  moreClients?: ReadonlyArray<readonly [string, string]>;
}

export async function startTwoClientServer(opts: TwoClientOptions): Promise<TwoClientServer> {
  const dir = tempDir(opts.prefix);
  try {
    chmodSync(dir, 0o755);
    const ws = join(dir, 'ws');
    const secrets = join(dir, 'secrets');
    mkdirSync(ws);
    mkdirSync(secrets, { mode: 0o700 });
    const owned = opts.prepare(dir, ws);
    const keysFile = join(secrets, 'keys.json');
    const clients = [['alice', ALICE], ['bob', BOB], ...(opts.moreClients ?? [])].map(([client_id, api_key]) => ({ client_id, api_key, enabled: true }));
    writeFileSync(keysFile, JSON.stringify({ clients }));
    // The unprivileged server runs the compiled binary from a copy it can read:
    // the checkout (a temp clone in CI) may not be readable by that uid.
    let program: string[] | undefined;
    if (opts.uid !== undefined) {
      for (const p of [ws, secrets, keysFile, ...owned]) chownSync(p, opts.uid, opts.uid);
      const binary = join(dir, 'hide');
      copyFileSync(await ensureBinary(), binary);
      chmodSync(binary, 0o755);
      program = [...(opts.wrap ?? []), binary];
    }
    const server = await startServerProcess({
      cwd: dir,
      uid: opts.uid,
      program,
      env: {
        PATH: opts.path?.(ws) ?? '/usr/bin:/bin',
        HOME: secrets,
        BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0',
        HIDE_SANDBOX: 'required',
        HIDE_AUTH_ENABLED: 'true',
        HIDE_API_KEYS_FILE: keysFile,
        HIDE_AUDIT_LOG_FILE: join(secrets, 'audit.jsonl'),
        HIDE_WORKSPACE: ws,
        HIDE_RATE_LIMIT_RPM: '100000',
        HIDE_SHUTDOWN_GRACE_SECONDS: '1',
        HIDE_LOG_LEVEL: 'info',
        ...(typeof opts.env === 'function' ? opts.env(dir, ws) : opts.env),
      },
    });
    return {
      dir,
      ws,
      server,
      async stop() {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
