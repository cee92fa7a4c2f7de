import { expect, test } from 'bun:test';
import { join } from 'node:path';

const PROBE = join(import.meta.dir, 'fixtures/unfiltered-thread-probe.ts');

test.skipIf(process.platform !== 'linux')("under a filter that refuses stop signals, the unfiltered thread still stops and limits the JS thread's children, and a command cannot stop its launcher", async () => {
  const p = Bun.spawn([process.execPath, PROBE], { stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(code, err).toBe(0);
  expect(JSON.parse(out)).toEqual({
    jsKill: 'EPERM',
    jsPidfd: 'EPERM',
    jsPrlimit: 'EPERM',
    stoppedAfterJs: false,
    threadStop: true,
    stateAfterThread: 'T',
    jsCont: 'ok',
    applied: null,
    limits: ['77', '500'],
    refused: expect.stringMatching(/^prlimit\(openFiles=1073741824\) failed: errno 1$/),
    command: { pid: 'Operation not permitted', thread: 'Operation not permitted' },
    selfStopped: false,
    stopGone: false,
  });
}, 20_000);
