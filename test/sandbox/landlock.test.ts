import { expect, test } from 'bun:test';
import { Fs, fsRightsForAbi, landlockAbi, restrictSelf } from '../../src/sandbox/landlock.ts';

test('detects the Landlock ABI of this kernel', () => {
  const abi = landlockAbi();
  expect(Number.isInteger(abi)).toBe(true);
  // The issue records ABI 7 on the machine these tests run on.
  expect(abi).toBeGreaterThanOrEqual(1);
  expect(landlockAbi()).toBe(abi);
});

test('masks filesystem rights by ABI version', () => {
  expect(fsRightsForAbi(1)).toBe((1n << 13n) - 1n);
  expect(fsRightsForAbi(2) & Fs.REFER).toBe(Fs.REFER);
  expect(fsRightsForAbi(2) & Fs.TRUNCATE).toBe(0n);
  expect(fsRightsForAbi(4) & Fs.IOCTL_DEV).toBe(0n);
  expect(fsRightsForAbi(7)).toBe((1n << 16n) - 1n);
});

test('a bad rule throws before anything is restricted', () => {
  expect(() => restrictSelf({ readWrite: [], readOnly: [], network: { allowConnectPorts: [70_000] } })).toThrow(
    'invalid TCP port 70000',
  );
  // This test process must still be free: it can read outside any rule.
  expect(Bun.spawnSync(['cat', '/proc/self/status']).exitCode).toBe(0);
});
