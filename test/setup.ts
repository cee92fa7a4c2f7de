/**
 * Preloaded before every test file (bunfig.toml): tests start real servers
 * and processes, so a shared, slow machine needs more than the 5 s default.
 * Bun applies this default to the first file a process runs only (bunfig has
 * no key for it), hence `--timeout` in the test script as well.
 * A global afterAll here runs after the last file of its process: once in
 * a plain `bun test`, after each file under `--parallel` (each file gets a
 * fresh module registry, and with it its own list of temp directories).
 */
import { afterAll, setDefaultTimeout } from 'bun:test';
import { removeTempDirs } from './helpers/temp.ts';

setDefaultTimeout(30_000);
afterAll(removeTempDirs);
