/**
 * The version reported by `hide version`, /health and MCP serverInfo.
 *
 * A release build (`bun run release`, scripts/release/) defines
 * HIDE_BUILD_VERSION at compile time as the package version with semver build
 * metadata: `0.1.0+<commit>.<target>`, e.g. `0.1.0+1a2b3c4d5e6f.linux-x64-musl`
 * (`.dirty` after the commit when the tree had changes). Anything else — `bun
 * run src/main.ts`, `bun run build` — reports the bare package version.
 */
import pkg from '../../package.json' with { type: 'json' };

declare const HIDE_BUILD_VERSION: string | undefined;

export const VERSION: string = typeof HIDE_BUILD_VERSION === 'string' ? HIDE_BUILD_VERSION : pkg.version;
