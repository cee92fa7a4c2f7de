/** A temporary directory with the files a config test needs, removed on dispose. */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface ConfigDir {
  path: string;
  /**
   * A directory inside it (made when first asked for) to name as the workspace: a `.env` that sets
   * settings is read only from outside the workspace, and the default
   * workspace is the working directory.
   */
  workspace: string;
  /** Writes a file under the directory; an object is written as JSON. */
  write(name: string, content: string | object): string;
  [Symbol.dispose](): void;
}

export function configDir(files: Record<string, string | object> = {}): ConfigDir {
  const path = realpathSync(mkdtempSync(join(tmpdir(), 'hide-config-')));
  const dir: ConfigDir = {
    path,
    get workspace() {
      const ws = join(path, 'ws');
      mkdirSync(ws, { recursive: true });
      return ws;
    },
    write(name, content) {
      const file = join(path, name);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
      return file;
    },
    [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }),
  };
  for (const [name, content] of Object.entries(files)) dir.write(name, content);
  return dir;
}
