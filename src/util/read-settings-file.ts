/**
 * Reads a file an operator names for settings (the config file, `.env`, the
 * keys file) whole — only when it is a regular file of a sane size. A FIFO
 * there blocks a plain read for ever (its open waits for a writer) and a
 * device such as /dev/zero never ends: a server reloading its keys, or a
 * container health probe, would hang instead of saying what is wrong. The
 * file is opened without blocking and checked through that descriptor, so
 * what is read is what was checked.
 */
import { closeSync, constants, fstatSync, readSync } from 'node:fs';
import { NotRegularFileError, openRegularFileSync } from './open-regular-file.ts';

/** Far more than any config or keys file (a 16 MiB keys file holds some 80 000 clients). */
export const MAX_SETTINGS_FILE_BYTES = 16 * 1024 * 1024;

/**
 * The file's text (UTF-8). Throws an Error whose message says what the file
 * is instead, or the system error (with its `code`, ENOENT for a missing file)
 * when it cannot be opened.
 */
export function readSettingsFileSync(file: string, maxBytes = MAX_SETTINGS_FILE_BYTES): string {
  let fd: number;
  try {
    fd = openRegularFileSync(file, constants.O_RDONLY);
  } catch (err) {
    // Its callers name the file already ("cannot read keys file F: a FIFO, not a regular file").
    throw err instanceof NotRegularFileError ? new Error(err.what) : err;
  }
  try {
    const s = fstatSync(fd);
    if (s.size > maxBytes) throw new Error(`${s.size} bytes, more than the ${maxBytes} a settings file may have`);
    // Read to the end, not to the size seen: a file that grows meanwhile is still bounded.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw new Error(`more than the ${maxBytes} bytes a settings file may have`);
      chunks.push(chunk.subarray(0, n));
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
