/**
 * One holder at a time per key, in the order asked: for the steps of one
 * process that must not interleave with the same steps on the same thing
 * (a file's last look and its replacement). Keys with no holder and no one
 * waiting take no memory.
 * @example await commits.run(path, async () => { await check(); await rename(temp, path); });
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = before.then(() => mine);
    this.tails.set(key, tail);
    await before;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
