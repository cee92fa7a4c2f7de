/**
 * Each launcher's share of the kernel's terminals: every launcher a server
 * can have at once, together, within half the pool that all devpts instances
 * but the host's draw on, so clients cannot take the whole pool between them.
 */
import { describe, expect, test } from 'bun:test';
import { MAX_PTYS_PER_LAUNCHER, ptysPerLauncher, sharedPtyPool } from '../../src/sandbox/private-proc.ts';

describe('ptysPerLauncher', () => {
  test.each([
    // kernel defaults (pty.max 4096, reserve 1024) and the default 64 launchers and the spare
    [65, 3072, 23],
    [1, 3072, MAX_PTYS_PER_LAUNCHER],
    [6, 3072, MAX_PTYS_PER_LAUNCHER],
    [7, 3072, 219],
    [1025, 3072, 1],
    [65, 1, 1],
  ])('%i launchers, a pool of %i: %i each', (launchers, pool, share) => {
    expect(ptysPerLauncher(launchers, pool)).toBe(share);
  });

  test('every launcher together stays within half the pool, as long as each can have one', () => {
    for (const pool of [1, 100, 3072, 1_048_576]) {
      for (const launchers of [1, 2, 65, 1025]) {
        const share = ptysPerLauncher(launchers, pool);
        expect(share).toBeGreaterThanOrEqual(1);
        expect(share).toBeLessThanOrEqual(MAX_PTYS_PER_LAUNCHER);
        if (launchers <= pool / 2) expect(share * launchers).toBeLessThanOrEqual(pool / 2);
      }
    }
  });

  test('a pool /proc does not name leaves the fixed cap', () => {
    expect(ptysPerLauncher(65, null)).toBe(MAX_PTYS_PER_LAUNCHER);
  });

  test("this host's pool is read from /proc/sys/kernel/pty", async () => {
    const read = async (name: string) => Number((await Bun.file(`/proc/sys/kernel/pty/${name}`).text()).trim());
    expect(sharedPtyPool()).toBe((await read('max')) - (await read('reserve')));
  });
});
