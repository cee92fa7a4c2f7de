/**
 * What a release is made of, in one table: the five Linux binaries (Bun
 * cross-compiles all of them from one machine), the npm package that carries
 * each, and the names every distribution channel shares — the GitHub
 * repository, the npm wrapper, the container image and the MCP Registry name.
 * install.sh, server.json, npm/wrapper and the Dockerfile repeat some of these
 * by hand; test/release/metadata.test.ts checks that they agree with this file.
 */

/** The GitHub repository the release page, image and MCP Registry name derive from. */
export const REPOSITORY = 'headless-ide/hide';
/** The npm wrapper package: `npx -y headless-ide-mcp stdio --workspace .`. */
export const NPM_WRAPPER = 'headless-ide-mcp';
/** The MCP Registry name (`mcpName` in the wrapper, server.json `name`, the image label). */
export const MCP_NAME = `io.github.${REPOSITORY.split('/')[0]}/hide`;
/** The container image, without tag. */
export const IMAGE = `ghcr.io/${REPOSITORY}`;
/** The environment variable the npm launcher takes to run another binary. */
export const BINARY_ENV = 'HIDE_BINARY_PATH';

export interface Target {
  /** `linux-x64-musl`: the suffix of the release file and of the npm package. */
  name: string;
  /** `bun build --compile --target=…` */
  bunTarget: string;
  cpu: 'x64' | 'arm64';
  libc: 'glibc' | 'musl';
  /** Runs on x86-64 CPUs without AVX2. */
  baseline: boolean;
  /** ELF e_machine: 62 x86-64, 183 AArch64. */
  elfMachine: number;
  /** The dynamic loader the binary names (PT_INTERP). */
  interpreter: string;
  /**
   * Whether the npm wrapper lists it as an optional dependency. npm cannot
   * choose by CPU feature, so the baseline build would download beside the
   * regular x64 one on every x64 machine; it is published and the launcher
   * names it when the CPU lacks AVX2 (npm/README.md).
   */
  npmOptional: boolean;
}

export const TARGETS: readonly Target[] = [
  { name: 'linux-x64', bunTarget: 'bun-linux-x64', cpu: 'x64', libc: 'glibc', baseline: false, elfMachine: 62, interpreter: '/lib64/ld-linux-x86-64.so.2', npmOptional: true },
  { name: 'linux-x64-baseline', bunTarget: 'bun-linux-x64-baseline', cpu: 'x64', libc: 'glibc', baseline: true, elfMachine: 62, interpreter: '/lib64/ld-linux-x86-64.so.2', npmOptional: false },
  { name: 'linux-arm64', bunTarget: 'bun-linux-arm64', cpu: 'arm64', libc: 'glibc', baseline: false, elfMachine: 183, interpreter: '/lib/ld-linux-aarch64.so.1', npmOptional: true },
  { name: 'linux-x64-musl', bunTarget: 'bun-linux-x64-musl', cpu: 'x64', libc: 'musl', baseline: false, elfMachine: 62, interpreter: '/lib/ld-musl-x86_64.so.1', npmOptional: true },
  { name: 'linux-arm64-musl', bunTarget: 'bun-linux-arm64-musl', cpu: 'arm64', libc: 'musl', baseline: false, elfMachine: 183, interpreter: '/lib/ld-musl-aarch64.so.1', npmOptional: true },
];

/** `hide-linux-x64`: the bare binary's file name in dist/release and on the release page. */
export const binaryName = (t: Target) => `hide-${t.name}`;
/** `hide-linux-x64.tar.gz`: holds one file, `hide`. */
export const archiveName = (t: Target) => `${binaryName(t)}.tar.gz`;
/** `headless-ide-mcp-linux-x64`: the npm package carrying the binary at bin/hide. */
export const npmPackageName = (t: Target) => `${NPM_WRAPPER}-${t.name}`;

/** The build flags of `bun run build` (package.json), so a release binary is that binary for another target. */
export const BUILD_FLAGS = [
  '--compile',
  '--splitting',
  '--minify-whitespace',
  '--minify-syntax',
  '--bytecode',
  '--format=esm',
  '--no-compile-autoload-dotenv',
  '--no-compile-autoload-bunfig',
] as const;
export const ENTRY_POINTS = ['src/main.ts', 'src/tools/files/search-worker.ts'] as const;
