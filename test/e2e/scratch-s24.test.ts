import { expect, test } from 'bun:test';
import { writeFileSync, chownSync } from 'node:fs';
import { callTool, waitFor } from '../helpers/server.ts';
import { ALICE, BOB, startTwoClientServer, UNPRIVILEGED } from '../helpers/two-clients.ts';
for (const uid of [undefined, UNPRIVILEGED]) test('scratch ' + uid, async () => {
  const s = await startTwoClientServer({ prefix: 'hide-s24-', uid, prepare: (dir, ws) => { writeFileSync(ws + '/shared.txt', 'needle here\n'); return [ws + '/shared.txt']; } });
  const call = (key: string, tool: string, args: Record<string, unknown>) => callTool(`${s.server.url}/mcp`, tool, args, { 'X-API-Key': key });
  try {
    const py = `import fcntl, os, signal, sys, time
signal.signal(signal.SIGIO, signal.SIG_IGN)
fd = os.open('shared.txt', os.O_RDONLY)
try:
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
    print('write lease', flush=True)
except OSError as e:
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK); print('read lease', e, flush=True)
    except OSError as e2:
        print('no lease', e, e2, flush=True)
time.sleep(60)
`;
    const p = await call(ALICE, 'process_start', { command: 'python3', arguments: ['-c', py] });
    await waitFor(async () => (await call(ALICE, 'process_read', { processId: p.processId })).output.includes('lease'), 5000);
    console.log((await call(ALICE, 'process_read', { processId: p.processId })).output);
    let t = Date.now();
    console.log('read_file', JSON.stringify(await call(BOB, 'read_file', { path: 'shared.txt' })).slice(0, 200), Date.now() - t);
    t = Date.now();
    console.log('write_file', JSON.stringify(await call(BOB, 'write_file', { path: 'shared.txt', content: 'x' })).slice(0, 200), Date.now() - t);
    t = Date.now();
    console.log('search', JSON.stringify(await call(BOB, 'search_files', { pattern: 'needle' })).slice(0, 300), Date.now() - t);
    t = Date.now();
    console.log('cat', JSON.stringify(await call(BOB, 'shell_execute', { command: 'cat', arguments: ['shared.txt'], timeoutSeconds: 5 })).slice(0, 300), Date.now() - t);
    t = Date.now();
    console.log('health', (await fetch(s.server.url + '/health')).status, Date.now() - t);
    await call(ALICE, 'process_kill', { processId: p.processId, signal: 'SIGKILL' });
  } finally {
    await s.stop();
  }
}, 120000);
