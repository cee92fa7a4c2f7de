/**
 * The audit log's filesystem fills up (a small tmpfs mounted as the audit
 * directory, filled from outside the server). With HIDE_AUDIT_ON_ERROR=refuse
 * every tool call is refused before it runs — 503 / -31503 with Retry-After
 * and data.reason `audit`, on HTTP and stdio alike — and /ready says why;
 * once the room is back the writer finds out by itself (no call needs to come
 * first), writes an `audit_recovered` line naming what was lost, and calls run
 * again. With `continue` (the default) calls go on unaudited, as before.
 * Mounting needs root: skipped otherwise.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEvent } from '../../src/audit/event.ts';
import { Redactor } from '../../src/audit/redact.ts';
import { verifyFiles } from '../../src/audit/verify.ts';
import { AuditWriter } from '../../src/audit/writer.ts';
import { rpc, startServer, type TestServer } from '../helpers/server.ts';
import { startStdio } from '../helpers/stdio.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';
import { toolCallEvent } from '../helpers/audit-event.ts';

/** A 256 KiB tmpfs at `dir` (`inodes` of them when given), or null where mounting is refused. */
function mountTmpfs(dir: string, inodes?: number): (() => void) | null {
  const options = `size=256k,mode=0700${inodes === undefined ? '' : `,nr_inodes=${inodes}`}`;
  const mount = Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', options, 'hide-audit-full', dir]);
  if (mount.exitCode !== 0) return null;
  return () => void Bun.spawnSync(['umount', '-l', dir]);
}

const mountable =
  process.getuid?.() === 0 &&
  (() => {
    const probe = join(tempDir('hide-audit-full-probe-'), 'm');
    mkdirSync(probe);
    const unmount = mountTmpfs(probe);
    unmount?.();
    return unmount !== null;
  })();

/** Takes every byte left on the filesystem of `dir` with one file (dd stops at ENOSPC). */
function fill(dir: string): string {
  const filler = join(dir, 'filler');
  const dd = Bun.spawnSync(['dd', 'if=/dev/zero', `of=${filler}`, 'bs=4096']);
  expect(dd.stderr.toString()).toContain('No space left on device');
  return filler;
}

interface AuditLine {
  event_type: string;
  tool_name: string | null;
  correlation_id: string | null;
  result: Record<string, unknown> | null;
}

function auditLines(file: string): AuditLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .flatMap((l) => {
      // A line the full disk cut short (the writer keeps what fit, and goes on after it once there is room).
      try {
        return [JSON.parse(l) as AuditLine];
      } catch {
        return [];
      }
    });
}

const touch = (marker: string, correlationId?: string) => ({
  name: 'shell_execute',
  arguments: { command: 'touch', arguments: [marker], ...(correlationId ? { correlationId } : {}) },
});

let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanups.reverse()) await step();
  cleanups = [];
});

/** A mounted tmpfs for the audit log, unmounted after the test (after the server using it stopped). */
function auditMount(inodes?: number): { dir: string; file: string } {
  const dir = join(tempDir('hide-audit-full-'), 'audit');
  mkdirSync(dir);
  const unmount = mountTmpfs(dir, inodes);
  if (unmount === null) throw new Error('tmpfs mount failed');
  cleanups.push(unmount);
  return { dir, file: join(dir, 'audit.jsonl') };
}

async function serve(file: string, onError: 'refuse' | 'continue'): Promise<TestServer> {
  const server = await startServer({ HIDE_AUDIT_LOG_FILE: file, HIDE_AUDIT_ON_ERROR: onError, HIDE_SANDBOX: 'off' });
  cleanups.push(() => server.stop());
  // As `hide serve` does once it listens.
  server.rt.ops.lifecycle.markReady();
  return server;
}

/** Calls until one is refused (a line of a call that passed is what first meets the full disk); at most `max`. */
async function callUntilRefused(url: string, workspace: string, max: number) {
  for (let i = 0; i < max; i++) {
    const r = await rpc(url, 'tools/call', touch(join(workspace, `pass-${i}`)));
    if (r.status !== 200) return r;
    expect(r.body.result.isError).toBe(false);
  }
  throw new Error(`no call refused in ${max} calls`);
}

describe.skipIf(!mountable)('the audit log cannot be written', () => {
  test('refuse: calls are refused before they run and /ready is 503 while the disk is full; both come back by themselves once it is freed', async () => {
    const log = auditMount();
    const server = await serve(log.file, 'refuse');
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);
    const filler = fill(log.dir);

    const first = await callUntilRefused(server.mcpUrl, server.workspace, 200);
    expect([first.status, first.body.error.code, first.body.error.data]).toEqual([503, -31503, { retryAfterSeconds: 1, reason: 'audit' }]);
    // Nothing runs while refused.
    const marker = join(server.workspace, 'marker');
    const refused = await rpc(server.mcpUrl, 'tools/call', touch(marker));
    expect({
      status: refused.status,
      retryAfter: refused.headers.get('retry-after'),
      error: refused.body.error,
      ran: existsSync(marker),
    }).toEqual({
      status: 503,
      retryAfter: '1',
      error: { code: -31503, message: 'Service unavailable: audit log not writable', data: { retryAfterSeconds: 1, reason: 'audit' } },
      ran: false,
    });
    const ready = await fetch(`${server.url}/ready`);
    expect([ready.status, await ready.json()]).toEqual([503, { status: 'not_ready', phase: 'ready', reasons: ['audit log not writable'] }]);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/hide_rate_limit_refusals_total\{reason="audit"\} [1-9]/);
    expect(metrics).toMatch(/hide_audit_lines_dropped_total [1-9]/);

    // The room comes back; no call is made until /ready says so: the writer tried the disk on its own.
    rmSync(filler);
    await waitFor(async () => (await fetch(`${server.url}/ready`)).status === 200, 10_000, '/ready 200 again');
    const again = await rpc(server.mcpUrl, 'tools/call', touch(marker, 'after-the-outage'));
    expect([again.status, again.body.result?.isError, existsSync(marker)]).toEqual([200, false, true]);
    await waitFor(() => auditLines(log.file).some((l) => l.correlation_id === 'after-the-outage'), 5000, 'the call after the outage audited');
    const recovered = auditLines(log.file).filter((l) => l.event_type === 'audit_recovered');
    expect(recovered.length).toBe(1);
    expect(recovered[0]!.result).toEqual({ linesLost: expect.any(Number), failingSince: expect.any(String) });
    expect(recovered[0]!.result!.linesLost as number).toBeGreaterThanOrEqual(1);
  });

  test('refuse over stdio: the same refusal (-31503, data.reason audit) and nothing run, then calls pass once the disk is freed', async () => {
    const log = auditMount();
    const ws = join(tempDir('hide-audit-full-stdio-'), 'ws');
    mkdirSync(ws);
    const peer = await startStdio(ws, { HIDE_AUDIT_LOG_FILE: log.file, HIDE_AUDIT_ON_ERROR: 'refuse', HIDE_SANDBOX: 'off' });
    cleanups.push(() => peer.stop());
    const call = async (id: string, params: unknown) => {
      peer.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params }));
      return JSON.parse(await peer.line(`{"jsonrpc":"2.0","id":"${id}"`, 0, `the answer to ${id}`));
    };
    expect((await call('before', touch(join(ws, 'before')))).result.isError).toBe(false);
    const filler = fill(log.dir);
    let refusal: { error?: { code: number; message: string; data: unknown } } | null = null;
    for (let i = 0; i < 200 && refusal === null; i++) {
      const answer = await call(`fill-${i}`, touch(join(ws, `pass-${i}`)));
      if (answer.error) refusal = answer;
    }
    expect(refusal?.error).toEqual({ code: -31503, message: 'Service unavailable: audit log not writable', data: { retryAfterSeconds: 1, reason: 'audit' } });
    const marker = join(ws, 'marker');
    expect((await call('refused', touch(marker))).error?.code).toBe(-31503);
    expect(existsSync(marker)).toBe(false);

    rmSync(filler);
    // No call until the writer's own retry has written its line.
    await waitFor(() => auditLines(log.file).some((l) => l.event_type === 'audit_recovered'), 10_000, 'the audit_recovered line');
    const again = await call('after', touch(marker));
    expect([again.error, again.result?.isError, existsSync(marker)]).toEqual([undefined, false, true]);
  });

  test('continue (the default): calls go on unaudited while the disk is full, /ready stays 200, and lines are written again once it is freed', async () => {
    const log = auditMount();
    const server = await serve(log.file, 'continue');
    const filler = fill(log.dir);
    // Enough calls that their lines meet the full disk: every one runs.
    for (let i = 0; i < 40; i++) {
      const marker = join(server.workspace, `run-${i}`);
      const r = await rpc(server.mcpUrl, 'tools/call', touch(marker));
      expect([r.status, r.body.result?.isError, existsSync(marker)]).toEqual([200, false, true]);
    }
    await waitFor(async () => /hide_audit_lines_dropped_total [1-9]/.test(await (await fetch(`${server.url}/metrics`)).text()), 5000, 'lines dropped');
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);

    rmSync(filler);
    const r = await rpc(server.mcpUrl, 'tools/call', touch(join(server.workspace, 'after'), 'after-the-outage'));
    expect(r.status).toBe(200);
    await waitFor(() => auditLines(log.file).some((l) => l.correlation_id === 'after-the-outage'), 5000, 'the call after the outage audited');
    expect(auditLines(log.file).some((l) => l.event_type === 'audit_recovered')).toBe(false);
  });

  test('refuse: a rotation that could not create its new file (no inode left) is opened again by the retry, not left closed until SIGHUP', async () => {
    const log = auditMount(16);
    const writer = new AuditWriter({ file: log.file, redactor: new Redactor([]), chain: true, maxBytes: 2048, retryMs: 50 });
    cleanups.push(() => writer.close());
    const event = (i: number): AuditEvent => ({
      event_type: 'tool_call',
      correlation_id: `rot-${i}`,
      client_id: 'alice',
      client_ip: '127.0.0.1',
      api_key_hash: null,
      user: null,
      tool_name: 'shell_execute',
      arguments: { command: 'echo', arguments: ['x'.repeat(200)] },
      result: { exitCode: 0 },
      error: null,
    });
    // Every inode left taken: the rotation can move the file away but not create the next one.
    const taken: string[] = [];
    for (let i = 0; ; i++) {
      const name = join(log.dir, `inode-${i}`);
      if (Bun.spawnSync(['touch', name]).exitCode !== 0) break;
      taken.push(name);
    }
    expect(taken.length).toBeGreaterThan(0);
    for (let i = 0; i < 20 && !writer.failing; i++) {
      writer.write(event(i));
      writer.flush();
    }
    expect(writer.failing).toBe(true);
    expect(existsSync(log.file)).toBe(false);
    for (const name of taken) rmSync(name);
    // No line is written meanwhile: the retry alone opens the file and recovers.
    await waitFor(() => !writer.failing, 5000, 'the writer recovering by itself');
    expect(auditLines(log.file).map((l) => l.event_type)).toEqual(['audit_recovered']);
  });

  test('continue: a rotation that could not create its new file is opened again by the next lines once there is room, not left closed until SIGHUP', () => {
    const log = auditMount(16);
    const writer = new AuditWriter({ file: log.file, redactor: new Redactor([]), chain: true, maxBytes: 2048 });
    cleanups.push(() => writer.close());
    const event = (i: number) => toolCallEvent(`rot-${i}`, { command: 'echo', arguments: ['x'.repeat(200)] });
    const taken: string[] = [];
    for (let i = 0; ; i++) {
      const name = join(log.dir, `inode-${i}`);
      if (Bun.spawnSync(['touch', name]).exitCode !== 0) break;
      taken.push(name);
    }
    let i = 0;
    for (; i < 20 && !writer.failing; i++) {
      writer.write(event(i));
      writer.flush();
    }
    expect([writer.failing, existsSync(log.file)]).toEqual([true, false]);
    for (const name of taken) rmSync(name);
    writer.write(event(++i));
    writer.flush();
    expect([writer.failing, auditLines(log.file).map((l) => l.correlation_id)]).toEqual([false, [`rot-${i}`]]);
  });

  for (const maxBytes of [0, 4096]) {
    test(`refuse: after an outage the chain verifies whole, the audit_recovered line chaining on from the last line on disk${maxBytes ? ', across a rotation' : ''}, and a line edited after it is still found`, async () => {
      const log = auditMount();
      const writer = new AuditWriter({ file: log.file, redactor: new Redactor([]), chain: true, maxBytes, retryMs: 50 });
      cleanups.push(() => writer.close());
      const event = (id: string): AuditEvent => toolCallEvent(id, { command: 'echo', arguments: ['x'.repeat(300)] });
      for (let i = 0; i < 5; i++) {
        writer.write(event(`before-${i}`));
        writer.flush();
      }
      const filler = fill(log.dir);
      // Lines of calls already running meet the full disk and are lost.
      for (let i = 0; i < 20 && !writer.failing; i++) {
        writer.write(event(`lost-${i}`));
        writer.flush();
      }
      expect(writer.failing).toBe(true);
      // One batch bigger than the file may grow: it rotates mid-batch, during the outage.
      for (let i = 0; i < 12; i++) writer.write(event(`lost-while-failing-${i}`));
      writer.flush();
      if (maxBytes) expect(writer.rotations).toBe(1);
      rmSync(filler);
      await waitFor(() => !writer.failing, 5000, 'the writer recovering by itself');
      for (let i = 0; i < 5; i++) {
        writer.write(event(`after-${i}`));
        writer.flush();
      }
      writer.close();

      const files = maxBytes ? [`${log.file}.1`, log.file].filter(existsSync) : [log.file];
      if (maxBytes) expect(files.length).toBe(2);
      const lines = files.flatMap(auditLines);
      expect(lines.map((l) => l.event_type)).toContain('audit_recovered');
      expect(lines.some((l) => l.correlation_id?.startsWith('lost-'))).toBe(false);
      expect(verifyFiles(files)).toMatchObject({ ok: true, lines: lines.length });
      // The outage does not end the check: an edit after it is named where it is.
      const holder = files.find((f) => readFileSync(f, 'utf8').includes('"after-3"'))!;
      writeFileSync(holder, readFileSync(holder, 'utf8').replace('"after-3"', '"after-X"'));
      const edited = verifyFiles(files);
      expect(edited.ok ? null : [edited.problem.kind, edited.problem.file]).toEqual(['edited', holder]);
    });
  }
});
