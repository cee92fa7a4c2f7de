/** The version reported by `hide version`, /health and MCP serverInfo. */
import pkg from '../../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
