/**
 * The audit log on a standard stream (`HIDE_AUDIT_LOG_FILE=-`) whose reader is
 * gone, or stuck: the stream says so by an event or by holding what it was
 * given, never by throwing from write(). Unheard, every line after the reader
 * went away was counted as written, HIDE_AUDIT_ON_ERROR=refuse refused nothing,
 * and a stuck reader made the runtime queue lines in memory without end.
 */
import { expect, test } from 'bun:test';
import { join } from 'node:path';

const FIXTURE = join(import.meta.dir, 'fixtures', 'standard-stream-gone.ts');

/** Runs the fixture with stdout a pipe whose reader is closed (`gone`) or open and never read (`stuck`) until it reports. */
function run(reader: 'gone' | 'stuck', lines: number, argumentBytes: number): { code: number; report: { written: number; dropped: number; errors: string[] } } {
  const wrapper = `import os, subprocess, sys
r, w = os.pipe()
if sys.argv[1] == 'gone':
    os.close(r)
p = subprocess.Popen(sys.argv[2:], stdout=w, stderr=subprocess.PIPE)
os.close(w)
line = p.stderr.readline()
if sys.argv[1] != 'gone':
    os.close(r)
p.wait(timeout=30)
print(p.returncode)
sys.stdout.write(line.decode())`;
  const r = Bun.spawnSync(['python3', '-c', wrapper, reader, process.execPath, FIXTURE, String(lines), String(argumentBytes)], { timeout: 60_000 });
  const [code, report] = r.stdout.toString().trim().split('\n');
  return { code: Number(code), report: JSON.parse(report!) };
}

test('a reader gone: every line is counted as dropped and the failure reported once', () => {
  expect(run('gone', 5, 10)).toEqual({ code: 0, report: { written: 0, dropped: 5, errors: ['EPIPE: broken pipe, write'] } });
});

test('a reader that reads nothing: past 4 MiB waiting, lines are dropped and counted instead of queued', () => {
  const { code, report } = run('stuck', 1500, 5000);
  expect(code).toBe(0);
  expect(report.written + report.dropped).toBe(1500);
  // Each line is about 4.5 KiB (the argument is cut at 4096 characters): about 930 fit in 4 MiB.
  expect(report.written).toBeLessThan(1100);
  expect(report.dropped).toBeGreaterThan(400);
  expect(report.errors).toHaveLength(1);
  expect(report.errors[0]).toStartWith("the audit log's reader (standard output) is not keeping up: ");
});
