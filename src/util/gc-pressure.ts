/**
 * Forces a garbage collection after a large volume of short-lived buffers.
 *
 * A command that prints far past the output cap still has every byte read and
 * dropped (so it never blocks on a full pipe). Each chunk is a fresh native
 * buffer that the collector only weighs lazily: with 32 commands printing
 * 200 MB each, the server's RSS rose ~250 MB from chunks that were already
 * garbage, against ~57 MB with a full collection after every 32 MiB dropped
 * (bench row rss-output, answers capped small to isolate the drain). Large
 * answers (megabytes of escaped output) are counted the same way. Ordinary
 * calls never reach the threshold, so they never pay for a collection.
 *
 * The collection runs synchronously, in the read loop that crossed the
 * threshold: deferring it to the next turn let ~25 MB more pile up.
 */
const THRESHOLD_BYTES = 32 * 1024 * 1024;

let pendingBytes = 0;

/** Records `bytes` of buffer memory that became garbage (or soon will). */
export function noteTransientBytes(bytes: number): void {
  pendingBytes += bytes;
  if (pendingBytes < THRESHOLD_BYTES) return;
  pendingBytes = 0;
  Bun.gc(true);
}
