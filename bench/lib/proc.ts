/**
 * Child processes for the bench: start one with its output in a log file,
 * wait for an HTTP 200 with a deadline, read its resident memory, and make
 * sure nothing the bench started outlives it.
 */
import type { Subprocess } from 'bun';
import { readFileSync, rmSync } from 'node:fs';

const live = new Set<Subprocess>();

/** Kill every child still running (the bench's own children, by pid). */
export function killAll(): void {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

/** Registers a child the bench spawned itself, so killAll reaches it too. */
export function track(proc: Subprocess): void {
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
}

export interface Started {
  proc: Subprocess;
  /** Ends the process: TERM, then KILL after a grace period. */
  stop(): Promise<void>;
  /** The tail of its stderr log, for error messages. */
  logTail(): string;
}

/**
 * Spawns `cmd` with stdout and stderr written to `<logBase>.out` / `.err`
 * (never an undrained pipe) and registers it for clean-up.
 */
export function spawnLogged(
  cmd: string[],
  opts: { cwd?: string; env?: Record<string, string | undefined>; logBase: string },
): Started {
  // A stale log from an earlier run must not be mistaken for this one's output.
  for (const ext of ['.out', '.err']) rmSync(`${opts.logBase}${ext}`, { force: true });
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd,
    env: opts.env,
    stdin: 'ignore',
    stdout: Bun.file(`${opts.logBase}.out`),
    stderr: Bun.file(`${opts.logBase}.err`),
  });
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  return {
    proc,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const done = await Promise.race([proc.exited.then(() => true), Bun.sleep(3000).then(() => false)]);
      if (!done) proc.kill('SIGKILL');
      await proc.exited;
    },
    logTail() {
      const read = (f: string) => {
        try {
          return readFileSync(f, 'utf8');
        } catch {
          return '';
        }
      };
      return (read(`${opts.logBase}.err`) + read(`${opts.logBase}.out`)).trim().split('\n').slice(-8).join('\n');
    },
  };
}

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export function freePort(): number {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/**
 * Polls `url` until it answers 200, the process exits, or `timeoutMs` passes.
 * Returns the time of the first 200 (performance.now()).
 */
export async function waitFor200(url: string, proc: Subprocess, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (let i = 0; i < 100_000 && performance.now() < deadline; i++) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`process exited (${proc.exitCode ?? proc.signalCode}) before ${url} answered`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return performance.now();
    } catch {
      /* not listening yet */
    }
    await Bun.sleep(2);
  }
  throw new Error(`${url} gave no 200 within ${timeoutMs} ms`);
}

/** Resident set size of `pid` in bytes, from /proc/PID/status VmRSS. */
export function rss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Runs a command to completion with a deadline; returns stdout, throws on failure. */
export async function run(cmd: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs: number }): Promise<string> {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', timeout: opts.timeoutMs, killSignal: 'SIGKILL' });
  live.add(proc);
  const [out, err, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
  live.delete(proc);
  if (code !== 0) throw new Error(`${cmd.join(' ')} exited ${code}: ${(err || out).trim().split('\n').slice(-5).join(' | ')}`);
  return out;
}

/**
 * CPU seconds (user + system) `pid` has used itself, children excluded, from
 * /proc/PID/stat. USER_HZ is 100 on every mainstream Linux architecture.
 */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** CPU seconds used by the children `pid` has waited for (cutime + cstime). */
export function childCpuSeconds(pid: number): number {
  const f = statFields(pid);
  return (Number(f[13]) + Number(f[14])) / 100;
}

/** /proc/PID/stat after the command name, so fields[0] is the state (field 3). */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}
