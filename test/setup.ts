/**
 * Preloaded before every test file (bunfig.toml): tests start real servers
 * and processes, so a shared, slow machine needs more than the 5 s default.
 */
import { setDefaultTimeout } from 'bun:test';

setDefaultTimeout(30_000);
