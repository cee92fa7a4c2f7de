/**
 * The launcher: `hide __launcher`, a long-lived child of the server that
 * confines itself once (capabilities dropped, no_new_privs, Landlock) and then
 * runs commands on the server's behalf, so every command inherits the
 * restriction while the server stays free to read its keys and write its
 * audit log. Protocol: newline-delimited JSON on stdin/stdout (protocol.ts);
 * diagnostics go to stderr.
 */
import { fileURLToPath } from 'node:url';
import { dropCapabilities } from './capabilities.ts';
import { restrictSelf } from './landlock.ts';
import { becomeSubreaper, CALL_ID_ENV, sweepOrphans } from './orphans.ts';
import {
  type ClientMessage,
  jsonLines,
  LAUNCHER_CONFIG_ENV,
  type LauncherConfig,
  type LauncherMessage,
} from './protocol.ts';
import { killGroup, type RunningCommand, runCommand } from './run-command.ts';

/** argv word that selects launcher mode in src/main.ts. */
export const LAUNCHER_COMMAND = '__launcher';

/** True inside a `bun build --compile` executable, whose modules live in /$bunfs. */
function isCompiled(): boolean {
  return Bun.main.startsWith('/$bunfs/') || Bun.main.startsWith('B:\\~BUN\\');
}

/**
 * The command that starts a launcher from this same program: the executable
 * itself when compiled, else Bun running src/main.ts.
 */
export function launcherArgv(): string[] {
  if (isCompiled()) return [process.execPath, LAUNCHER_COMMAND];
  return [process.execPath, fileURLToPath(new URL('../main.ts', import.meta.url)), LAUNCHER_COMMAND];
}

function send(message: LauncherMessage): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** Launcher main loop; resolves when the server closes stdin. */
export async function runLauncher(): Promise<void> {
  let config: LauncherConfig;
  try {
    const raw = process.env[LAUNCHER_CONFIG_ENV];
    if (!raw) throw new Error(`${LAUNCHER_CONFIG_ENV} is not set`);
    config = JSON.parse(raw) as LauncherConfig;
    delete process.env[LAUNCHER_CONFIG_ENV];
    // Capabilities first: reading /proc for them is not allowed afterwards.
    if (config.dropCapabilities) dropCapabilities();
    becomeSubreaper();
    const report = restrictSelf(config.rules);
    send({ t: 'ready', report, pid: process.pid });
  } catch (err) {
    send({ t: 'fatal', error: (err as Error).message });
    process.exitCode = 1;
    return;
  }

  const tmpEnv: Record<string, string> = config.tmpDir ? { TMPDIR: config.tmpDir } : {};
  const running = new Map<number, RunningCommand>();

  // Calls whose leader is still running, by id, with the leader's pid: their
  // orphans are spared; everything else re-parented to us is killed. Sweeps run
  // when a leader exits (escaped processes may hold its pipes open), then every
  // 50 ms while killed ones remain to be reaped, and every second while calls
  // run so zombies never pile up during a long call.
  const liveLeaders = new Map<string, number>();
  let sweepTimer: ReturnType<typeof setTimeout> | undefined;
  const sweep = () => {
    clearTimeout(sweepTimer);
    const killed = sweepOrphans(new Set(liveLeaders.values()), new Set(liveLeaders.keys()));
    sweepTimer = killed > 0 ? setTimeout(sweep, 50) : running.size > 0 ? setTimeout(sweep, 1000) : undefined;
  };

  try {
    for await (const message of jsonLines<ClientMessage>(Bun.stdin.stream())) {
      if (message.t === 'run') {
        const { id } = message;
        const callId = String(id);
        const command = runCommand(message.req, { ...tmpEnv, [CALL_ID_ENV]: callId }, () => {
          liveLeaders.delete(callId);
          sweep();
        });
        running.set(id, command);
        if (command.pid !== null) {
          liveLeaders.set(callId, command.pid);
          send({ t: 'started', id, pid: command.pid });
        }
        sweepTimer ??= setTimeout(sweep, 1000);
        void command.result.then((res) => {
          running.delete(id);
          liveLeaders.delete(callId);
          send({ t: 'result', id, res });
        });
      } else if (message.t === 'cancel') {
        running.get(message.id)?.cancel();
      }
    }
  } catch (err) {
    console.error(`hide launcher: ${(err as Error).message}`);
  } finally {
    // The server is gone or closed us: nothing we started may outlive it.
    for (const command of running.values()) if (command.pid !== null) killGroup(command.pid, 'SIGKILL');
  }
  process.exit(0);
}

if (import.meta.main) await runLauncher();
