/**
 * Size rotation of the audit log on disk: name → name.1 → … → name.<keep>,
 * each file with its checkpoint, so a rotated file can still be checked for
 * a cut tail. The writer decides when to rotate and reopens the live file.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { checkpointPath } from './chain.ts';

/** Rotated file names, newest first: name.1 … name.<keep>. */
export function rotatedNames(file: string, keep: number): string[] {
  return Array.from({ length: keep }, (_, i) => `${file}.${i + 1}`);
}

/**
 * name.<keep> is dropped, each name.i moves to name.<i+1>, the live file to
 * name.1; `moved` is called as soon as the live file has moved (its
 * checkpoint follows), since from then on the file must be opened anew.
 * Throws on the first move that fails.
 */
export function rotateFiles(file: string, keep: number, moved: () => void): void {
  // Each file moves with its checkpoint, so a rotated file can still be checked for a cut tail.
  const names = rotatedNames(file, keep);
  rmSync(names.at(-1)!, { force: true });
  rmSync(checkpointPath(names.at(-1)!), { force: true });
  for (let i = names.length - 2; i >= 0; i--) {
    if (existsSync(names[i]!)) renameSync(names[i]!, names[i + 1]!);
    if (existsSync(checkpointPath(names[i]!))) renameSync(checkpointPath(names[i]!), checkpointPath(names[i + 1]!));
  }
  renameSync(file, names[0]!);
  moved();
  if (existsSync(checkpointPath(file))) renameSync(checkpointPath(file), checkpointPath(names[0]!));
}
