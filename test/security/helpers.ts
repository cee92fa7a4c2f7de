/** Shared test helpers for the security tests: temp dirs and condition waits, from test/helpers. */
export { disposableTempDir as tempDir } from '../helpers/temp.ts';
export { waitFor } from '../helpers/wait.ts';
