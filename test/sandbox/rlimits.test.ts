import { expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { hasLimits, setResourceLimits } from '../../src/sandbox/rlimits.ts';

function limitLine(pid: number, name: string): string[] {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(name));
  return (line ?? '').slice(26).trim().split(/\s+/).slice(0, 2);
}

test('sets soft and hard limits on another process', async () => {
  await using proc = Bun.spawn(['sleep', '30']);
  setResourceLimits(
    { cpuSeconds: 5, memoryBytes: 64 * 2 ** 20, openFiles: 32, fileSizeBytes: 4096, processes: 100 },
    proc.pid,
  );
  expect({
    cpu: limitLine(proc.pid, 'Max cpu time'),
    data: limitLine(proc.pid, 'Max data size'),
    files: limitLine(proc.pid, 'Max open files'),
    fsize: limitLine(proc.pid, 'Max file size'),
    nproc: limitLine(proc.pid, 'Max processes'),
  }).toEqual({
    cpu: ['5', '6'],
    data: [String(64 * 2 ** 20), String(64 * 2 ** 20)],
    files: ['32', '32'],
    fsize: ['4096', '4096'],
    nproc: ['100', '100'],
  });
  proc.kill('SIGKILL');
});

test('rejects invalid values and reports errno for a missing pid', () => {
  expect(() => setResourceLimits({ openFiles: -1 }, 1)).toThrow('non-negative integer');
  expect(() => setResourceLimits({ openFiles: 10 }, 2 ** 30)).toThrow('ESRCH');
});

test('hasLimits', () => {
  expect(hasLimits(undefined)).toBe(false);
  expect(hasLimits({})).toBe(false);
  expect(hasLimits({ cpuSeconds: 1 })).toBe(true);
});

test('a process lowers its own process and open-file limits to a value, and never raises a lower one it has', async () => {
  // In a child of its own, so the test runner keeps its limits. Run as root, which may raise its limits, it shows that
  // nothing is raised; unprivileged, a raise would fail with EPERM.
  const script = [
    "import { lowerOwnLimits, setResourceLimits } from './src/sandbox/rlimits.ts';",
    "import { readFileSync } from 'node:fs';",
    "const row = (name: string) => readFileSync('/proc/self/limits', 'utf8').split('\\n').find((l) => l.startsWith(name))!.slice(26).trim().split(/\\s+/).slice(0, 2).join('/');",
    "const now = () => `${row('Max processes')} ${row('Max open files')}`;",
    'const seen: string[] = [];',
    'lowerOwnLimits({ processes: 300, openFiles: 400 }); seen.push(now());',
    'lowerOwnLimits({ processes: 90000, openFiles: 90000 }); seen.push(now());',
    'setResourceLimits({ processes: 200, openFiles: 100 }); lowerOwnLimits({ processes: 90000, openFiles: 90000 }); seen.push(now());',
    'lowerOwnLimits({ openFiles: 50 }); seen.push(now());',
    'console.log(JSON.stringify(seen));',
  ].join('\n');
  const proc = Bun.spawn([process.execPath, '-e', script], { cwd: `${import.meta.dir}/../..`, stdout: 'pipe', stderr: 'pipe' });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  expect({ out: out.trim(), err, code: await proc.exited }).toEqual({ out: JSON.stringify(['300/300 400/400', '300/300 400/400', '200/200 100/100', '200/200 50/50']), err: '', code: 0 });
});
