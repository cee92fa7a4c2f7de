/** Closing a descriptor that may already be gone (the audit writer's, a spawn's pipe ends). */
import { closeSync } from 'node:fs';

/** Closes `fd` if open, ignoring a descriptor already gone; null, for the field that held it. */
export function closeQuietly(fd: number | null): null {
  if (fd === null) return null;
  try {
    closeSync(fd);
  } catch {
    /* already gone */
  }
  return null;
}
