/**
 * The one way hide starts a process. Every command — `shell_execute`,
 * `get_available_tools` probes, ripgrep — goes through a Spawner, which owns
 * the processes it started: it kills them, counts them and closes them, and
 * no other part of the server keeps a registry of its own. Two kinds exist:
 * LocalSpawner (plain process groups, the sandbox off) and the sandbox's
 * SandboxSpawner (one confined launcher per client).
 */
import type { LiveRequest, LiveStart, OutputSink } from './live.ts';
import type { SpawnRequest, SpawnResult } from './spawn.ts';

/** A spawn request plus who it runs for: the sandbox keeps clients apart by this id. */
export interface OwnedSpawnRequest extends SpawnRequest {
  /** The client the command runs for (its authenticated id, "stdio", …). */
  owner: string;
}

/** A long-lived start plus who it runs for. */
export interface OwnedLiveRequest extends LiveRequest {
  owner: string;
}

export interface Spawner {
  /**
   * Runs one command to its end. Failures come back as `spawnError`; the one
   * throw is a ToolLimitError, when a limit on what the spawner holds for
   * clients (sandbox launchers) refuses a new client: the call is answered 429.
   */
  run(req: OwnedSpawnRequest): Promise<SpawnResult>;
  /**
   * Starts a long-lived process under exactly the confinement `run` gives a
   * command; its output goes to `sink` as it arrives. Throws only as `run` does.
   */
  startLive(req: OwnedLiveRequest, sink: OutputSink): Promise<LiveStart>;
  /** Commands running now, long-lived ones included. */
  readonly running: number;
  /** Kills every running command, long-lived ones included (shutdown); new calls still work afterwards. */
  killAll(): void;
  /** Kills everything and releases what the spawner holds; later runs fail. */
  close(): Promise<void>;
}
