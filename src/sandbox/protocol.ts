/**
 * The contract between the server (launcher-client.ts) and the sandboxed
 * launcher process (launcher.ts): the exec module's SpawnRequest/SpawnResult
 * (so the launcher stands in as its spawn backend) and the newline-delimited
 * JSON messages that carry them.
 */
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
