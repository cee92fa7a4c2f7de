/**
 * Runs `hide serve` from source as a child process on port 0 and keeps its
 * log output, for tests that must read what the server logs.
 */
import { join } from 'node:path';
import { supervisedServer } from './procfs.ts';
import { waitFor } from './wait.ts';

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts');

export interface ServerProcess {
  url: string;
  proc: ReturnType<typeof Bun.spawn>;
  /**
   * The process that serves: `proc` itself, or below it the server a
   * supervisor started (an unprivileged server, src/sandbox/supervisor.ts),
   * whose signals `proc` passes on.
   */
  pid: number;
  /** Everything the server has written to stderr so far. */
  logs(): string;
  /** Everything the server has written to stdout so far (a server writes nothing there). */
  output(): string;
  /**
   * `proc`'s exit status, once everything written to its stderr has been read:
   * `proc.exited` can settle while the last lines are still in the pipe.
   */
  ended(): Promise<number>;
  stop(): Promise<void>;
}

export interface ServerProcessOptions {
  cwd: string;
  env: Record<string, string>;
  args?: string[];
  /** Run the server as this uid and gid (through setpriv), as the container's unprivileged user does. */
  uid?: number;
  /** The program to run instead of Bun on src/main.ts (the compiled binary, say). */
  program?: string[];
  /** How long it may take to say where it listens (15 s; more for a binary an emulator runs). */
  startTimeoutMs?: number;
}

export async function startServerProcess(opts: ServerProcessOptions): Promise<ServerProcess> {
  const asUser = opts.uid === undefined ? [] : ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', '--'];
  const proc = Bun.spawn([...asUser, ...(opts.program ?? [process.execPath, '--no-env-file', MAIN]), 'serve', '--port', '0', ...(opts.args ?? [])], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HIDE_LOG_FORMAT: 'json', ...opts.env },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  let text = '';
  let out = '';
  let url: string | null = null;
  const read = async (stream: ReadableStream<Uint8Array>, onText: (chunk: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) onText(decoder.decode(chunk, { stream: true }));
  };
  // Port 0 and the address the server says it listens on: a port picked here could be taken by then, even by
  // another test's server, which would then be the one tested.
  const reader = Promise.all([
    read(proc.stderr as ReadableStream<Uint8Array>, (chunk) => {
      text += chunk;
      url ??= /listening on (http:\/\/[^\s]+) /.exec(text)?.[1] ?? null;
    }),
    read(proc.stdout as ReadableStream<Uint8Array>, (chunk) => {
      out += chunk;
    }),
  ]);
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  while (url === null) {
    if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}): ${text}`);
    if (Date.now() > deadline) throw new Error(`server did not start: ${text}`);
    await Bun.sleep(20);
  }
  return {
    url,
    proc,
    // Listening: a supervisor's server is up by now.
    pid: supervisedServer(proc.pid) ?? proc.pid,
    logs: () => text,
    output: () => out,
    async ended() {
      const code = await proc.exited;
      await reader;
      return code;
    },
    async stop() {
      proc.kill('SIGTERM');
      await proc.exited;
      await reader;
    },
  };
}

/**
 * /ready's body once an OAuth server's first key fetch has ended: ready, or
 * the reason after "no signing keys for issuer X: " ("… yet" is the state
 * before the fetch has ended, so it is waited past).
 */
export async function keysOutcome(s: ServerProcess, timeoutMs: number): Promise<string> {
  let body = '';
  await waitFor(async () => {
    body = await (await fetch(`${s.url}/ready`)).text();
    return body.includes('"status":"ready"') || /no signing keys for issuer [^" ]+: /.test(body);
  }, timeoutMs, '/ready ready or naming why the keys are missing');
  return body;
}

