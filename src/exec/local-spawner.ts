/**
 * Spawner for commands that run without the kernel sandbox: each command in
 * its own process group (spawn.ts), tracked by this instance only, so closing
 * one runtime never touches another's commands.
 */
import { type LiveStart, type OutputSink, startLive } from './live.ts';
import { killGroup } from './group-signal.ts';
import { notStarted, type SpawnResult, startCommand } from './spawn.ts';
import type { OwnedLiveRequest, OwnedSpawnRequest, Spawner } from './spawner.ts';

export class LocalSpawner implements Spawner {
  /** Leaders of the process groups this spawner started and still waits for. */
  private readonly groups = new Set<number>();
  private closed = false;

  get running(): number {
    return this.groups.size;
  }

  async run(req: OwnedSpawnRequest): Promise<SpawnResult> {
    if (this.closed) return notStarted('the server is shutting down');
    const { owner: _owner, signal, ...spawn } = req;
    const running = startCommand(spawn);
    if (running.pid === null) return running.result;
    const pid = running.pid;
    this.groups.add(pid);
    const onAbort = () => running.cancel();
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await running.result;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.groups.delete(pid);
    }
  }

  async startLive(req: OwnedLiveRequest, sink: OutputSink): Promise<LiveStart> {
    if (this.closed) return { ok: false, error: 'the server is shutting down' };
    const { owner: _owner, ...live } = req;
    const started = startLive(live, sink);
    if (!started.ok) return started;
    const pid = started.handle.pid!;
    this.groups.add(pid);
    void started.handle.exited.then(() => this.groups.delete(pid));
    return started;
  }

  killAll(): void {
    // Our own Bun.spawn children: the group ids are the pids we were handed.
    for (const pid of this.groups) killGroup(pid, 'SIGKILL');
  }

  async close(): Promise<void> {
    this.closed = true;
    this.killAll();
  }
}
