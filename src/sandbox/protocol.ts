/**
 * The contract between the server (launcher-client.ts) and a sandboxed
 * launcher process (launcher.ts): the exec module's SpawnRequest/SpawnResult
 * and the newline-delimited JSON messages that carry them. Messages from a
 * launcher are checked before use: a malformed one fails at most the call it
 * names, and a launcher that sends garbage is stopped.
 */
import * as v from 'valibot';
import type { SpawnRequest, SpawnResult } from '../exec/spawn.ts';
import { LineSplitter } from '../util/line-splitter.ts';
import type { LandlockRules, RestrictReport } from './landlock.ts';
import type { ResourceLimits } from './rlimits.ts';

/** A spawn request plus the per-call resource limits the launcher applies. */
export interface SandboxRunRequest extends SpawnRequest {
  limits?: ResourceLimits;
}

/** The launcher answers with exactly the exec module's result. */
export type SandboxRunResult = SpawnResult;

/** What the launcher needs at start, passed in HIDE_LAUNCHER_CONFIG as JSON. */
export interface LauncherConfig {
  rules: LandlockRules;
  /** Private scratch directory, exported to every command as TMPDIR. */
  tmpDir: string | null;
  /** Shed all capabilities before restricting (meaningful when running as root). */
  dropCapabilities: boolean;
}

export const LAUNCHER_CONFIG_ENV = 'HIDE_LAUNCHER_CONFIG';

/** Which protections a launcher put in place, as it reports them. */
export interface LayerReport extends RestrictReport {
  /** Each command is the init of its own PID namespace. */
  pidNamespace: boolean;
  /** Commands see a /proc of their client's PID namespace only. */
  privateProc: boolean;
  /** Commands live in an empty network namespace (network off, root). */
  privateNetwork: boolean;
  /** The seccomp filter is installed. */
  seccomp: boolean;
  /** The launcher is not dumpable: no ptrace, /proc/PID/{fd,environ,mem} or pidfd_getfd on it. */
  nonDumpable: boolean;
}

/** Server → launcher. */
export type ClientMessage =
  | { t: 'run'; id: number; req: Omit<SandboxRunRequest, 'signal'> }
  | { t: 'cancel'; id: number };

const Id = v.pipe(v.number(), v.safeInteger(), v.minValue(1));

const ResultSchema = v.object({
  stdout: v.string(),
  stderr: v.string(),
  exitCode: v.pipe(v.number(), v.integer()),
  signal: v.nullable(v.string()),
  timedOut: v.boolean(),
  cancelled: v.boolean(),
  truncated: v.boolean(),
  durationMs: v.number(),
  spawnError: v.nullable(v.string()),
});

const ReportSchema = v.object({
  abi: v.number(),
  networkEnforced: v.boolean(),
  scoped: v.boolean(),
  skipped: v.array(v.string()),
  pidNamespace: v.boolean(),
  privateProc: v.boolean(),
  privateNetwork: v.boolean(),
  seccomp: v.boolean(),
  nonDumpable: v.boolean(),
});

/** Launcher → server. */
export const LauncherMessageSchema = v.variant('t', [
  v.object({ t: v.literal('ready'), report: ReportSchema }),
  v.object({ t: v.literal('fatal'), error: v.string() }),
  v.object({ t: v.literal('started'), id: Id }),
  v.object({ t: v.literal('result'), id: Id, res: ResultSchema }),
]);

export type LauncherMessage = v.InferOutput<typeof LauncherMessageSchema>;

/** Splits a byte stream into lines, each parsed as JSON (a line that is not JSON throws). */
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
