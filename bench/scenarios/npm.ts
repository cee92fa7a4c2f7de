/**
 * npm-start: what the npm wrapper adds to an MCP session's cold start —
 * node_modules/.bin/hide (the wrapper's sh launcher, npm/wrapper/bin/hide)
 * → the platform package's binary → first `tools/list` over stdio — against
 * `dist/hide stdio` started directly, alternating A B B A in the same run.
 * npx itself is left out: resolving the package is npm's time, not hide's.
 *
 * The node_modules tree is the one npm makes for `npx headless-ide-mcp` (the
 * wrapper hoisted, the platform package beside it, `.bin/hide` a relative
 * link to the launcher; test/release/npm.test.ts checks that layout through a
 * real registry), with dist/hide hard-linked in as the platform binary, so
 * both sides run the very same bytes from the same page cache.
 */
import { copyFileSync, existsSync, linkSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wrapperLauncher } from '../../scripts/release/npm.ts';
import { NPM_WRAPPER } from '../../scripts/release/targets.ts';
import { judge, type Scenario } from '../lib/context.ts';
import { HIDE_BIN, setupHide } from '../lib/hide.ts';
import { run } from '../lib/proc.ts';
import { fmt, median, signed } from '../lib/stats.ts';
import { stdioStartup, type StdioTarget } from '../lib/stdio.ts';

const TARGET_MS = 15;

/** bench/.work/npm-start/node_modules as npm lays it out; returns the path of `.bin/hide`. */
function npmLayout(work: string, binary: string, name: string): string {
  const nm = join(work, name, 'node_modules');
  rmSync(join(work, name), { recursive: true, force: true });
  const platformBin = join(nm, `${NPM_WRAPPER}-linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}`, 'bin');
  mkdirSync(platformBin, { recursive: true });
  try {
    linkSync(binary, join(platformBin, 'hide'));
  } catch {
    copyFileSync(binary, join(platformBin, 'hide')); // another file system
  }
  mkdirSync(join(nm, NPM_WRAPPER, 'bin'), { recursive: true });
  writeFileSync(join(nm, NPM_WRAPPER, 'bin', 'hide'), wrapperLauncher('0.0.0-bench'), { mode: 0o755 });
  mkdirSync(join(nm, '.bin'));
  symlinkSync(`../${NPM_WRAPPER}/bin/hide`, join(nm, '.bin', 'hide'));
  return join(nm, '.bin', 'hide');
}

export const npmStart: Scenario = {
  name: 'npm-start',
  title: 'stdio start to first tools/list: npm wrapper vs bare binary',
  target: `≤ +${TARGET_MS} ms`,
  async run(ctx, row) {
    if (!existsSync(HIDE_BIN)) throw new Error(`${HIDE_BIN} is missing (bun run build)`);
    const setup = setupHide({ name: 'npm-start' });
    const target = (name: string, command: string): StdioTarget => ({
      name,
      command,
      args: ['stdio', '--config', setup.configFile],
      env: setup.env,
      cwd: setup.dir,
      pickCall: () => ({ name: 'shell_execute', arguments: { command: 'true' } }),
    });
    const bare = target('dist/hide', HIDE_BIN);
    const wrapped = target('npm wrapper', npmLayout(ctx.work, HIDE_BIN, 'npm-start'));
    const n = ctx.count(12, 3);
    const once = async (t: StdioTarget) => (await stdioStartup(t, 1, 20_000)).medianMs;
    await once(bare); // warm the page cache for both (same inode)
    await once(wrapped);
    const a: number[] = [];
    const b: number[] = [];
    const deadline = performance.now() + ctx.secs(60) * 1000;
    for (let i = 0; i < n && (i < 2 || performance.now() < deadline); i++) {
      if (i % 2 === 0) {
        a.push(await once(bare));
        b.push(await once(wrapped));
      } else {
        b.push(await once(wrapped));
        a.push(await once(bare));
      }
    }
    const delta = median(b) - median(a);
    Object.assign(row, {
      baseline: fmt(median(a), 'ms'),
      ours: fmt(median(b), 'ms'),
      ratio: signed(delta, 'ms'),
      status: judge(delta <= TARGET_MS),
    });
    row.notes.push(`medians of ${a.length} alternating starts each (A B B A); both run dist/hide, the wrapper through its sh launcher`);

    // The launcher alone: the same tree with `true` as the platform binary.
    const trueBin = Bun.which('true');
    if (trueBin) {
      const launcher = npmLayout(ctx.work, trueBin, 'npm-start-true');
      const time = async (cmd: string[]) => {
        const t0 = performance.now();
        await run(cmd, { timeoutMs: 10_000 });
        return performance.now() - t0;
      };
      const direct: number[] = [];
      const through: number[] = [];
      for (let i = 0; i < ctx.count(40, 10); i++) {
        direct.push(await time([trueBin]));
        through.push(await time([launcher]));
      }
      row.notes.push(
        `the launcher alone (sh start, one uname, /proc/cpuinfo on x64, exec): ${fmt(median(through), 'ms')} to run \`true\` through it vs ${fmt(median(direct), 'ms')} directly (median of ${direct.length})`,
      );
    }
    // What a Node launcher (Biome's and esbuild's shape) would put in front at least.
    const node = Bun.which('node');
    if (node) {
      const starts: number[] = [];
      for (let i = 0; i < ctx.count(10, 3); i++) {
        const t0 = performance.now();
        await run([node, '-e', '0'], { timeoutMs: 10_000 });
        starts.push(performance.now() - t0);
      }
      row.notes.push(`\`node -e 0\` alone takes ${fmt(median(starts), 'ms')} here (median of ${starts.length}): the least a Node launcher would add`);
    }
  },
};
