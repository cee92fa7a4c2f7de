/**
 * The contract between the server (launcher-client.ts) and a sandboxed
 * launcher process (launcher.ts): the exec module's SpawnRequest/SpawnResult
 * and the newline-delimited JSON messages that carry them. Messages from a
 * launcher are checked before use: a malformed one fails at most the call it
 * names, and a launcher that sends garbage is stopped.
 */
import * as v from 'valibot';
import type { LiveRequest, ProcessSignal } from '../exec/live.ts';
import { INPUT_OUTCOMES } from '../exec/pipe-input.ts';
import type { SpawnRequest, SpawnResult } from '../exec/spawn.ts';
import { LineSplitter } from '../util/line-splitter.ts';
import type { LandlockRules, RestrictReport } from './landlock.ts';
import type { InheritedLimits, ResourceLimits } from './rlimits.ts';

/** A spawn request plus the per-call resource limits the launcher applies. */
export interface SandboxRunRequest extends SpawnRequest {
  limits?: ResourceLimits;
}

/** A one-shot run as it crosses the pipe: `progress` asks for progress messages. */
export type WireRunRequest = Omit<SandboxRunRequest, 'signal' | 'onProgress'> & { progress?: boolean };

/** A long-lived start plus the limits and the output the launcher may hold back while the server reads slowly. */
export interface SandboxStartRequest extends LiveRequest {
  limits?: ResourceLimits;
  /** Most output bytes the launcher holds for this process before it drops the oldest (and says how many). */
  pendingBytes: number;
}

export type { ProcessSignal } from '../exec/live.ts';

/** The launcher answers with exactly the exec module's result. */
export type SandboxRunResult = SpawnResult;

/** What the launcher needs at start, passed in HIDE_LAUNCHER_CONFIG as JSON. */
export interface LauncherConfig {
  rules: LandlockRules;
  /** Private scratch directory, exported to every command as TMPDIR. */
  tmpDir: string | null;
  /** Shed all capabilities before restricting (meaningful when running as root). */
  dropCapabilities: boolean;
  /** Terminals its own devpts instance may hold at once (root). */
  ptys: number;
  /**
   * The launcher's own limits, which a command's first children inherit when
   * they are forked before the call's own limits land.
   */
  ownLimits: InheritedLimits;
  /** The nice value the launcher's threads, and so its commands, run at least at (0 = unchanged). */
  nice: number;
}

export const LAUNCHER_CONFIG_ENV = 'HIDE_LAUNCHER_CONFIG';

/** Which protections a launcher put in place, as it reports them. */
export interface LayerReport extends RestrictReport {
  /** Each command is the init of its own PID namespace. */
  pidNamespace: boolean;
  /** Commands see a /proc of their client's PID namespace only. */
  privateProc: boolean;
  /** Commands see no other client's private TMPDIR in the temp directory. */
  privateTmp: boolean;
  /** Commands live in an empty network namespace (network off, root). */
  privateNetwork: boolean;
  /** Every mount but the read-write grants is read-only for commands (root): no mode, time or attribute changes outside them. */
  readOnlyMounts: boolean;
  /** The seccomp filter is installed. */
  seccomp: boolean;
  /** The launcher is not dumpable: no ptrace, /proc/PID/{fd,environ,mem} or pidfd_getfd on it. */
  nonDumpable: boolean;
  /**
   * Why a launcher with the capabilities for PID namespaces has none of its own or none per command (the kernel
   * refused one: ENOSPC once `user.max_pid_namespaces` is reached), and so none of the mounts that need one, else null.
   */
  namespaceRefused: string | null;
  /** Why a launcher that could have mounted its private /proc, terminals and temp view did not (the kernel's policy refused mount), else null. */
  mountRefused: string | null;
  /** Why a launcher that was to make an empty network namespace did not (the kernel refused it), else null. */
  networkRefused: string | null;
  /** Why a launcher that was to make the mounts outside the grants read-only did not, else null. */
  readOnlyRefused: string | null;
  /** Why a launcher that was to show its commands only its own TMPDIR in the temp directory did not (a mount refused), else null. */
  tmpViewRefused: string | null;
  /** Why a launcher could not make itself the out-of-memory killer's first choice or lower its priority, else null. */
  yieldRefused: string | null;
}

/** Server → launcher. */
export type ClientMessage =
  | { t: 'run'; id: number; req: WireRunRequest }
  | { t: 'cancel'; id: number }
  | { t: 'start'; id: number; req: SandboxStartRequest }
  /** Input for a long-lived process, base64; answered by a `wrote` with the same `seq`. */
  | { t: 'write'; id: number; seq: number; data: string }
  /** Withdraws the write `seq` if it still waits for room (its answer is then `cancelled`). */
  | { t: 'cancel-write'; id: number; seq: number }
  | { t: 'close-input'; id: number }
  | { t: 'signal'; id: number; signal: ProcessSignal }
  | { t: 'terminate'; id: number };

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
  privateTmp: v.boolean(),
  privateNetwork: v.boolean(),
  readOnlyMounts: v.boolean(),
  seccomp: v.boolean(),
  nonDumpable: v.boolean(),
  namespaceRefused: v.nullable(v.pipe(v.string(), v.maxLength(1000))),
  mountRefused: v.nullable(v.pipe(v.string(), v.maxLength(1000))),
  networkRefused: v.nullable(v.pipe(v.string(), v.maxLength(1000))),
  readOnlyRefused: v.nullable(v.pipe(v.string(), v.maxLength(1000))),
  tmpViewRefused: v.nullable(v.pipe(v.string(), v.maxLength(1000))),
  yieldRefused: v.nullable(v.pipe(v.string(), v.maxLength(1000))),
});

const Count = v.pipe(v.number(), v.safeInteger(), v.minValue(0));

const ExitSchema = v.object({
  exitCode: v.pipe(v.number(), v.integer()),
  signal: v.nullable(v.pipe(v.string(), v.maxLength(32))),
  durationMs: v.number(),
  spawnError: v.nullable(v.string()),
});

/** Launcher → server. */
export const LauncherMessageSchema = v.variant('t', [
  v.object({ t: v.literal('ready'), report: ReportSchema }),
  // `kernel: false`: the failure says nothing about what the kernel or the container allows (a granted path out of reach, a want of descriptors or memory).
  v.object({ t: v.literal('fatal'), error: v.string(), kernel: v.optional(v.boolean()) }),
  // A run's command may start from now on (it never starts before this is in the pipe): the call is never resent.
  v.object({ t: v.literal('accepted'), id: Id }),
  // A long-lived process started. `pid` is informational only: the server never signals a pid a launcher reports.
  v.object({ t: v.literal('started'), id: Id, pid: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1))) }),
  v.object({ t: v.literal('result'), id: Id, res: ResultSchema }),
  v.object({ t: v.literal('progress'), id: Id, bytes: Count, tail: v.pipe(v.string(), v.maxLength(4096)) }),
  // Output of a long-lived process, base64; `lost` bytes before it were dropped in the launcher.
  v.object({ t: v.literal('output'), id: Id, data: v.pipe(v.string(), v.maxLength(1024 * 1024), v.base64()), lost: Count }),
  v.object({ t: v.literal('exit'), id: Id, exit: ExitSchema }),
  // What became of the write `seq` to a long-lived process.
  v.object({ t: v.literal('wrote'), id: Id, seq: Id, outcome: v.picklist(INPUT_OUTCOMES) }),
]);

export type LauncherMessage = v.InferOutput<typeof LauncherMessageSchema>;

/**
 * Splits a byte stream into lines, each parsed as JSON (a line that is not
 * JSON throws). Both ends end every message with "\n", so text after the last
 * one is a message its writer died while writing: it is dropped, not a
 * protocol error, and the lines before it stand. Nothing can follow it, and
 * nothing it was saying can have begun: a launcher starts a command only once
 * its `accepted` is wholly written, so a call whose word was cut never ran.
 */
export async function* jsonLines<T>(stream: ReadableStream<Uint8Array>): AsyncGenerator<T> {
  const decoder = new TextDecoder();
  const splitter = new LineSplitter();
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    for (const { bytes } of splitter.push(chunk)) {
      const line = decoder.decode(bytes);
      if (line.trim() !== '') yield JSON.parse(line) as T;
    }
  }
}
