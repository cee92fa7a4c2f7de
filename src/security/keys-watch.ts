/**
 * Notices changes to the keys file. fs.watch watches the file's directory
 * because editors and `hide keys generate` replace the file by rename, which
 * a watch on the old inode would never report; a 1 s stat poll backs it up
 * because fs.watch can drop events (network filesystems, some containers).
 * Bursts of events are debounced into one reload.
 */
import { type FSWatcher, statSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

const DEBOUNCE_MS = 100;
const POLL_MS = 1000;

function signature(file: string): string {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? ''}`;
  }
}

export class KeysFileWatcher {
  private readonly name: string;
  private last: string;
  private fsWatcher: FSWatcher | null = null;
  private readonly poll: ReturnType<typeof setInterval>;
  private debounce: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly onChange: () => void,
    opts: { fsWatch?: boolean } = {},
  ) {
    this.name = basename(file);
    this.last = signature(file);
    if (opts.fsWatch !== false) this.startFsWatch();
    this.poll = setInterval(() => {
      if (signature(this.file) !== this.last) this.schedule();
    }, POLL_MS);
    this.poll.unref();
  }

  private startFsWatch(): void {
    try {
      this.fsWatcher = watch(dirname(this.file), { persistent: false }, (_event, filename) => {
        // Some platforms omit the name; then any event in the directory counts.
        if (filename === null || filename === this.name) this.schedule();
      });
      this.fsWatcher.on('error', () => {
        // The poll keeps working; a dead watcher is not worth crashing for.
        this.fsWatcher?.close();
        this.fsWatcher = null;
      });
    } catch {
      this.fsWatcher = null;
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      if (this.closed) return;
      // Record the state we are about to read; a write landing after this
      // changes the signature again and triggers another reload.
      this.last = signature(this.file);
      try {
        this.onChange();
      } catch {
        // Reload reports its own errors; nothing may escape a timer.
      }
    }, DEBOUNCE_MS);
    this.debounce.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.poll);
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.fsWatcher?.close();
    this.fsWatcher = null;
  }
}
