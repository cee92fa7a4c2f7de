/**
 * A bare newline-delimited JSON-RPC client for `hide stdio`: writes one
 * message per line and hands back the answer with the same id. The SDK's
 * Client speaks the handshake era only; this client frames nothing itself, so
 * both eras go through exactly the same code and only the messages differ.
 */
import type { Subprocess } from 'bun';
import { track } from './proc.ts';

export class LineClient {
  private readonly waiting = new Map<number, (message: any) => void>();
  private readonly done: Promise<void>;

  private constructor(private readonly proc: Subprocess<'pipe', 'pipe', 'ignore'>) {
    this.done = this.readAnswers();
  }

  static start(cmd: string[], opts: { env: Record<string, string>; cwd?: string }): LineClient {
    const proc = Bun.spawn(cmd, { env: opts.env, cwd: opts.cwd, stdin: 'pipe', stdout: 'pipe', stderr: 'ignore' });
    track(proc);
    return new LineClient(proc);
  }

  private async readAnswers(): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of this.proc.stdout) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
        if (line.trim() === '') continue;
        const message = JSON.parse(line);
        const resolve = typeof message.id === 'number' ? this.waiting.get(message.id) : undefined;
        if (resolve) {
          this.waiting.delete(message.id);
          resolve(message);
        }
      }
    }
  }

  /** Sends one request (`body` must carry `id`) and resolves with its answer; rejects after `timeoutMs`. */
  request(id: number, body: string, timeoutMs = 20_000): Promise<any> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no answer to request ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, (message) => {
        clearTimeout(timer);
        resolve(message);
      });
      this.proc.stdin.write(`${body}\n`);
      this.proc.stdin.flush();
    });
  }

  /** Closes stdin (hide stdio then exits) and waits, killing it after a grace period. */
  async close(): Promise<void> {
    this.proc.stdin.end();
    const exited = await Promise.race([this.proc.exited.then(() => true), Bun.sleep(3000).then(() => false)]);
    if (!exited) this.proc.kill('SIGKILL');
    await this.proc.exited;
    await this.done.catch(() => {});
  }
}
