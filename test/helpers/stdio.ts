/** `hide stdio` from source as a child process, with a line reader on its stdout. */
import { join } from 'node:path';
import { waitFor } from './wait.ts';

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts');

/** `hide stdio` with a line reader on its stdout. */
export async function startStdio(workspace: string, env: Record<string, string> = {}) {
  const proc = Bun.spawn([process.execPath, MAIN, 'stdio', '--workspace', workspace], {
    cwd: workspace,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HIDE_AUDIT_LOG_FILE: join(workspace, '..', 'audit.jsonl'),
      HIDE_RATE_LIMIT_ENABLED: 'false',
      HIDE_LOG_LEVEL: 'warn',
      ...env,
    },
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const lines: string[] = [];
  void (async () => {
    let rest = '';
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      rest += decoder.decode(chunk, { stream: true });
      const parts = rest.split('\n');
      rest = parts.pop()!;
      lines.push(...parts);
    }
  })();
  return {
    proc,
    lines,
    send(line: string) {
      proc.stdin.write(`${line}\n`);
      proc.stdin.flush();
    },
    /** The first line (from `from` on) that starts with `prefix`. */
    async line(prefix: string, from = 0, what = prefix): Promise<string> {
      // waitFor returns only a truthy value.
      return (await waitFor(() => lines.slice(from).find((l) => l.startsWith(prefix)), 10_000, `a stdout line ${what}`)) as string;
    },
    async stop() {
      proc.stdin.end();
      proc.kill('SIGTERM');
      await proc.exited;
    },
  };
}

