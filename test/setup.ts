/**
 * Preloaded before every test file (bunfig.toml): tests start real servers
 * and processes, so a shared, slow machine needs more than the 5 s default.
 * A global afterAll here runs once, after the last file.
 */
import { afterAll, setDefaultTimeout } from 'bun:test';
import { removeTempDirs } from './helpers/temp.ts';

setDefaultTimeout(30_000);
afterAll(removeTempDirs);
