/**
 * Decides, at start-up, whether commands run in the kernel sandbox
 * (HIDE_SANDBOX=auto|required|off) and returns the spawner every command goes
 * through: the sandboxed one (a confined launcher per client) or local
 * process groups. Checks that none of the server's own secrets — keys file,
 * audit log, config file, .env — is readable under the sandbox's rules. The
 * status is what /health and check-config report.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../config/schema.ts';
import { LocalSpawner } from '../exec/local-spawner.ts';
import type { LiveStart, OutputSink } from '../exec/live.ts';
import type { SpawnResult } from '../exec/spawn.ts';
import type { OwnedLiveRequest, OwnedSpawnRequest, Spawner } from '../exec/spawner.ts';
import { logger } from '../core/log.ts';
import { landlockAbi } from './landlock.ts';
import { check, libc } from '../util/libc.ts';
import { PidNamespaces } from './pidns.ts';
import { sweepStaleTmp, tmpWritable } from './private-tmp.ts';
import type { LayerReport } from './protocol.ts';
import { layerNames } from './layers.ts';
import type { ResourceLimits } from './rlimits.ts';
import { LauncherConfineError, LauncherNotStartedError } from './launcher-client.ts';
import { SandboxSpawner } from './sandbox-spawner.ts';
import { secretExposures } from './secret-paths.ts';
import { sandboxRules } from './rules.ts';
import { isWithin } from '../util/path-within.ts';

export interface SandboxStatus {
  /** The configured mode. */
  mode: 'auto' | 'required' | 'off';
  /** Whether commands actually run sandboxed. */
  active: boolean;
  /** Landlock ABI version in use (0 = none). */
  abi: number;
  network: 'off' | 'on';
  /** Why it is off, when it is. */
  reason: string | null;
  /** The layers in force, once a launcher has reported them. */
  layers: LayerReport | null;
}

export class SandboxUnavailableError extends Error {}

const PR_SET_DUMPABLE = 4;

function limitsFrom(c: Config['sandbox']): ResourceLimits | undefined {
  const limits: ResourceLimits = {};
  if (c.cpuSeconds > 0) limits.cpuSeconds = c.cpuSeconds;
  if (c.memoryBytes > 0) limits.memoryBytes = c.memoryBytes;
  if (c.openFiles > 0) limits.openFiles = c.openFiles;
  if (c.fileSizeBytes > 0) limits.fileSizeBytes = c.fileSizeBytes;
  if (c.processes > 0) limits.processes = c.processes;
  if (c.pendingSignals > 0) limits.pendingSignals = c.pendingSignals;
  return Object.keys(limits).length > 0 ? limits : undefined;
}

/** The server's own secret files: what a command must never read. */
export function serverSecretFiles(config: Config, extra: readonly string[]): string[] {
  const files = [...extra];
  if (config.auth.keysFile) files.push(config.auth.keysFile);
  if (config.audit.enabled && config.audit.file !== '-') {
    files.push(config.audit.file, `${config.audit.file}.head`);
    // Rotated files that exist; the live file stands for the ones to come.
    for (let i = 1; i <= config.audit.keep; i++) if (existsSync(`${config.audit.file}.${i}`)) files.push(`${config.audit.file}.${i}`);
  }
  return files;
}

/** Sandboxed when the launcher turned out to work; local process groups otherwise (auto only). */
class FallbackSpawner implements Spawner {
  private sandboxed: boolean | null = null;
  constructor(
    private readonly sandbox: SandboxSpawner,
    private readonly local: LocalSpawner,
    private readonly decided: Promise<boolean>,
  ) {
    void decided.then((ok) => {
      this.sandboxed = ok;
    });
  }
  async run(req: OwnedSpawnRequest): Promise<SpawnResult> {
    // A command that arrives while the first launcher boots waits for it; it
    // never runs unconfined unless the sandbox turned out not to work.
    if (this.sandboxed === null) this.sandboxed = await this.decided;
    return this.sandboxed ? this.sandbox.run(req) : this.local.run(req);
  }
  async startLive(req: OwnedLiveRequest, sink: OutputSink): Promise<LiveStart> {
    if (this.sandboxed === null) this.sandboxed = await this.decided;
    return this.sandboxed ? this.sandbox.startLive(req, sink) : this.local.startLive(req, sink);
  }
  get running(): number {
    return this.sandbox.running + this.local.running;
  }
  killAll(): void {
    this.sandbox.killAll();
    this.local.killAll();
  }
  async close(): Promise<void> {
    await Promise.all([this.sandbox.close(), this.local.close()]);
  }
}

/**
 * Returns the spawner for this configuration. Throws SandboxUnavailableError
 * when `required` cannot be met.
 */
export async function setupSandbox(
  config: Config,
  roots: readonly string[],
  secretFiles: readonly string[] = [],
): Promise<{ status: SandboxStatus; spawner: Spawner }> {
  const log = logger.withTag('sandbox');
  const mode = config.sandbox.mode;
  const base = { mode, network: config.sandbox.network, layers: null } as const;
  if (mode === 'off') return { status: { ...base, active: false, abi: 0, reason: 'HIDE_SANDBOX=off' }, spawner: new LocalSpawner() };

  const abi = process.platform === 'linux' ? landlockAbi() : 0;
  const off = (reason: string): SandboxStatus => {
    if (mode === 'required') throw new SandboxUnavailableError(`HIDE_SANDBOX=required but ${reason}`);
    log.warn(`commands run WITHOUT the sandbox: ${reason} (HIDE_SANDBOX=auto)`);
    return { ...base, active: false, abi, reason };
  };
  if (abi === 0) return { status: off('this kernel does not support Landlock'), spawner: new LocalSpawner() };

  const rules = sandboxRules({
    workspace: roots[0]!,
    allowedPaths: roots.slice(1),
    readOnly: config.sandbox.readOnlyPaths.length > 0 ? config.sandbox.readOnlyPaths : undefined,
    network: config.sandbox.network,
  });
  for (const [path, at] of Object.entries(rules.readOnlyAt ?? {})) {
    // Resolved again, apart: a path swapped for a link and back while the server starts (by a command of a server
    // whose workspace holds it) would be granted wherever it led for that instant, `/` say.
    let again: string | null;
    try {
      again = realpathSync(path);
    } catch {
      again = null;
    }
    if (again !== at) throw new SandboxUnavailableError(`the read-only path ${path} changed while the server started (it led to ${at}, then to ${again ?? 'nothing'}); start again`);
    // One inside a read-write grant that leads out of it is a link a command may have put there (before this start
    // too): granted, it would open wherever it points — `/`, the keys file with it. It is not granted.
    let parent: string | null;
    try {
      parent = realpathSync(dirname(path));
    } catch {
      parent = null;
    }
    const grant = parent === null ? undefined : roots.find((root) => isWithin(root, parent));
    if (grant !== undefined && !isWithin(grant, at)) {
      delete rules.readOnlyAt![path];
      rules.readOnly = rules.readOnly.filter((p) => p !== path);
      log.warn(`the read-only path ${path} lies in ${grant}, where commands write, and leads out of it to ${at}: it is not granted (a command may have put the link there)`);
      continue;
    }
    if (at === '/') log.warn(`the read-only path ${path} leads to / : commands can read the whole host`);
  }
  // Landlock cannot carve a hole inside a granted tree: a secret under a
  // granted path is readable by every command.
  const exposed = secretExposures(serverSecretFiles(config, secretFiles), rules);
  if (exposed.length > 0) {
    // Writable is the worse half: a command could grant itself keys (a keys file reload takes effect at once) or settings
    // for the next start, or rewrite the record of what it did.
    const audit = config.audit.enabled && config.audit.file !== '-' ? config.audit.file : null;
    const harm = (file: string) => (audit !== null && (file === audit || file.startsWith(`${audit}.`)) ? "forge or erase this server's audit trail" : "change this server's keys or settings");
    const lines = exposed.map((e) =>
      e.access === 'read-write'
        ? `${e.file} is readable and writable by sandboxed commands (granted read-write by ${e.rule}): a command could rewrite it to ${harm(e.file)}`
        : `${e.file} is readable by sandboxed commands (granted read-only by ${e.rule})`,
    );
    if (mode === 'required') throw new SandboxUnavailableError(`HIDE_SANDBOX=required but ${lines.join('; ')}: move it outside the workspace, allowed paths and read-only paths`);
    for (const line of lines) log.warn(`${line}: move it outside the workspace, allowed paths and read-only paths`);
  }
  if (abi < 6) log.warn(`Landlock ABI ${abi} cannot scope signals (needs 6, Linux 6.12): without a PID namespace per command, commands of different clients can signal each other`);

  // Commands are grandchildren behind a launcher in another Landlock domain;
  // not being dumpable as well costs nothing and keeps a same-uid process
  // from reading the server's memory, environment or descriptors.
  check(libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), 'prctl(PR_SET_DUMPABLE, 0)');
  const pidNamespaces = PidNamespaces.open();
  // A private TMPDIR needs a writable temp directory; a read-only root
  // without a tmpfs has none, and commands then get no TMPDIR at all.
  const privateTmp = tmpWritable();
  const status: SandboxStatus = { ...base, active: true, abi, reason: null };
  const warned = new Set<string>();
  /** When each cause launchers were refused for (a path, else the whole text) was last said. */
  const refusedFor = new Map<string, number>();
  const sandbox = new SandboxSpawner({
    rules,
    pidNamespaces,
    limits: limitsFrom(config.sandbox),
    log: (m) => log.warn(m),
    privateTmp,
    idleCloseMs: config.sandbox.launcherIdleSeconds * 1000,
    maxLaunchers: config.sandbox.maxLaunchers,
    nice: config.sandbox.nice,
    // What a launcher holds of a process's output while a write to the server is on its way: what the ring keeps. A
    // flood beyond it is dropped there (and counted) rather than carried across the pipe only to be dropped from
    // the ring; held to 256 KiB, a burst the ring would have kept whole (a 900 KB test log written at once) lost its
    // oldest 640 KB there, and the ring, which holds no gap, everything before them.
    livePendingBytes: config.process.bufferBytes,
    // Said once a minute per cause, not once per call: every call of a refused client boots another launcher, and is told why.
    onRefused: (why) => {
      // By the path it names: a swap going on while launchers boot alternates between several texts about one path,
      // and between refused boots and ones that start.
      const cause = /^cannot (?:grant|keep) (.+?)(?:: | in the private temp directory view: )/.exec(why)?.[1] ?? why;
      const now = performance.now();
      if (now - (refusedFor.get(cause) ?? -Infinity) < REFUSAL_SAID_EVERY_MS) return;
      refusedFor.set(cause, now);
      log.warn(`a sandbox launcher did not start: ${why}; calls are refused until one can`);
    },
    // What a launcher enforces, for /health (also when the first one could start only later), and warned about for
    // every launcher: one that boots while root's namespace count is full gets fewer layers than the first had.
    onReady: (report) => {
      if (status.layers === null || layerNames(report).length < layerNames(status.layers).length) status.layers = report;
      for (const [kind, line] of degradedLayerWarnings(report)) {
        if (warned.has(kind)) continue;
        warned.add(kind);
        log.warn(line);
      }
    },
  });

  // What servers killed before they could clean up left in the temp directory (their locks are free).
  const sweep = () =>
    sweepStaleTmp().then(
      (dirs) => {
        for (const dir of dirs) log.info(`removed ${dir}, the private TMPDIR of a server that ended without removing it`);
      },
      (err: Error) => log.debug(`could not sweep the temp directory: ${err.message}`),
    );
  // A launcher that could not even be started (no room for its private TMPDIR, no process to spawn) says nothing
  // about the kernel, and what a killed predecessor left in the temp directory may be what fills it: that is
  // cleared first and the boot tried once more.
  const bootFirst = () =>
    sandbox.start().catch(async (err: Error) => {
      if (!(err instanceof LauncherNotStartedError) || !privateTmp) throw err;
      await sweep();
      return sandbox.start();
    });
  // A timer, not a microtask: in `auto` mode the server gets to listen before
  // the first launcher (a second process) boots and competes for the CPU.
  const started = new Promise((resolve) => setTimeout(resolve, 0)).then(bootFirst).then(
    (report) => {
      // After the first launcher is up, so neither it nor the first command waits for a read of the temp directory.
      if (privateTmp) setTimeout(() => void sweep(), 0);
      // How every unprivileged run works (docs/sandbox.md's table says what needs root), so news, not a warning:
      // a warning on each start of the common set-up would teach users to ignore warnings, or to run as root.
      if (!report.pidNamespace && report.namespaceRefused === null) log.info('commands get no PID namespace of their own (that needs root): a process that leaves its process group lives until its client\'s next call ends');
      log.debug(`commands run sandboxed (Landlock ABI ${abi}, network ${config.sandbox.network}, PID namespace ${report.pidNamespace ? 'per command' : 'none'})`);
      return true;
    },
    async (err: Error) => {
      // Closed before the first launcher booted (a short stdio session): nothing to report.
      if (sandbox.isClosed) return false;
      // Under `auto` too, only a launcher that could not confine itself turns the sandbox off: a call runs
      // unconfined only where the kernel or the container cannot confine it. A launcher that could not be
      // started for want of room or processes, died before it was ready (killed, out of memory, stopped past
      // its boot deadline), could not reach a path it is to grant or ran short of descriptors says nothing
      // about that; until a launcher can start, calls are refused saying why.
      if (!(err instanceof LauncherConfineError) && mode === 'auto') {
        log.warn(`no sandbox launcher can start yet (${err.message}): commands are refused until one can`);
        return true;
      }
      // One launcher's word is not the kernel's: a path it grants may have been moved away while it booted (a command
      // of another server whose workspace holds this one's), or a signal sent to it. Only a launcher granting no
      // such path that says it cannot confine itself either turns the sandbox off; one killed by SIGSYS does not
      // (kernelConfines: whoever can send it to one launcher can send it to the next).
      if (mode === 'auto' && err instanceof LauncherConfineError) {
        const verdict = await sandbox.kernelConfines();
        if (verdict === true) {
          log.warn(`a sandbox launcher could not confine itself (${err.message}), although the kernel confines one that grants no path: commands are refused until a launcher can`);
          return true;
        }
        if (verdict === null) {
          log.warn(
            `a sandbox launcher could not confine itself (${err.message}), and one that grants no path did not say the kernel cannot either: commands are refused until a launcher can. ` +
              'A process may be sending SIGSYS to the launchers; if this host\'s seccomp profile kills a call the sandbox needs, set HIDE_SANDBOX=off to run commands without it',
          );
          return true;
        }
      }
      await sandbox.close();
      if (mode === 'required') throw new SandboxUnavailableError(`HIDE_SANDBOX=required but the sandbox launcher could not start: ${err.message}`);
      Object.assign(status, off(`the sandbox launcher could not start: ${err.message}`));
      return false;
    },
  );
  if (mode === 'required') {
    // Refuse to start rather than run one command unconfined.
    await started;
    return { status, spawner: sandbox };
  }
  return { status, spawner: new FallbackSpawner(sandbox, new LocalSpawner(), started) };
}

/** A launcher refused for one cause is said at most this often. */
const REFUSAL_SAID_EVERY_MS = 60_000;

/** What a launcher's report lacks that the operator must hear of, by kind (each said once per server). */
function degradedLayerWarnings(report: LayerReport): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (report.namespaceRefused !== null) {
    out.push([
      'namespace',
      `commands get no PID namespace of their own although the server may make one: the kernel refused it (${report.namespaceRefused}), ` +
        'so they run without the private /proc, terminals, temp directory view, empty network and read-only mounts that need one: ' +
        'they can see every process\'s command line in /proc and change the mode, times and extended attributes of files root owns. ' +
        'ENOSPC means the count of PID or IPC namespaces root may hold (sysctl user.max_pid_namespaces, user.max_ipc_namespaces) is reached; restart once it is not',
    ]);
  }
  if (report.mountRefused !== null) {
    out.push([
      'mount',
      `the sandbox runs without its private /proc, terminals and temp directory view: mounting them was refused (${report.mountRefused}), ` +
        'as a container runtime\'s default AppArmor profile does; commands can see every process\'s command line in /proc, as on an unprivileged server, ' +
        'and change the mode, times and extended attributes of files root owns. ' +
        'Allow hide to mount (e.g. a profile without `deny mount`) to close both',
    ]);
  }
  if (report.readOnlyRefused !== null) {
    out.push([
      'read-only',
      `the sandbox runs without read-only mounts outside the granted paths: the kernel refused them (${report.readOnlyRefused}); ` +
        'commands (uid 0, no capabilities) can change the mode, times and extended attributes of files root owns anywhere',
    ]);
  }
  if (report.tmpViewRefused !== null) {
    out.push([
      'tmp-view',
      `a sandbox launcher runs without its private view of the temp directory: ${report.tmpViewRefused}; ` +
        'its commands see every client\'s TMPDIR there, and with the network on can connect to the sockets in them',
    ]);
  }
  if (report.yieldRefused !== null) {
    out.push([
      'yield',
      `commands do not give way to the server as they should (${report.yieldRefused}): under memory pressure the out-of-memory killer may pick the server ` +
        'before the command that caused it, and busy commands share the CPU evenly with it',
    ]);
  }
  if (report.networkRefused !== null) {
    out.push([
      'network',
      `the sandbox runs without its empty network namespace: the kernel refused it (${report.networkRefused}); commands still open no socket, ` +
        'but see the host\'s connections (addresses and ports) in /proc/net',
    ]);
  }
  return out;
}
