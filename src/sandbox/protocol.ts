/**
 * The contract between the server (launcher-client.ts) and the sandboxed
 * launcher process (launcher.ts): request/result shapes, shaped like the exec
 * module's SpawnRequest/SpawnResult so the launcher can stand in as its spawn
 * backend, and the newline-delimited JSON messages that carry them.
 */
import type { LandlockRules, RestrictReport } from './landlock.ts';
import { LineSplitter } from '../util/line-splitter.ts';
import type { ResourceLimits } from './rlimits.ts';

export interface SandboxRunRequest {
  /** argv[0] already resolved to an absolute path. */
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  /** Cap per stream, in bytes; the rest is read and dropped. */
  maxOutputBytes: number;
  limits?: ResourceLimits;
  /** Cancels the call: its process group is killed (TERM, then KILL). */
  signal?: AbortSignal;
}

export interface SandboxRunResult {
  stdout: string;
  stderr: string;
  /** Exit status; 128 + n for death by signal n; -1 when not started, timed out or cancelled. */
  exitCode: number;
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  truncated: boolean;
  durationMs: number;
  spawnError: string | null;
}

/** What the launcher needs at start, passed in HIDE_LAUNCHER_CONFIG as JSON. */
export interface LauncherConfig {
  rules: LandlockRules;
  /** Private scratch directory, exported to every command as TMPDIR. */
  tmpDir: string | null;
  /** Shed all capabilities before restricting (meaningful when running as root). */
  dropCapabilities: boolean;
}

export const LAUNCHER_CONFIG_ENV = 'HIDE_LAUNCHER_CONFIG';

/** Server → launcher. */
export type ClientMessage =
  | { t: 'run'; id: number; req: Omit<SandboxRunRequest, 'signal'> }
  | { t: 'cancel'; id: number };

/** Launcher → server. */
export type LauncherMessage =
  | { t: 'ready'; report: RestrictReport; pid: number }
  | { t: 'fatal'; error: string }
  | { t: 'started'; id: number; pid: number }
  | { t: 'result'; id: number; res: SandboxRunResult };

/** Splits a byte stream into parsed JSON lines. */
export async function* jsonLines<T>(stream: ReadableStream<Uint8Array>): AsyncGenerator<T> {
  const decoder = new TextDecoder();
  const splitter = new LineSplitter();
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    for (const { bytes } of splitter.push(chunk)) {
      const line = decoder.decode(bytes);
      if (line.trim() !== '') yield JSON.parse(line) as T;
    }
  }
  const last = splitter.end();
  if (last && last.bytes.byteLength > 0) yield JSON.parse(decoder.decode(last.bytes)) as T;
}
